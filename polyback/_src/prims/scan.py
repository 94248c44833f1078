"""Scans along one axis: cumulative sum and cumulative product."""

from __future__ import annotations

import numpy as np

from polyback._src import prims as P
from polyback._src.ir.tensor import Tensor, TensorType
from polyback._src.prims.base import Example, InferenceError, Primitive, sample
from polyback._src.prims.infer import normalize_axes

__all__ = ["cumprod", "cumsum"]


def infer_scan(x: TensorType, axis: int) -> TensorType:
    if x.dtype == "bool":
        raise InferenceError("cannot scan a bool tensor arithmetically; cast it first")
    if not isinstance(axis, int):
        raise InferenceError(f"axis must be one int, got {axis!r}")
    if x.shape is not None:
        if not x.shape:
            raise InferenceError("cannot scan a scalar")
        normalize_axes(axis, len(x.shape))
    return x


def _flip(x: Tensor, axis: int) -> Tensor:
    """``x`` reversed along ``axis`` (a getitem; works without knowing the rank)."""
    reverse = ("slice", None, None, -1)
    everything = ("slice", None, None, None)
    if axis >= 0:
        index = (everything,) * axis + (reverse,)
    else:
        index = (Ellipsis, reverse) + (everything,) * (-axis - 1)
    return P.getitem(x, index=index)


def reverse_cumsum(g: Tensor, axis: int) -> Tensor:
    """Sums from each position to the end of ``axis``: the transpose of ``cumsum``."""
    return _flip(cumsum(_flip(g, axis), axis=axis), axis)


def _vjp_cumsum(node, g):
    return (reverse_cumsum(g, node.params["axis"]),)


def _vjp_cumprod(node, g):
    """TensorFlow's rule: ``reverse_cumsum(g * out) / x``, which needs ``x`` without zeros."""
    (x,) = node.inputs
    return (P.divide(reverse_cumsum(P.multiply(g, node.output), node.params["axis"]), x),)


def _np(fn):
    def reference(x, axis):
        return fn(x, axis=axis, dtype=x.dtype)

    reference.__name__ = fn.__name__
    return reference


def _examples(fn, x):
    return [
        Example([x], _np(fn), {"axis": 1}),
        Example([x.reshape(2, 2, 3)], _np(fn), {"axis": 0}),
        Example([x.reshape(2, 2, 3)], _np(fn), {"axis": -1}),
        Example([np.arange(1, 13, dtype="int32").reshape(3, 4) % 5], _np(fn), {"axis": 0}, False),
    ]


_SIGNS = np.where(sample(3, 4, seed=1) > 0, 1.0, -1.0)

cumsum = Primitive("cumsum", infer_scan, _vjp_cumsum, examples=_examples(np.cumsum, sample(3, 4)))
# No zeros in the test input: the gradient divides by x.
cumprod = Primitive(
    "cumprod",
    infer_scan,
    _vjp_cumprod,
    examples=_examples(np.cumprod, _SIGNS * sample(3, 4, low=0.5, high=1.5)),
)
