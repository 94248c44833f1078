"""The PyTorch engine.

Device: arrays live on ``DEVICE``, the default accelerator (``cuda`` when
``torch.cuda.is_available()``, else the CPU). Inputs, constants and Variable values become
tensors there (``from_numpy``), every lowering creates its results beside its operands, and
``to_numpy`` copies back to the host only when a value leaves polyback. On the CPU, NumPy
arrays and tensors share memory both ways (no copies), so polyback never writes into a tensor
it did not create.

Execution: the specialised program runs eagerly as generated straight-line Python, one torch
call per node. No tensor requires grad (polyback differentiates its own graph), so torch
records no autograd history. Two things are settled when a program is compiled rather than
on each call:
- lowerings with params are *bound*: their ``bind`` attribute takes the operands' shapes and
  dtypes (as meta tensors) and returns the torch call with everything precomputed (reduction
  axes, index keys, clip bounds...);
- elementwise nodes write into the memory of an operand that dies with them, when polyback
  owns that memory and no view of it is still to be read (``reuse_plan``).

Two lowerings pick the fastest form on the CPU at run time: selections against a zero
(gradient masks) run on the bits, branch-free, and a product with a tall transposed matrix
runs in the layout BLAS is fastest at (``_where``, ``_matmul``).

``torch.compile`` is not used: compiling the Otto step takes 10-35 s, which only long runs would
win back, and on small programs its guards make a call slower than eager execution.
"""

from __future__ import annotations

import functools
import operator
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from polyback._src.engines.base import Engine
from polyback._src.ir.dtypes import DTYPES
from polyback._src.ir.tensor import Tensor
from polyback._src.prims.convolution import window_counts
from polyback._src.prims.debug import print_value
from polyback._src.prims.shape import to_index
from polyback._src.specialize import Program

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
TORCH_DTYPES = {name: getattr(torch, name) for name in DTYPES}


def _host_tensor(array: np.ndarray) -> torch.Tensor:
    """``array`` as a CPU tensor sharing its memory where torch allows it.

    Read-only arrays are shared too (silencing torch's warning about them: polyback does not
    write into them); arrays with negative strides are copied.
    """
    try:
        if array.flags.writeable:
            return torch.from_numpy(array)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return torch.from_numpy(array)
    except ValueError:  # negative strides
        return torch.from_numpy(array.copy())


def _tensor(array: np.ndarray) -> torch.Tensor:
    """``array`` as a tensor on ``DEVICE``."""
    tensor = _host_tensor(array)
    return tensor if DEVICE.type == "cpu" else tensor.to(DEVICE)


def _device(x: torch.Tensor) -> torch.device:
    """Where results computed from ``x`` live (``DEVICE`` when ``x`` is a meta tensor)."""
    return DEVICE if x.is_meta else x.device


def _meta(t: Tensor) -> torch.Tensor:
    """A meta tensor (shape and dtype, no data) standing for ``t`` when binding a lowering."""
    return torch.empty(t.shape, dtype=TORCH_DTYPES[t.dtype], device="meta")


def bound(bind: Callable[..., Callable]) -> Callable[..., torch.Tensor]:
    """The lowering ``(*arrays, **params)`` computing ``bind(*arrays, **params)(*arrays)``.

    ``bind`` stays attached: the engine calls it once per node with meta tensors.
    """

    def lowering(*arrays, **params):
        return bind(*arrays, **params)(*arrays)

    lowering.__name__ = bind.__name__.removeprefix("_bind_")
    lowering.bind = bind
    return lowering


# -- elementwise ---------------------------------------------------------------------------------


def _nan_preserving_sign(x):
    return torch.where(torch.isnan(x), x, torch.sign(x))


def _bind_sign(x):
    # torch.sign(nan) is 0; NumPy keeps the NaN
    return _nan_preserving_sign if x.is_floating_point() else torch.sign


def _bind_softplus(x):
    zero = torch.zeros((), dtype=x.dtype, device=_device(x))
    return functools.partial(torch.logaddexp, other=zero)


def _bind_cast(x, dtype):
    # copy=True: a fresh tensor even where the cast changes nothing
    return functools.partial(torch.Tensor.to, dtype=TORCH_DTYPES[dtype], copy=True)


# Integer types of each item size: where() selects bits through them.
_BITS = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
_BRANCH_FREE_SIZE = 4096  # below this, a branch per element costs nothing worth saving


