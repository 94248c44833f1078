"""Keras shape functions: reshape, transpose, expand, flatten, repeat, tile, pad, slice,
concatenate, stack, gather."""

from __future__ import annotations

import builtins
import math

import numpy as np

from polyback import config
from polyback._src import prims as P
from polyback._src.ir.dtypes import result_dtype
from polyback._src.ir.tensor import Tensor
from polyback._src.keras.ops import as_tensor, broadcast_to_shape, cast, operands, shape_operand
from polyback._src.prims.shape import index_spec


def _dims(x: Tensor, what: str) -> list:
    """The dims of ``x``: ints where known, ``K.shape(x)[k]`` where known only when fed."""
    if x.ndim is None:
        raise ValueError(f"K.{what} needs a known rank, got '{x.label}'")
    return [
        P.getitem(P.shape_of(x), index=index_spec((k,))) if d is None else d
        for k, d in enumerate(x.shape)
    ]


def reshape(x, shape) -> Tensor:
    """``x`` with a new shape: a tuple of ints (at most one -1) and scalar tensors such as
    ``K.shape(x)[0]``, or an int vector tensor computed from ``K.shape``."""
    static, value = shape_operand(shape, "reshape")
    if value is None:
        return P.reshape(as_tensor(x), shape=static)
    return P.reshape_to_value(as_tensor(x), value, static=static)


def transpose(x) -> Tensor:
    """Reverse the axes of ``x``."""
    x = as_tensor(x)
    if x.ndim is None:
        raise ValueError(f"K.transpose needs a known rank, got '{x.label}'")
    return P.transpose(x, perm=tuple(range(x.ndim - 1, -1, -1)))


def permute_dimensions(x, pattern) -> Tensor:
    """Reorder the axes of ``x``: ``pattern[k]`` is the input axis placed at position k."""
    return P.transpose(as_tensor(x), perm=tuple(int(p) for p in pattern))


def expand_dims(x, axis: int = -1) -> Tensor:
    """Insert an axis of size 1 at ``axis``."""
    return P.expand_dims(as_tensor(x), axis=axis)


def squeeze(x, axis: int) -> Tensor:
    """Remove the axis ``axis`` of size 1."""
    return P.squeeze(as_tensor(x), axis=axis)


def flatten(x) -> Tensor:
    """``x`` as one dimension."""
    return P.reshape(as_tensor(x), shape=(-1,))


def batch_flatten(x) -> Tensor:
    """``x`` as (batch, everything else); needs the non-batch dims to be known."""
    x = as_tensor(x)
    if x.shape is None or None in x.shape[1:]:
        raise ValueError(f"K.batch_flatten needs known non-batch dims, got '{x.label}' {x.type}")
    return P.reshape(x, shape=(-1, math.prod(x.shape[1:])))


def _count(n, what: str):
    """A repeat count: an int, or a scalar int tensor computed from shapes (``K.shape(x)[1]``)."""
    if isinstance(n, Tensor):
        if n.ndim != 0:
            raise ValueError(f"K.{what}: a count must be an int or a scalar, got '{n.label}'")
        return cast(n, "int32")
    return int(n)


def repeat_elements(x, rep, axis: int) -> Tensor:
    """Repeat each element of ``x`` ``rep`` times along ``axis`` (like ``np.repeat``)."""
    x = as_tensor(x)
    shape = _dims(x, "repeat_elements")
    axis = axis % len(shape)
    rep = _count(rep, "repeat_elements")
    expanded = P.expand_dims(x, axis=axis + 1)
    spread = (*shape[: axis + 1], rep, *shape[axis + 1 :])
    tiled = broadcast_to_shape(expanded, spread, "repeat_elements")
    shape[axis] = shape[axis] * rep
    return reshape(tiled, shape)


def repeat(x, n) -> Tensor:
    """Repeat a 2-D ``x`` (batch, dim) ``n`` times: (batch, n, dim)."""
    x = as_tensor(x)
    if x.ndim != 2:
        raise ValueError(f"K.repeat takes a 2-D tensor, got '{x.label}' {x.type}")
    batch, dim = _dims(x, "repeat")
    return broadcast_to_shape(P.expand_dims(x, axis=1), (batch, _count(n, "repeat"), dim), "repeat")


