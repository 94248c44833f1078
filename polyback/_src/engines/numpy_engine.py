"""The NumPy engine: the reference every other engine is checked against.

The specialised program runs as generated straight-line Python (``Engine.trace_function``), so a
call costs the arithmetic plus one Python call per node. Elementwise results are written into
dying operands, large sums run through einsum, selections against a zero (gradient masks) run
on the bits, branch-free, and a product with a tall transposed matrix runs in the layout BLAS is
fastest at (``_where``, ``_matmul``).
"""

from __future__ import annotations

import operator

import numpy as np

from polyback._src.engines.base import Engine
from polyback._src.prims.convolution import window_counts
from polyback._src.prims.debug import print_value
from polyback._src.prims.shape import to_index


def _sigmoid(x):
    # exp(-|x|) never overflows; the two branches meet at x = 0.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _softplus(x):
    return np.logaddexp(x.dtype.type(0), x)


def _clip(x, low, high):
    if x.dtype.kind in "iu":  # infinite bounds do not fit an integer type
        info = np.iinfo(x.dtype)
        low, high = max(low, info.min), min(high, info.max)
    return np.clip(x, x.dtype.type(low), x.dtype.type(high))


# Integer types of each item size: where() selects bits through them.
_BITS = {1: np.int8, 2: np.int16, 4: np.int32, 8: np.int64}
_BRANCH_FREE_SIZE = 4096  # below this, np.where's branch per element costs nothing worth saving


def _where(cond, x, y):
    """``np.where``; a selection between an array and a zero (a gradient's mask, as
    ``where(x > 0, g, 0)``) is done on the bits, branch-free: np.where mispredicts a branch per
    element on data-dependent masks (2.5 ms vs 0.4 ms for 556,902 float32 at 50%)."""
    if np.size(cond) < _BRANCH_FREE_SIZE or x.dtype != y.dtype or x.dtype.itemsize not in _BITS:
        return np.where(cond, x, y)
    zero_x, zero_y = _is_zero(x), _is_zero(y)
    if zero_x == zero_y:
        return np.where(cond, x, y)
    bits = _BITS[x.dtype.itemsize]
    mask = np.negative(cond.view(np.int8), dtype=bits)  # all ones where cond holds
    if zero_x:
        return np.bitwise_and(y.view(bits), np.invert(mask, out=mask)).view(y.dtype)
    return np.bitwise_and(x.view(bits), mask).view(x.dtype)


def _is_zero(x) -> bool:
    """Whether ``x`` is a scalar whose bits are all zero (+0.0, not -0.0)."""
    return x.ndim == 0 and not np.asarray(x).view(_BITS[x.dtype.itemsize])


def _matmul(a, b):
    """``np.matmul``; ``A.T @ B`` of a transposed view ``A.T`` taller than ``B`` is wide is
    computed as ``(B.T @ A).T``, the layout BLAS runs fastest (2.4 vs 3.6 ms for
    (93 x 61,878) @ (61,878 x 9), the Otto step's weight gradient)."""
    transposed = a.ndim == 2 and a.T.flags.c_contiguous and not a.flags.c_contiguous
    if transposed and b.ndim == 2 and a.shape[0] > b.shape[1]:
        return np.matmul(b.T, a.T).T
    return np.matmul(a, b)


def _getitem(x, index):
    return x[to_index(index)]


def _index_grad(g, x, index):
    out = np.zeros(x.shape, dtype=g.dtype)
    out[to_index(index)] = g
    return out


def _one_hot(indices, num_classes, dtype):
    return (np.expand_dims(indices, -1) == np.arange(num_classes)).astype(dtype)


def _concatenate(*xs, axis):
    return np.concatenate(xs, axis=axis)


def _take(x, indices, axis):
    return np.take(x, indices, axis=axis)


def _take_grad(g, x, indices, axis):
    out = np.zeros(x.shape, dtype=g.dtype)
    np.add.at(out, (slice(None),) * (axis % x.ndim) + (indices,), g)  # repeated indices add up
    return out