def _is_zero(x: torch.Tensor) -> bool:
    """Whether ``x`` is a scalar whose bits are all zero (+0.0, not -0.0)."""
    return x.dim() == 0 and not x.view(_BITS[x.itemsize]).item()


def _where(cond, x, y, out=None):
    """``torch.where``; on the CPU, a selection between a tensor and a zero (a gradient's mask,
    as ``where(x > 0, g, 0)``) is done on the bits, branch-free: torch.where mispredicts a
    branch per element on data-dependent masks (1.26 vs 0.31 ms, 556,902 float32 at 50%)."""
    if (
        cond.numel() >= _BRANCH_FREE_SIZE
        and cond.device.type == "cpu"
        and x.dtype == y.dtype
        and x.itemsize in _BITS
    ):
        zero_x, zero_y = _is_zero(x), _is_zero(y)
        if zero_x != zero_y:
            bits = _BITS[x.itemsize]
            mask = cond.to(bits).neg_()  # a new tensor, all ones where cond holds
            kept = y if zero_x else x
            if zero_x:
                mask.bitwise_not_()
            if out is None:
                return torch.bitwise_and(kept.view(bits), mask).view(x.dtype)
            torch.bitwise_and(kept.view(bits), mask, out=out.view(bits))
            return out
    return torch.where(cond, x, y, out=out)


def _matmul(a, b):
    """``torch.matmul``; ``A.T @ B`` of a transposed view ``A.T`` taller than ``B`` is wide is
    computed as ``(B.T @ A).T``, the layout BLAS runs fastest (1.4 vs 3.5 ms for
    (93 x 61,878) @ (61,878 x 9), the Otto step's weight gradient)."""
    transposed = a.dim() == 2 and a.mT.is_contiguous() and not a.is_contiguous()
    if transposed and b.dim() == 2 and a.shape[0] > b.shape[1]:
        return torch.matmul(b.mT, a.mT).mT
    return torch.matmul(a, b)


def _integer_division(fn):
    """``fn`` (floor division or modulo), giving 0 for an integer division by zero as NumPy
    does, where torch raises."""

    def bind(x, y):
        if x.is_floating_point():
            return fn

        def by_nonzero(x, y):
            zero = y == 0
            return torch.where(zero, 0, fn(x, torch.where(zero, 1, y)))

        return by_nonzero

    bind.__name__ = fn.__name__
    return bound(bind)


def _clamp_bound(value: float, dtype: torch.dtype) -> float | int | None:
    """A clip bound as clamp takes it: None when infinite; for an integer dtype, brought into
    its range and truncated (as NumPy converts it)."""
    if dtype.is_floating_point:
        return None if value in (float("inf"), float("-inf")) else value
    info = torch.iinfo(dtype)
    return int(min(max(value, info.min), info.max))


def _bind_clip(x, low, high):
    low, high = _clamp_bound(low, x.dtype), _clamp_bound(high, x.dtype)
    if low is None and high is None:
        return torch.clone
    return functools.partial(torch.clamp, min=low, max=high)


# -- reductions ----------------------------------------------------------------------------------


def _exact_dtype(x) -> dict:
    # torch sums and multiplies small integers into int64; polyback keeps the input dtype
    return {} if x.is_floating_point() else {"dtype": x.dtype}


def _bind_sum(x, axis=None, keepdims=False):
    if axis == ():
        return torch.clone
    return functools.partial(torch.sum, dim=axis, keepdim=keepdims, **_exact_dtype(x))


def _bind_prod(x, axis=None, keepdims=False):
    prod = functools.partial(torch.prod, **_exact_dtype(x))
    if axis is None:
        kept = (1,) * x.dim()

        def prod_all(x):
            out = prod(x)
            return out.reshape(kept) if keepdims else out

        return prod_all
    axes = sorted({a % x.dim() for a in ((axis,) if isinstance(axis, int) else axis)})[::-1]
    if not axes:
        return torch.clone

    def prod_axes(x):
        for a in axes:  # torch.prod takes one axis at a time; the last first
            x = prod(x, dim=a, keepdim=keepdims)
        return x

    return prod_axes


def _extremum(fn):
    def bind(x, axis=None, keepdims=False):
        if axis == ():
            return torch.clone
        return functools.partial(fn, dim=() if axis is None else axis, keepdim=keepdims)

    bind.__name__ = fn.__name__.removeprefix("a")
    return bound(bind)


