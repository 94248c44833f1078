"""Reductions over axes: sum, prod, max, min, argmax, argmin, any, all."""

from __future__ import annotations

import numpy as np

from polyback._src import prims as P
from polyback._src.ir.tensor import TensorType
from polyback._src.prims.base import Example, InferenceError, Primitive, sample
from polyback._src.prims.infer import normalize_axes, reduced_shape

__all__ = ["all", "any", "argmax", "argmin", "max", "min", "prod", "sum"]


def infer_reduce(x: TensorType, axis=None, keepdims=False) -> TensorType:
    if x.dtype == "bool":
        raise InferenceError("cannot reduce a bool tensor arithmetically; cast it first")
    axes = normalize_axes(axis, x.ndim)
    return TensorType(reduced_shape(x.shape, axes, keepdims), x.dtype)


def infer_logical_reduce(x: TensorType, axis=None, keepdims=False) -> TensorType:
    axes = normalize_axes(axis, x.ndim)
    return TensorType(reduced_shape(x.shape, axes, keepdims), "bool")


def infer_arg_reduce(x: TensorType, axis=-1) -> TensorType:
    if not isinstance(axis, int):
        raise InferenceError(f"axis must be one int, got {axis!r}")
    axes = normalize_axes(axis, x.ndim)
    return TensorType(reduced_shape(x.shape, axes, False), "int64")


def _vjp_sum(node, g):
    x = node.inputs[0]
    return (P.unreduce(g, x, **node.params),)


def _vjp_prod(node, g):
    x = node.inputs[0]
    out = P.unreduce(node.output, x, **node.params)
    return (P.multiply(P.unreduce(g, x, **node.params), P.divide(out, x)),)


def _vjp_extremum(node, g):
    """The gradient is shared equally by the elements that attain the extremum (as TensorFlow)."""
    x = node.inputs[0]
    params = node.params
    hit = P.cast(P.equal(x, P.unreduce(node.output, x, **params)), dtype=x.dtype)
    count = P.unreduce(P.sum(hit, **params), x, **params)
    return (P.divide(P.multiply(P.unreduce(g, x, **params), hit), count),)


def _examples(reference, grad=True):
    x = sample(3, 4, 5)
    return [
        Example([x], reference, {"axis": None, "keepdims": False}, grad),
        Example([x], reference, {"axis": (0, 2), "keepdims": False}, grad),
        Example([x], reference, {"axis": (1,), "keepdims": True}, grad),
    ]


def _np(name):
    fn = getattr(np, name)

    def reference(x, axis, keepdims):
        return fn(x, axis=axis, keepdims=keepdims)

    return reference


def _fold_sum(inputs, params, out_type):
    """``sum(-x)`` is computed as ``-sum(x)``: the negation touches fewer elements."""
    (x,) = inputs
    if x.node is not None and x.node.prim is P.negative:
        return P.negative(sum(x.node.inputs[0], **params))
    return None


sum = Primitive(  # noqa: A001
    "sum", infer_reduce, _vjp_sum, fold=_fold_sum, examples=_examples(_np("sum"))
)
prod = Primitive("prod", infer_reduce, _vjp_prod, examples=_examples(_np("prod")))
max = Primitive("max", infer_reduce, _vjp_extremum, examples=_examples(_np("max")))  # noqa: A001
min = Primitive("min", infer_reduce, _vjp_extremum, examples=_examples(_np("min")))  # noqa: A001
any = Primitive(  # noqa: A001
    "any", infer_logical_reduce, examples=[Example([sample(3, 4) > 1], _np("any"), {"axis": 1})]
)
all = Primitive(  # noqa: A001
    "all", infer_logical_reduce, examples=[Example([sample(3, 4) > -1], _np("all"), {"axis": 0})]
)
for _prim in (any, all):
    _prim.examples[0].params["keepdims"] = False
    _prim.examples[0].grad = False
argmax = Primitive(
    "argmax",
    infer_arg_reduce,
    examples=[Example([sample(3, 4)], lambda x, axis: np.argmax(x, axis), {"axis": 1}, False)],
)
argmin = Primitive(
    "argmin",
    infer_arg_reduce,
    examples=[Example([sample(3, 4)], lambda x, axis: np.argmin(x, axis), {"axis": 0}, False)],
)