def tile(x, n) -> Tensor:
    """Tile ``x`` ``n[k]`` times along each axis k (like ``np.tile``); counts are ints or
    scalar tensors computed from shapes."""
    x = as_tensor(x)
    shape = _dims(x, "tile")
    single = isinstance(n, int) or (isinstance(n, Tensor) and n.ndim == 0)
    reps = [_count(r, "tile") for r in ([n] if single else n)]
    reps = [1] * (len(shape) - len(reps)) + reps
    shape = [1] * (len(reps) - len(shape)) + shape
    spread = reshape(x, [v for d in shape for v in (1, d)])
    tiled = broadcast_to_shape(spread, [v for r, d in zip(reps, shape) for v in (r, d)], "tile")
    return reshape(
        tiled, [d if isinstance(r, int) and r == 1 else r * d for r, d in zip(reps, shape)]
    )


def resize_images(
    x, height_factor: int, width_factor: int, data_format=None, interpolation: str = "nearest"
) -> Tensor:
    """Upsample the spatial axes of a 4-D tensor by integer factors (nearest neighbour)."""
    if interpolation != "nearest":
        raise NotImplementedError("K.resize_images supports interpolation='nearest' only")
    first = (data_format or config.image_data_format()) == "channels_first"
    rows, cols = (2, 3) if first else (1, 2)
    x = repeat_elements(x, height_factor, rows)
    return repeat_elements(x, width_factor, cols)


def resize_volumes(
    x, depth_factor: int, height_factor: int, width_factor: int, data_format=None
) -> Tensor:
    """Upsample the three spatial axes of a 5-D tensor by integer factors."""
    first = (data_format or config.image_data_format()) == "channels_first"
    axes = (2, 3, 4) if first else (1, 2, 3)
    for axis, factor in zip(axes, (depth_factor, height_factor, width_factor)):
        x = repeat_elements(x, factor, axis)
    return x


def reverse(x, axes) -> Tensor:
    """``x`` reversed along ``axes`` (an int or a list of ints)."""
    x = as_tensor(x)
    axes = [axes] if isinstance(axes, int) else list(axes)
    ndim = x.ndim
    if ndim is None:
        raise ValueError(f"K.reverse needs a known rank, got '{x.label}'")
    flipped = {a % ndim for a in axes}
    index = tuple(builtins.slice(None, None, -1 if k in flipped else None) for k in range(ndim))
    return P.getitem(x, index=index_spec(index))


def slice(x, start, size) -> Tensor:  # noqa: A001 - the Keras name
    """The block of ``x`` starting at ``start`` with ``size`` (-1: to the end)."""
    index = tuple(
        builtins.slice(int(b), None if int(n) == -1 else int(b) + int(n))
        for b, n in zip(start, size)
    )
    return P.getitem(as_tensor(x), index=index_spec(index))


def _promoted(tensors, what: str) -> list[Tensor]:
    """``tensors`` as tensors of their common dtype (promoted as NumPy does)."""
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"K.{what} takes a list of tensors, got {type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"K.{what} needs at least one tensor")
    tensors = [as_tensor(t) for t in tensors]
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = result_dtype(dtype, t.dtype)
    return [cast(t, dtype) for t in tensors]


def concatenate(tensors, axis: int = -1) -> Tensor:
    """Join a list of tensors along an existing ``axis``.

    As Keras 2.3, a negative axis counts from the end of the first tensor's rank, and becomes
    0 when that rank is unknown. Operands of different dtypes are promoted to a common one.
    """
    tensors = _promoted(tensors, "concatenate")
    if axis < 0:
        rank = tensors[0].ndim
        axis = axis % rank if rank else 0
    if len(tensors) == 1:
        return tensors[0]
    return P.concatenate(*tensors, axis=int(axis))


def stack(x, axis: int = 0) -> Tensor:
    """Join a list of tensors of one shape along a new ``axis`` (like ``np.stack``)."""
    tensors = _promoted(x, "stack")
    return P.concatenate(*(P.expand_dims(t, axis=int(axis)) for t in tensors), axis=int(axis))


def gather(reference, indices) -> Tensor:
    """The slices ``reference[i]`` for each integer ``i`` of ``indices``, stacked in the shape
    of ``indices``: shape ``indices.shape + reference.shape[1:]`` (``tf.gather``).

    Indices must lie in ``[0, len(reference))``; what an index outside gives depends on the
    engine (an error, a clamped row, a row of NaN). The gradient adds up over repeated indices.
    """
    reference, indices = as_tensor(reference), as_tensor(indices)
    if not indices.dtype.startswith(("int", "uint")):
        raise TypeError(f"K.gather needs integer indices, got '{indices.label}' {indices.type}")
    return P.take(reference, indices, axis=0)