def _logical(fn):
    def bind(x, axis=None, keepdims=False):
        if axis == ():
            reduce = torch.clone
        else:
            reduce = functools.partial(fn, dim=axis, keepdim=keepdims)
        if x.dtype is torch.bool:
            return reduce

        def reduce_truth(x):  # torch.any of uint8 gives uint8
            return reduce(x != 0)

        return reduce_truth

    bind.__name__ = fn.__name__
    return bound(bind)


def _arg(fn):
    def bind(x, axis):
        reduce = functools.partial(fn, dim=axis)
        if x.dtype is not torch.bool:
            return reduce

        def reduce_bytes(x):  # not implemented for bool
            return reduce(x.to(torch.uint8))

        return reduce_bytes

    bind.__name__ = fn.__name__
    return bound(bind)


# -- shape ---------------------------------------------------------------------------------------


def _torch_index(index: tuple, shape: tuple[int, ...]) -> tuple[tuple, tuple[int, ...]]:
    """The index spec as torch takes it (no negative steps), and the result axes to flip."""
    items = to_index(index)
    consuming = sum(item is not None and item is not Ellipsis for item in items)
    key, flips = [], []
    dim = out_axis = 0
    for item in items:
        if item is Ellipsis:
            filled = len(shape) - consuming
            key.extend([slice(None)] * filled)
            dim, out_axis = dim + filled, out_axis + filled
            continue
        if isinstance(item, slice) and item.step is not None and item.step < 0:
            picked = range(*item.indices(shape[dim]))
            item = slice(picked[-1], picked[0] + 1, -picked.step) if picked else slice(0, 0)
            flips.append(out_axis)
        key.append(item)
        dim += item is not None
        out_axis += not isinstance(item, int)
    return tuple(key), tuple(flips)


def _bind_getitem(x, index):
    key, flips = _torch_index(index, tuple(x.shape))
    if not flips:
        return operator.itemgetter(key)

    def getitem_flipped(x):
        return x[key].flip(flips)

    return getitem_flipped


def _bind_index_grad(g, x, index):
    key, flips = _torch_index(index, tuple(x.shape))
    shape = tuple(x.shape)

    def index_grad(g, x):
        out = g.new_zeros(shape)
        out[key] = g.flip(flips) if flips else g
        return out

    return index_grad


def _bind_reshape(x, shape):
    return functools.partial(torch.reshape, shape=shape)


def _bind_transpose(x, perm):
    return functools.partial(torch.permute, dims=perm)


def _bind_expand_dims(x, axis):
    return functools.partial(torch.unsqueeze, dim=axis)


def _bind_squeeze(x, axis):
    return functools.partial(torch.squeeze, dim=axis)


def _bind_broadcast_to(x, shape):
    return functools.partial(torch.broadcast_to, size=shape)


def _bind_one_hot(indices, num_classes, dtype):
    # out-of-range indices give rows of zeros, as in NumPy (F.one_hot would raise)
    classes = torch.arange(num_classes, device=_device(indices))
    to_dtype = TORCH_DTYPES[dtype]

    def one_hot(indices):
        return (indices.unsqueeze(-1) == classes).to(to_dtype)

    return one_hot


def _bind_concatenate(*xs, axis):
    def concatenate(*xs):
        return torch.cat(xs, dim=axis)

    return concatenate


def _bind_take(x, indices, axis):
    axis %= x.dim()
    shape = (*x.shape[:axis], *indices.shape, *x.shape[axis + 1 :])

    def take(x, indices):
        # index_select takes a vector of int64 indices
        return x.index_select(axis, indices.reshape(-1).long()).reshape(shape)

    return take


def _bind_take_grad(g, x, indices, axis):
    axis %= x.dim()
    shape = tuple(x.shape)
    rows = (*shape[:axis], -1, *shape[axis + 1 :])

    def take_grad(g, x, indices):
        out = g.new_zeros(shape)  # index_add_ adds up repeated indices
        return out.index_add_(axis, indices.reshape(-1).long(), g.reshape(rows))

    return take_grad


# -- scans ---------------------------------------------------------------------------------------


def _scan(fn):
    def bind(x, axis):
        # dtype=: torch scans small integers into int64; polyback keeps the input dtype
        return functools.partial(fn, dim=axis, dtype=x.dtype)

    bind.__name__ = fn.__name__
    return bound(bind)


# -- debugging -----------------------------------------------------------------------------------


def _identity_print(x, message):
    print_value(message, x.numpy(force=True))
    return x.clone()  # a new tensor: no other node writes into it


