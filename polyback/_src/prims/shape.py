"""Shape primitives: reshape, transpose, indexing, broadcasting, and the shape queries that
specialisation turns into constants."""

from __future__ import annotations

import math

import numpy as np

from polyback._src import prims as P
from polyback._src.ir.graph import Graph
from polyback._src.ir.tensor import Constant, Tensor, TensorType
from polyback._src.prims.base import Example, InferenceError, Primitive, sample
from polyback._src.prims.infer import broadcast_shapes, normalize_axes

__all__ = [
    "broadcast_like",
    "broadcast_to",
    "broadcast_to_value",
    "concat_part",
    "concatenate",
    "dim_size",
    "expand_dims",
    "getitem",
    "index_grad",
    "one_hot",
    "reshape",
    "reshape_like",
    "reshape_to_value",
    "shape_of",
    "squeeze",
    "stop_gradient",
    "sum_like",
    "take",
    "take_grad",
    "transpose",
    "unreduce",
]

# -- index specs ---------------------------------------------------------------------------
# An index is stored as a hashable tuple: ints, None (new axis), Ellipsis, and slices written as
# ("slice", start, stop, step). ``to_index`` turns it back into what NumPy-like engines take.


def index_spec(index) -> tuple:
    """Normalise a Python index (int, slice, None, Ellipsis, or a tuple of them)."""
    items = index if isinstance(index, tuple) else (index,)
    spec = []
    for item in items:
        if isinstance(item, slice):
            spec.append(("slice", item.start, item.stop, item.step))
        elif item is None or item is Ellipsis:
            spec.append(item)
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            spec.append(int(item))
        else:
            raise TypeError(
                f"polyback tensors take ints, slices, None and ... as indices, got {item!r}; "
                "integer-array and tensor indices are not supported"
            )
    if sum(item is Ellipsis for item in spec) > 1:
        raise IndexError("an index can only have one ellipsis ('...')")
    return tuple(spec)


def to_index(spec: tuple) -> tuple:
    """The Python index a spec stands for."""
    return tuple(slice(*item[1:]) if isinstance(item, tuple) else item for item in spec)


def infer_getitem(x: TensorType, index: tuple) -> TensorType:
    if x.shape is None:
        return TensorType(None, x.dtype)
    consuming = [i for i in index if i is not None and i is not Ellipsis]
    if len(consuming) > len(x.shape):
        raise InferenceError(f"too many indices ({len(consuming)}) for rank {len(x.shape)}")
    fill = [("slice", None, None, None)] * (len(x.shape) - len(consuming))
    if Ellipsis in index:
        k = index.index(Ellipsis)
        items = [*index[:k], *fill, *index[k + 1 :]]
    else:
        items = [*index, *fill]
    dims = iter(x.shape)
    out: list[int | None] = []
    for item in items:
        if item is None:
            out.append(1)
            continue
        d = next(dims)
        if isinstance(item, int):
            if d is not None and not -d <= item < d:
                raise InferenceError(f"index {item} is out of bounds for a dimension of size {d}")
        else:
            out.append(None if d is None else len(range(*slice(*item[1:]).indices(d))))
    return TensorType(tuple(out), x.dtype)


def _vjp_getitem(node, g):
    return (index_grad(g, node.inputs[0], **node.params),)


def _vjp_index_grad(node, g):
    return (getitem(g, **node.params), None)


def _ref_index_grad(g, x, index):  # the example's index is [1:3] on 4 rows
    return np.pad(g, ((1, 1), (0, 0)))


getitem = Primitive(
    "getitem",
    infer_getitem,
    _vjp_getitem,
    examples=[
        Example([sample(4, 5)], lambda x, index: x[1], {"index": index_spec(1)}),
        Example(
            [sample(4, 5, 3)],
            lambda x, index: x[1::2, None, :, -1],
            {"index": index_spec((slice(1, None, 2), None, Ellipsis, -1))},
        ),
    ],
)
index_grad = Primitive(
    "index_grad",
    lambda g, x, index: TensorType(x.shape, g.dtype),
    _vjp_index_grad,
    examples=[
        Example([sample(2, 5), sample(4, 5)], _ref_index_grad, {"index": index_spec(slice(1, 3))})
    ],
)

# -- reshape, transpose, expand_dims, squeeze -----------------------------------------------