def arange(start, stop=None, step=1, dtype: str = "int32") -> Tensor:
    """A constant range, like ``np.arange``."""
    values = np.arange(start, stop, step) if stop is not None else np.arange(start)
    return as_tensor(values.astype(dtype))


def one_hot(indices, num_classes: int) -> Tensor:
    """One-hot encoding of integer ``indices`` (floatx)."""
    return P.one_hot(cast(indices, "int32"), num_classes=int(num_classes), dtype=config.floatx())


def pad(x, paddings) -> Tensor:
    """Zero padding: ``paddings[k] = (before, after)`` for each axis of ``x``."""
    x = as_tensor(x)
    shape = x.shape
    if shape is None or len(paddings) != len(shape):
        raise ValueError(f"padding needs one (before, after) pair per axis of '{x.label}'")
    padded = [d if a == b == 0 else d + a + b for d, (a, b) in zip(_dims(x, "pad"), paddings)]
    zeros = broadcast_to_shape(as_tensor(0, x.dtype), padded, "pad")
    index = tuple(builtins.slice(a, -b if b else None) for a, b in paddings)
    return P.index_grad(x, zeros, index=index_spec(index))


def temporal_padding(x, padding=(1, 1)) -> Tensor:
    """Pad the middle axis of a 3-D tensor."""
    return pad(x, [(0, 0), tuple(padding), (0, 0)])


def spatial_2d_padding(x, padding=((1, 1), (1, 1)), data_format=None) -> Tensor:
    """Pad the two spatial axes of a 4-D tensor."""
    fmt = data_format or config.image_data_format()
    if fmt == "channels_first":
        return pad(x, [(0, 0), (0, 0), *map(tuple, padding)])
    return pad(x, [(0, 0), *map(tuple, padding), (0, 0)])


def spatial_3d_padding(x, padding=((1, 1), (1, 1), (1, 1)), data_format=None) -> Tensor:
    """Pad the three spatial axes of a 5-D tensor."""
    fmt = data_format or config.image_data_format()
    if fmt == "channels_first":
        return pad(x, [(0, 0), (0, 0), *map(tuple, padding)])
    return pad(x, [(0, 0), *map(tuple, padding), (0, 0)])


def batch_dot(x, y, axes=None) -> Tensor:
    """Batchwise dot product (Keras 2.3): sums ``axes[0]`` of x with ``axes[1]`` of y."""
    x, y = operands(x, y)
    if x.ndim is None or y.ndim is None:
        raise ValueError("K.batch_dot needs tensors of known rank")
    if isinstance(axes, int):
        axes = (axes, axes)
    if axes is None:
        axes = (x.ndim - 1, y.ndim - 1 if y.ndim == 2 else y.ndim - 2)
    ax, ay = axes[0] % x.ndim, axes[1] % y.ndim
    letters = "abcdefghijklmnopqrstuvw"
    xs = "z" + letters[: x.ndim - 1]
    ys = "z" + letters[x.ndim - 1 : x.ndim + y.ndim - 2]
    ys = ys[:ay] + xs[ax] + ys[ay + 1 :]
    out = "z" + "".join(c for k, c in enumerate(xs[1:], 1) if k != ax)
    out += "".join(c for k, c in enumerate(ys[1:], 1) if k != ay)
    result = P.einsum(x, y, spec=f"{xs},{ys}->{out}")
    return P.expand_dims(result, axis=1) if result.ndim == 1 else result


def l2_normalize(x, axis=None) -> Tensor:
    """``x / sqrt(max(sum(x**2, axis), 1e-12))``."""
    from polyback._src.keras.math import maximum, sqrt, sum

    x = as_tensor(x)
    return x / sqrt(maximum(sum(x * x, axis, keepdims=True), 1e-12))


def bias_add(x, bias, data_format=None) -> Tensor:
    """Add a bias vector (or tensor) to ``x``, along the channel axis."""
    x, bias = operands(x, bias)
    fmt = data_format or config.image_data_format()
    if fmt == "channels_first" and x.ndim is not None and x.ndim > 2 and bias.ndim == 1:
        bias = P.reshape(bias, shape=(bias.shape[0],) + (1,) * (x.ndim - 2))
    return x + bias