def _scan(ufunc):
    # dtype=: small integer types would widen to int64
    def scan(x, axis):
        return ufunc.accumulate(x, axis=axis, dtype=x.dtype)

    scan.__name__ = f"cum_{ufunc.__name__}"
    return scan


def _identity_print(x, message):
    print_value(message, x)
    return np.array(x, copy=True)  # a new array: no other node writes into it


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _sum(x, axis=None, keepdims=False):
    """Sum; over some axes of large arrays via einsum, whose SIMD kernels beat
    ``np.add.reduce`` several-fold on short or strided axes (both add each axis' elements in
    order); small arrays go to ``np.add.reduce``, which costs less to call."""
    if axis is None or not isinstance(x, np.ndarray) or x.dtype.kind not in "fiu" or x.size < 4096:
        return np.add.reduce(x, axis=axis, keepdims=keepdims, dtype=x.dtype)
    axes = {a % x.ndim for a in axis} if isinstance(axis, tuple) else {axis % x.ndim}
    letters = _LETTERS[: x.ndim]
    kept = "".join(c for k, c in enumerate(letters) if k not in axes)
    out = np.einsum(f"{letters}->{kept}", x)
    if keepdims:
        out = out.reshape([1 if k in axes else d for k, d in enumerate(x.shape)])
    return out


def _reduction(ufunc, dtype_of=lambda x: x.dtype):
    # ufunc.reduce skips the Python wrapper of np.sum and friends: cheaper on small arrays.
    # dtype= keeps small integer types from widening to int64.
    def reduce(x, axis=None, keepdims=False):
        return ufunc.reduce(x, axis=axis, keepdims=keepdims, dtype=dtype_of(x))

    reduce.__name__ = ufunc.__name__
    return reduce


# -- convolution and pooling (channels last; padding as static (before, after) pairs) ---------


def _padded(x, padding, fill=0.0):
    if not any(lo or hi for lo, hi in padding):
        return x
    return np.pad(x, ((0, 0), *padding, (0, 0)), constant_values=fill)


def _windows(x, window, strides, dilation):
    """A view ``(batch, *out, *channel_axes, *window)`` of the windows of ``x``'s spatial axes
    (axes 1 to len(window)), the first tap of each window at a multiple of the strides."""
    n = len(window)
    span = tuple(d * (k - 1) + 1 for k, d in zip(window, dilation))
    view = np.lib.stride_tricks.sliding_window_view(x, span, axis=tuple(range(1, n + 1)))
    every = (slice(None, None, s) for s in strides)
    taps = (slice(None, None, d) for d in dilation)
    return view[(slice(None), *every, *(slice(None),) * (x.ndim - n - 1), *taps)]