# -- linear algebra ------------------------------------------------------------------------------


def _bind_einsum(x, y, spec):
    return functools.partial(torch.einsum, spec)


# -- convolution and pooling (channels last; padding as static (before, after) pairs) ------------
# torch takes channels first and pads both sides alike: operands are permuted (a view: NHWC data
# is torch's channels_last memory format) and padded explicitly where the pairs differ.


def _layouts(n: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Axis permutations channels last -> channels first, and back."""
    return (0, n + 1, *range(1, n + 1)), (0, *range(2, n + 2), 1)


def _flat_pads(padding) -> list[int]:
    """(before, after) pairs as F.pad takes them: the last axis first."""
    return [p for pair in reversed(padding) for p in pair]


def _bind_conv(x, kernel, strides, padding, dilation, groups):
    n = len(strides)
    conv = (F.conv1d, F.conv2d, F.conv3d)[n - 1]
    first, last = _layouts(n)
    kernel_axes = (n + 1, n, *range(n))  # (*window, in, out) -> (out, in, *window)
    if all(lo == hi for lo, hi in padding):
        symmetric = [lo for lo, _ in padding]
        pads = None
    else:
        symmetric, pads = 0, _flat_pads(padding)

    def conv_channels_last(x, kernel):
        x = x.permute(first)
        if pads is not None:
            x = F.pad(x, pads)
        y = conv(x, kernel.permute(kernel_axes), None, strides, symmetric, dilation, groups)
        return y.permute(last)

    return conv_channels_last


def _bind_pool(x, window, strides, padding, mode):
    n = len(window)
    first, last = _layouts(n)
    pads = _flat_pads(padding) if any(lo or hi for lo, hi in padding) else None
    if mode == "max":
        pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[n - 1]
        fill = -float("inf")
        scale = None
    else:
        pool = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[n - 1]
        fill = 0.0
        counts = window_counts(tuple(x.shape[1:-1]), window, strides, padding, "float64")
        scale = torch.as_tensor(np.prod(window) / counts).to(x.dtype).to(_device(x))

    def pool_channels_last(x):
        x = x.permute(first)
        if pads is not None:
            x = F.pad(x, pads, value=fill)
        y = pool(x, window, strides).permute(last)
        return y if scale is None or pads is None else y * scale

    return pool_channels_last


LOWERINGS: dict[str, Callable[..., Any]] = {
    # elementwise
    "negative": torch.neg,
    "abs": torch.abs,
    "sign": bound(_bind_sign),
    "exp": torch.exp,
    "log": torch.log,
    "log1p": torch.log1p,
    "sqrt": torch.sqrt,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softplus": bound(_bind_softplus),
    "sin": torch.sin,
    "cos": torch.cos,
    "floor": torch.floor,
    "ceil": torch.ceil,
    "round": torch.round,  # half to even
    "logical_not": torch.logical_not,
    "add": torch.add,
    "subtract": torch.sub,
    "multiply": torch.mul,
    "divide": torch.div,
    "power": torch.pow,
    "maximum": torch.maximum,
    "minimum": torch.minimum,
    "mod": _integer_division(torch.remainder),  # sign of the divisor
    "floor_divide": _integer_division(torch.floor_divide),
    "equal": torch.eq,
    "not_equal": torch.ne,
    "less": torch.lt,
    "less_equal": torch.le,
    "greater": torch.gt,
    "greater_equal": torch.ge,
    "logical_and": torch.logical_and,
    "logical_or": torch.logical_or,
    "where": _where,
    "cast": bound(_bind_cast),
    "clip": bound(_bind_clip),
    # reductions
    "sum": bound(_bind_sum),
    "prod": bound(_bind_prod),
    "max": _extremum(torch.amax),
    "min": _extremum(torch.amin),
    "any": _logical(torch.any),
    "all": _logical(torch.all),
    "argmax": _arg(torch.argmax),
    "argmin": _arg(torch.argmin),
    # scans
    "cumsum": _scan(torch.cumsum),
    "cumprod": _scan(torch.cumprod),
    # shape
    "getitem": bound(_bind_getitem),
    "index_grad": bound(_bind_index_grad),
    "reshape": bound(_bind_reshape),
    "transpose": bound(_bind_transpose),
    "expand_dims": bound(_bind_expand_dims),
    "squeeze": bound(_bind_squeeze),
    "broadcast_to": bound(_bind_broadcast_to),
    "one_hot": bound(_bind_one_hot),
    "concatenate": bound(_bind_concatenate),
    "take": bound(_bind_take),
    "take_grad": bound(_bind_take_grad),
    # debugging
    "identity_print": _identity_print,
    # linear algebra
    "matmul": _matmul,
    "matrix_transpose": functools.partial(torch.transpose, dim0=-2, dim1=-1),
    "einsum": bound(_bind_einsum),
    # convolution and pooling
    "conv": bound(_bind_conv),
    "pool": bound(_bind_pool),
}

# Elementwise primitives whose torch function can write into a dying operand (``out=``), the
# primitives whose results are fresh tensors that polyback owns, and those giving views.
IN_PLACE = {
    name: LOWERINGS[name]
    for name in (
        "negative", "abs", "exp", "log", "log1p", "sqrt", "tanh", "sigmoid", "sin", "cos",
        "floor", "ceil", "round", "logical_not", "add", "subtract", "multiply", "divide",
        "power", "maximum", "minimum", "logical_and", "logical_or", "where",
    )
}  # fmt: skip
FRESH = {
    *IN_PLACE, "sign", "softplus", "mod", "floor_divide", "cast", "clip", "sum", "prod", "max",
    "min", "matmul",
}  # fmt: skip
VIEWS = {
    "getitem", "reshape", "transpose", "expand_dims", "squeeze", "broadcast_to",
    "matrix_transpose",
}  # fmt: skip


def reuse_plan(program: Program) -> dict[int, int]:
    """Nodes that may write into an operand's memory: node index -> operand position.

    The operand must be a fresh result of the program, of the node's shape and dtype, read by
    no later node, neither directly nor through a view of it, nor be a program output.
    """
    nodes = program.nodes
    owner: dict[int, int] = {}  # id of a view -> id of the tensor owning its memory
    for node in nodes:
        if node.prim.name in VIEWS:
            source = id(node.inputs[0])
            owner[id(node.output)] = owner.get(source, source)
    last_read: dict[int, int] = {}  # id of a memory owner -> last node reading that memory
    for k, node in enumerate(nodes):
        for t in node.inputs:
            last_read[owner.get(id(t), id(t))] = k
    for t in program.outputs:
        last_read[owner.get(id(t), id(t))] = len(nodes)
    plan = {}
    for k, node in enumerate(nodes):
        if node.prim.name not in IN_PLACE:
            continue
        for j, t in enumerate(node.inputs):
            owned = t.node is not None and t.node.prim.name in FRESH
            if owned and t.type == node.output.type and last_read[id(t)] == k:
                # a view of t read by this very node would see t half overwritten
                if all(u is t or owner.get(id(u)) != id(t) for u in node.inputs):
                    plan[k] = j
                    break
    return plan


class TorchEngine(Engine):
    name = "torch"
    lowerings = LOWERINGS

    def __init__(self):
        self._plan: dict[int, int] = {}  # reuse plan of the program being traced

    def lower(self, node) -> Callable[..., Any]:
        bind = getattr(self.lowerings.get(node.prim.name), "bind", None)
        if bind is None:
            return super().lower(node)
        return bind(*map(_meta, node.inputs), **node.params)

    def call_expression(self, k: int, node, args: list[str], dying: list[int], env: dict) -> str:
        j = self._plan.get(k)
        if j is None:
            return super().call_expression(k, node, args, dying, env)
        env[f"u{k}"] = IN_PLACE[node.prim.name]
        return f"u{k}({', '.join(args)}, out={args[j]})"

    def compile(self, program: Program) -> Callable[..., list]:
        self._plan = reuse_plan(program)
        try:
            fn = self.trace_function(program)
        finally:
            self._plan = {}
        n = len(program.inputs)

        def run(*args):
            return fn(*[_tensor(a) for a in args[:n]], *args[n:])

        return run

    def from_numpy(self, array: np.ndarray, dtype: str) -> torch.Tensor:
        if dtype == "bfloat16":  # NumPy has no bfloat16 of its own
            return _tensor(np.asarray(array, dtype="float32")).to(torch.bfloat16)
        return _tensor(np.asarray(array, dtype=dtype))

    def to_numpy(self, value: torch.Tensor) -> np.ndarray:
        if value.dtype is torch.bfloat16:
            return value.float().numpy(force=True).astype("bfloat16")
        return value.numpy(force=True)


ENGINE_CLASS = TorchEngine
