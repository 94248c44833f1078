"""Keras math: reductions and elementwise functions."""

from __future__ import annotations

import math as _math

from polyback import config
from polyback._src import prims as P
from polyback._src.ir.dtypes import is_float
from polyback._src.ir.tensor import Tensor
from polyback._src.keras.ops import as_tensor, cast, maximum, minimum, operands


def _reduce(prim, x, axis, keepdims) -> Tensor:
    x = as_tensor(x)
    if isinstance(axis, list):
        axis = tuple(axis)
    return prim(x, axis=axis, keepdims=bool(keepdims))


def sum(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001 - the Keras name
    """Sum over ``axis`` (an int, a tuple, or None for all)."""
    x = as_tensor(x)
    return _reduce(P.sum, cast(x, "int32") if x.dtype == "bool" else x, axis, keepdims)


def prod(x, axis=None, keepdims: bool = False) -> Tensor:
    """Product over ``axis``."""
    return _reduce(P.prod, x, axis, keepdims)


def max(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Maximum over ``axis``."""
    return _reduce(P.max, x, axis, keepdims)


def min(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Minimum over ``axis``."""
    return _reduce(P.min, x, axis, keepdims)


def cumsum(x, axis: int = 0) -> Tensor:
    """Cumulative sum along ``axis``, in the dtype of ``x``."""
    return P.cumsum(as_tensor(x), axis=int(axis))


def cumprod(x, axis: int = 0) -> Tensor:
    """Cumulative product along ``axis``, in the dtype of ``x``.

    Its gradient is TensorFlow's, ``reverse_cumsum(g * cumprod(x)) / x``: not defined where an
    element of ``x`` is zero (docs/semantics.md).
    """
    return P.cumprod(as_tensor(x), axis=int(axis))


def mean(x, axis=None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis``; integer and bool tensors give floatx."""
    x = as_tensor(x)
    if not is_float(x.dtype):
        x = cast(x, config.floatx())
    axis = tuple(axis) if isinstance(axis, list) else axis
    total = P.sum(x, axis=axis, keepdims=bool(keepdims))
    return P.divide(total, P.dim_size(x, axis=axis, dtype=x.dtype))


def var(x, axis=None, keepdims: bool = False) -> Tensor:
    """Variance over ``axis``."""
    x = as_tensor(x)
    centered = x - mean(x, axis, keepdims=True)
    return mean(centered * centered, axis, keepdims)


def std(x, axis=None, keepdims: bool = False) -> Tensor:
    """Standard deviation over ``axis``."""
    return sqrt(var(x, axis, keepdims))


def any(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Logical OR over ``axis``."""
    return _reduce(P.any, cast(x, "bool"), axis, keepdims)


def all(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Logical AND over ``axis``."""
    return _reduce(P.all, cast(x, "bool"), axis, keepdims)


def argmax(x, axis: int = -1) -> Tensor:
    """Index of the maximum along ``axis`` (int64)."""
    return P.argmax(as_tensor(x), axis=axis)


def argmin(x, axis: int = -1) -> Tensor:
    """Index of the minimum along ``axis`` (int64)."""
    return P.argmin(as_tensor(x), axis=axis)


def logsumexp(x, axis=None, keepdims: bool = False) -> Tensor:
    """``log(sum(exp(x)))``, computed stably."""
    x = as_tensor(x)
    top = P.stop_gradient(max(x, axis, keepdims=True))
    out = log(sum(exp(x - top), axis, keepdims=True)) + top
    return out if keepdims else _squeeze_reduced(out, x, axis)


def _squeeze_reduced(out: Tensor, x: Tensor, axis) -> Tensor:
    if axis is None:
        return P.reshape(out, shape=())
    return sum(out, axis, keepdims=False)  # summing size-1 axes drops them


def _float(x) -> Tensor:
    x = as_tensor(x)
    return x if is_float(x.dtype) else cast(x, config.floatx())


def square(x) -> Tensor:
    """Elementwise square."""
    x = as_tensor(x)
    return P.multiply(x, x)


def sqrt(x) -> Tensor:
    """Elementwise square root; negative inputs are clipped to 0 first (as Keras did)."""
    return P.sqrt(P.clip(_float(x), low=0.0, high=_math.inf))


def exp(x) -> Tensor:
    """Elementwise exponential."""
    return P.exp(_float(x))


def log(x) -> Tensor:
    """Elementwise natural logarithm."""
    return P.log(_float(x))


def log1p(x) -> Tensor:
    return P.log1p(_float(x))


def sign(x) -> Tensor:
    """Elementwise sign."""
    return P.sign(as_tensor(x))


def round(x) -> Tensor:  # noqa: A001
    """Elementwise rounding, half to even."""
    return P.round(_float(x))


def floor(x) -> Tensor:
    return P.floor(_float(x))


def ceil(x) -> Tensor:
    return P.ceil(_float(x))


def sin(x) -> Tensor:
    """Elementwise sine."""
    return P.sin(_float(x))


def cos(x) -> Tensor:
    """Elementwise cosine."""
    return P.cos(_float(x))


def clip(x, min_value, max_value) -> Tensor:
    """Elementwise clipping to [min_value, max_value] (None means unbounded)."""
    x = as_tensor(x)
    if isinstance(min_value, Tensor) or isinstance(max_value, Tensor):
        if min_value is not None:
            x = maximum(x, min_value)
        return x if max_value is None else minimum(x, max_value)
    low = -_math.inf if min_value is None else float(min_value)
    high = _math.inf if max_value is None else float(max_value)
    high = high if high >= low else low  # Keras: max_value < min_value clips to min_value
    if not is_float(x.dtype):
        x, _ = operands(x, low)
    return P.clip(x, low=low, high=high)


__all__ = [
    "all",
    "any",
    "argmax",
    "argmin",
    "ceil",
    "clip",
    "cos",
    "cumprod",
    "cumsum",
    "exp",
    "floor",
    "log",
    "log1p",
    "logsumexp",
    "max",
    "mean",
    "min",
    "prod",
    "round",
    "sign",
    "sin",
    "sqrt",
    "square",
    "std",
    "sum",
    "var",
]