def _conv(x, kernel, strides, padding, dilation, groups):
    """One einsum over the windows: (batch, *out, group, in, *window) x (*window, in, group,
    out) -> (batch, *out, group, out)."""
    n = x.ndim - 2
    window, cin, cout = kernel.shape[:n], kernel.shape[-2], kernel.shape[-1]
    x = _padded(x, padding)
    x = x.reshape((*x.shape[:-1], groups, cin))
    view = _windows(x, window, strides, dilation)
    kernel = kernel.reshape((*window, cin, groups, cout // groups))
    out, taps = "pqr"[:n], "ijk"[:n]
    spec = f"z{out}gc{taps},{taps}cgo->z{out}go"
    y = np.einsum(spec, view, kernel, optimize=True)
    return y.reshape((*y.shape[:-2], cout))


def _pool(x, window, strides, padding, mode):
    n = len(window)
    view = _windows(_padded(x, padding, -np.inf if mode == "max" else 0.0), window, strides,
                    (1,) * n)  # fmt: skip
    axes = tuple(range(-n, 0))
    if mode == "max":
        return view.max(axis=axes)
    counts = window_counts(x.shape[1:-1], window, strides, padding, x.dtype.name)
    return view.sum(axis=axes) / counts


# Binary arithmetic lowers to Python's operators: the same NumPy ufuncs for arrays, and much
# cheaper than calling the ufunc on the NumPy scalars that reductions return.
LOWERINGS = {
    # elementwise
    "negative": operator.neg,
    "abs": np.abs,
    "sign": np.sign,
    "exp": np.exp,
    "log": np.log,
    "log1p": np.log1p,
    "sqrt": np.sqrt,
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "softplus": _softplus,
    "sin": np.sin,
    "cos": np.cos,
    "floor": np.floor,
    "ceil": np.ceil,
    "round": np.round,
    "logical_not": np.logical_not,
    "add": operator.add,
    "subtract": operator.sub,
    "multiply": operator.mul,
    "divide": operator.truediv,
    "power": operator.pow,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "mod": operator.mod,
    "floor_divide": operator.floordiv,
    "equal": np.equal,
    "not_equal": np.not_equal,
    "less": operator.lt,
    "less_equal": operator.le,
    "greater": operator.gt,
    "greater_equal": operator.ge,
    "logical_and": np.logical_and,
    "logical_or": np.logical_or,
    "where": _where,
    "cast": lambda x, dtype: np.asarray(x).astype(dtype),
    "clip": _clip,
    # reductions
    "sum": _sum,
    "prod": _reduction(np.multiply),
    "max": _reduction(np.maximum),
    "min": _reduction(np.minimum),
    "any": _reduction(np.logical_or, lambda x: bool),
    "all": _reduction(np.logical_and, lambda x: bool),
    "argmax": lambda x, axis: np.argmax(x, axis=axis),
    "argmin": lambda x, axis: np.argmin(x, axis=axis),
    # scans
    "cumsum": _scan(np.add),
    "cumprod": _scan(np.multiply),
    # shape
    "getitem": _getitem,
    "index_grad": _index_grad,
    "reshape": lambda x, shape: np.reshape(x, shape),
    "transpose": lambda x, perm: np.transpose(x, perm),
    "expand_dims": lambda x, axis: np.expand_dims(x, axis),
    "squeeze": lambda x, axis: np.squeeze(x, axis),
    "broadcast_to": lambda x, shape: np.broadcast_to(x, shape),
    "one_hot": _one_hot,
    "concatenate": _concatenate,
    "take": _take,
    "take_grad": _take_grad,
    # debugging
    "identity_print": _identity_print,
    # linear algebra
    "matmul": _matmul,
    "matrix_transpose": lambda x: np.swapaxes(x, -1, -2),
    "einsum": lambda x, y, spec: np.einsum(spec, x, y, optimize=True),
    # convolution and pooling
    "conv": _conv,
    "pool": _pool,
}


# Elementwise primitives whose ufunc can write into a dying input of the same shape and dtype,
# and the primitives whose results are fresh arrays (never views), safe to overwrite.
IN_PLACE = {
    name: getattr(np, name)
    for name in (
        "negative",
        "abs",
        "sign",
        "exp",
        "log",
        "log1p",
        "sqrt",
        "tanh",
        "sin",
        "cos",
        "add",
        "subtract",
        "multiply",
        "divide",
        "power",
        "maximum",
        "minimum",
    )
}
FRESH = {*IN_PLACE, "matmul", "sum", "prod", "max", "min", "where", "clip", "cast", "sigmoid"}
FRESH |= {"concatenate", "take", "take_grad", "cumsum", "cumprod"}


class NumpyEngine(Engine):
    name = "numpy"
    lowerings = LOWERINGS

    def call_expression(self, k, node, args, dying, env):
        ufunc = IN_PLACE.get(node.prim.name)
        out_type = node.output.type
        if ufunc is not None and out_type.shape:
            for j in dying:
                source = node.inputs[j]
                if source.node is not None and source.node.prim.name in FRESH:
                    if source.type == out_type:
                        env[f"u{k}"] = ufunc
                        return f"u{k}({', '.join(args)}, out={args[j]})"
        return super().call_expression(k, node, args, dying, env)

    def compile(self, program):
        return self.trace_function(program)

    def from_numpy(self, array, dtype):
        return np.asarray(array, dtype=dtype)

    def to_numpy(self, value):
        return np.asarray(value)


ENGINE_CLASS = NumpyEngine