def infer_reshape(x: TensorType, shape: tuple[int, ...]) -> TensorType:
    if sum(d == -1 for d in shape) > 1 or any(d < -1 for d in shape):
        raise InferenceError(f"invalid target shape {shape}: use at most one -1 and no other <0")
    if x.shape is None or not x.is_concrete:
        return TensorType(tuple(None if d == -1 else d for d in shape), x.dtype)
    size = math.prod(x.shape)
    known = math.prod(d for d in shape if d != -1)
    if -1 in shape:
        if known == 0 or size % known:
            raise InferenceError(f"cannot reshape {size} elements into {shape}")
        shape = tuple(size // known if d == -1 else d for d in shape)
    elif known != size:
        raise InferenceError(f"cannot reshape {size} elements into {shape}")
    return TensorType(tuple(shape), x.dtype)


def infer_transpose(x: TensorType, perm: tuple[int, ...]) -> TensorType:
    if x.shape is None:
        return TensorType((None,) * len(perm), x.dtype)
    if sorted(perm) != list(range(len(x.shape))):
        raise InferenceError(f"perm {perm} is not a permutation of the {len(x.shape)} axes")
    return TensorType(tuple(x.shape[p] for p in perm), x.dtype)


def infer_expand_dims(x: TensorType, axis: int) -> TensorType:
    if x.shape is None:
        return TensorType(None, x.dtype)
    n = len(x.shape) + 1
    if not -n <= axis < n:
        raise InferenceError(f"axis {axis} is out of range for rank {n}")
    shape = list(x.shape)
    shape.insert(axis % n, 1)
    return TensorType(tuple(shape), x.dtype)


def infer_squeeze(x: TensorType, axis: int) -> TensorType:
    if x.shape is None:
        return TensorType(None, x.dtype)
    (a,) = normalize_axes(axis, len(x.shape))
    if x.shape[a] not in (1, None):
        raise InferenceError(f"cannot squeeze axis {axis} of size {x.shape[a]}")
    return TensorType(x.shape[:a] + x.shape[a + 1 :], x.dtype)


def _vjp_reshape(node, g):
    return (reshape_like(g, node.inputs[0]),)


def _vjp_transpose(node, g):
    return (transpose(g, perm=tuple(int(k) for k in np.argsort(node.params["perm"]))),)


def _fold_reshape(inputs, params, out_type):
    x = inputs[0]
    if x.type == out_type:
        return x
    if x.node is not None and x.node.prim is broadcast_to:
        (source,) = x.node.inputs
        if math.prod(source.shape) == 1:  # a broadcast scalar: reshape the scalar instead
            return broadcast_to(reshape(source, shape=()), shape=out_type.shape)
    return None


reshape = Primitive(
    "reshape",
    infer_reshape,
    _vjp_reshape,
    fold=_fold_reshape,
    examples=[Example([sample(3, 4)], lambda x, shape: x.reshape(shape), {"shape": (2, -1, 3)})],
)
transpose = Primitive(
    "transpose",
    infer_transpose,
    _vjp_transpose,
    examples=[Example([sample(2, 3, 4)], lambda x, perm: x.transpose(perm), {"perm": (2, 0, 1)})],
)
expand_dims = Primitive(
    "expand_dims",
    infer_expand_dims,
    _vjp_reshape,
    examples=[Example([sample(3, 4)], lambda x, axis: np.expand_dims(x, axis), {"axis": 1})],
)
squeeze = Primitive(
    "squeeze",
    infer_squeeze,
    _vjp_reshape,
    examples=[Example([sample(3, 1, 4)], lambda x, axis: np.squeeze(x, axis), {"axis": 1})],
)

# -- static broadcasting and its transpose ---------------------------------------------------


def infer_broadcast_to(x: TensorType, shape: tuple[int, ...]) -> TensorType:
    if broadcast_shapes(x.shape, shape) != tuple(shape):
        raise InferenceError(f"cannot broadcast {x} to {shape}")
    return TensorType(tuple(shape), x.dtype)


def sum_to_axes(from_shape: tuple[int, ...], to_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The axes of ``from_shape`` to sum so that a reshape gives ``to_shape``."""
    lead = len(from_shape) - len(to_shape)
    kept = (k + lead for k, d in enumerate(to_shape) if d == 1 and from_shape[k + lead] != 1)
    return (*range(lead), *kept)


def _vjp_broadcast_to(node, g):
    return (sum_like(g, node.inputs[0]),)


broadcast_to = Primitive(
    "broadcast_to",
    infer_broadcast_to,
    _vjp_broadcast_to,
    examples=[Example([sample(3, 1)], np.broadcast_to, {"shape": (2, 3, 4)})],
)
# -- symbolic-only helpers: specialisation folds them into the primitives above ---------------


def _fold_sum_like(inputs, params, out_type):
    g = inputs[0]
    if g.type.shape == out_type.shape:
        return g
    summed = P.sum(g, axis=sum_to_axes(g.shape, out_type.shape), keepdims=False)
    return summed if summed.shape == out_type.shape else reshape(summed, shape=out_type.shape)


def _fold_broadcast_like(inputs, params, out_type):
    x = inputs[0]
    return x if x.type.shape == out_type.shape else broadcast_to(x, shape=out_type.shape)


def _fold_reshape_like(inputs, params, out_type):
    return reshape(inputs[0], shape=out_type.shape)


def _fold_unreduce(inputs, params, out_type):
    g, x = inputs
    axes = normalize_axes(params["axis"], x.ndim)
    axes = tuple(range(x.ndim)) if axes is None else axes
    kept = tuple(1 if k in axes else d for k, d in enumerate(x.shape))
    return broadcast_like(reshape(g, shape=kept), x)


def _fold_dim_size(inputs, params, out_type):
    shape = inputs[0].shape
    axes = normalize_axes(params["axis"], len(shape))
    count = math.prod(shape) if axes is None else math.prod(shape[a] for a in axes)
    return Constant(np.asarray(count, dtype=out_type.dtype))


def _fold_shape_of(inputs, params, out_type):
    return Constant(np.asarray(inputs[0].shape, dtype="int32"))


def infer_unreduce(g: TensorType, x: TensorType, axis=None, keepdims=False) -> TensorType:
    return TensorType(x.shape, g.dtype)


sum_like = Primitive(
    "sum_like",
    lambda g, ref: TensorType(ref.shape, g.dtype),
    lambda node, gg: (broadcast_like(gg, node.inputs[0]), None),
    fold=_fold_sum_like,
    symbolic_only=True,
)
broadcast_like = Primitive(
    "broadcast_like",
    lambda x, ref: TensorType(broadcast_shapes(x.shape, ref.shape), x.dtype),
    lambda node, g: (sum_like(g, node.inputs[0]), None),
    fold=_fold_broadcast_like,
    symbolic_only=True,
)
reshape_like = Primitive(
    "reshape_like",
    lambda g, ref: TensorType(ref.shape, g.dtype),
    lambda node, gg: (reshape_like(gg, node.inputs[0]), None),
    fold=_fold_reshape_like,
    symbolic_only=True,
)
unreduce = Primitive(
    "unreduce",
    infer_unreduce,
    lambda node, gg: (P.sum(gg, **node.params), None),
    fold=_fold_unreduce,
    symbolic_only=True,
)
dim_size = Primitive(
    "dim_size",
    lambda x, axis, dtype: TensorType((), dtype),
    fold=_fold_dim_size,
    symbolic_only=True,
)
shape_of = Primitive(
    "shape_of",
    lambda x: TensorType((x.ndim,), "int32"),
    fold=_fold_shape_of,
    symbolic_only=True,
)


# Shapes given as int32 vector tensors (``K.reshape(x, (K.shape(x)[0], 2, 2))``): their value is
# known once the fed shapes are, so specialisation folds these into reshape and broadcast_to.
# ``static`` holds the dims known when the graph is built (None where not), for inference.


def _shape_value(shape: Tensor, user: str) -> tuple[int, ...]:
    if not isinstance(shape, Constant):
        graph = Graph([shape])
        sources = [f"'{t.label}'" for t in (*graph.placeholders, *graph.variables)]
        raise InferenceError(
            f"{user}: a shape or count must follow from the shapes of the fed arrays (K.shape, "
            f"K.int_shape, Python ints), not from values; this one depends on the values of "
            f"{', '.join(sources) or shape.label}"
        )
    return tuple(int(d) for d in np.asarray(shape.value).reshape(-1))


def _infer_shape_operand(shape: TensorType, static: tuple) -> None:
    if shape.dtype not in ("int32", "int64") or shape.ndim != 1:
        raise InferenceError(f"a shape must be an int32 or int64 vector, got {shape}")
    if shape.shape[0] not in (None, len(static)):
        raise InferenceError(f"a shape of {len(static)} dims given as {shape}")


def _infer_reshape_to_value(x: TensorType, shape: TensorType, static: tuple) -> TensorType:
    _infer_shape_operand(shape, static)
    return TensorType(tuple(None if d is None or d < 0 else d for d in static), x.dtype)


def _infer_broadcast_to_value(x: TensorType, shape: TensorType, static: tuple) -> TensorType:
    _infer_shape_operand(shape, static)
    return TensorType(tuple(static), x.dtype)


def _fold_reshape_to_value(inputs, params, out_type):
    return reshape(inputs[0], shape=_shape_value(inputs[1], "reshape"))


def _fold_broadcast_to_value(inputs, params, out_type):
    return broadcast_to(inputs[0], shape=_shape_value(inputs[1], "broadcast"))


reshape_to_value = Primitive(
    "reshape_to_value",
    _infer_reshape_to_value,
    lambda node, g: (reshape_like(g, node.inputs[0]), None),
    fold=_fold_reshape_to_value,
    symbolic_only=True,
)
broadcast_to_value = Primitive(
    "broadcast_to_value",
    _infer_broadcast_to_value,
    lambda node, g: (sum_like(g, node.inputs[0]), None),
    fold=_fold_broadcast_to_value,
    symbolic_only=True,
)
stop_gradient = Primitive(
    "stop_gradient",
    lambda x: x,
    fold=lambda inputs, params, out_type: inputs[0],
    symbolic_only=True,
)

# -- one_hot ---------------------------------------------------------------------------------


def infer_one_hot(indices: TensorType, num_classes: int, dtype: str) -> TensorType:
    if not indices.dtype.startswith(("int", "uint")):
        raise InferenceError(f"indices must be integers, got {indices.dtype}")
    shape = None if indices.shape is None else (*indices.shape, num_classes)
    return TensorType(shape, dtype)


def _ref_one_hot(indices, num_classes, dtype):
    return np.eye(num_classes, dtype=dtype)[indices]


one_hot = Primitive(
    "one_hot",
    infer_one_hot,
    examples=[
        Example(
            [np.array([[0, 2], [1, 3]], dtype="int32")],
            _ref_one_hot,
            {"num_classes": 4, "dtype": "float32"},
            grad=False,
        )
    ],
)

# -- concatenate ------------------------------------------------------------------------------


def infer_concatenate(*xs: TensorType, axis: int) -> TensorType:
    if not xs:
        raise InferenceError("needs at least one tensor")
    dtypes = {x.dtype for x in xs}
    if len(dtypes) != 1:
        raise InferenceError(f"operands must share one dtype, got {sorted(dtypes)}")
    ranked = [x.shape for x in xs if x.shape is not None]
    if not ranked:
        return TensorType(None, xs[0].dtype)
    ndim = len(ranked[0])
    if any(len(s) != ndim for s in ranked):
        raise InferenceError("operands must have one rank")
    if len(ranked) < len(xs):
        return TensorType((None,) * ndim, xs[0].dtype)
    if ndim == 0:
        raise InferenceError("cannot concatenate scalars")
    (a,) = normalize_axes(axis, ndim)
    out: list[int | None] = []
    for k in range(ndim):
        dims = [s[k] for s in ranked]
        if k == a:
            out.append(None if None in dims else sum(dims))
            continue
        known = {d for d in dims if d is not None}
        if len(known) > 1:
            raise InferenceError(f"dimension {k} differs: {dims} (only axis {axis} may)")
        out.append(known.pop() if known else None)
    return TensorType(tuple(out), xs[0].dtype)


def _vjp_concatenate(node, g):
    xs = node.inputs
    return tuple(concat_part(g, *xs, part=k, **node.params) for k in range(len(xs)))


def _fold_concat_part(inputs, params, out_type):
    g, *xs = inputs
    ndim = len(out_type.shape)
    (axis,) = normalize_axes(params["axis"], ndim)
    start = sum(x.shape[axis] for x in xs[: params["part"]])
    stop = start + xs[params["part"]].shape[axis]
    index = (slice(None),) * axis + (slice(start, stop),)
    return getitem(g, index=index_spec(index))


def _vjp_concat_part(node, gg):
    """The part's gradient, placed back among zeros of the other parts' shapes."""
    g, *xs = node.inputs
    zero = Constant(np.asarray(0, dtype=gg.dtype))
    parts = [gg if k == node.params["part"] else broadcast_like(zero, x) for k, x in enumerate(xs)]
    return (concatenate(*parts, axis=node.params["axis"]), *(None for _ in xs))


def _ref_concatenate(*xs, axis):
    return np.concatenate(xs, axis=axis)


concatenate = Primitive(
    "concatenate",
    infer_concatenate,
    _vjp_concatenate,
    examples=[
        Example([sample(2, 3), sample(2, 4), sample(2, 1)], _ref_concatenate, {"axis": 1}),
        Example([sample(2, 3, 2), sample(1, 3, 2)], _ref_concatenate, {"axis": 0}),
        Example([sample(3, 2), sample(3, 2, seed=1)], _ref_concatenate, {"axis": -1}),
        Example(
            [np.arange(6, dtype="int32").reshape(2, 3), np.ones((1, 3), dtype="int32")],
            _ref_concatenate,
            {"axis": 0},
            grad=False,
        ),
    ],
)
#: The slice of a concatenation's gradient ``g`` belonging to operand ``part`` of ``xs``; a
#: getitem once shapes are known.
concat_part = Primitive(
    "concat_part",
    lambda g, *xs, axis, part: TensorType(xs[part].shape, g.dtype),
    _vjp_concat_part,
    fold=_fold_concat_part,
    symbolic_only=True,
)

# -- take (gather) and its transpose, a scatter-add -------------------------------------------


def _indices_dtype(indices: TensorType) -> None:
    if not indices.dtype.startswith(("int", "uint")):
        raise InferenceError(f"indices must be integers, got {indices.dtype}")


def infer_take(x: TensorType, indices: TensorType, axis: int) -> TensorType:
    _indices_dtype(indices)
    if x.shape is None or indices.shape is None:
        return TensorType(None, x.dtype)
    if not x.shape:
        raise InferenceError("cannot take from a scalar")
    (a,) = normalize_axes(axis, len(x.shape))
    return TensorType((*x.shape[:a], *indices.shape, *x.shape[a + 1 :]), x.dtype)


def infer_take_grad(g: TensorType, x: TensorType, indices: TensorType, axis: int) -> TensorType:
    _indices_dtype(indices)
    expected = infer_take(x, indices, axis).shape
    if g.shape is not None and expected is not None:
        pairs = list(zip(g.shape, expected))
        if len(g.shape) != len(expected) or any(a != b for a, b in pairs if None not in (a, b)):
            raise InferenceError(f"the gradient's shape {g.shape} is not {expected}")
    return TensorType(x.shape, g.dtype)


def _vjp_take(node, g):
    x, indices = node.inputs
    return (take_grad(g, x, indices, **node.params), None)


def _vjp_take_grad(node, gg):
    _, x, indices = node.inputs
    return (take(gg, indices, **node.params), None, None)


def _ref_take(x, indices, axis):
    return np.take(x, indices, axis=axis)


def _ref_take_grad(g, x, indices, axis):
    out = np.zeros(x.shape, dtype=g.dtype)
    np.add.at(out, (slice(None),) * (axis % x.ndim) + (indices,), g)
    return out


_INDICES = np.array([[0, 4], [2, 2]], dtype="int32")  # a repeated index: gradients add up

take = Primitive(
    "take",
    infer_take,
    _vjp_take,
    examples=[
        Example([sample(5, 3), _INDICES], _ref_take, {"axis": 0}),
        Example([sample(3, 4, 2), np.array([3, 0, 3], dtype="int64")], _ref_take, {"axis": 1}),
        Example([sample(4, 3), np.array(2, dtype="int32")], _ref_take, {"axis": 0}),
        Example([sample(2, 5), np.array([4, 1], dtype="int32")], _ref_take, {"axis": -1}),
    ],
)
take_grad = Primitive(
    "take_grad",
    infer_take_grad,
    _vjp_take_grad,
    examples=[
        Example([sample(2, 2, 3), sample(5, 3), _INDICES], _ref_take_grad, {"axis": 0}),
        Example(
            [sample(3, 3, 2), sample(3, 4, 2), np.array([3, 0, 3], dtype="int64")],
            _ref_take_grad,
            {"axis": 1},
        ),
    ],
)
