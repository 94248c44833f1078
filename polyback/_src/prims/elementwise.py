"""Elementwise primitives: unary math, broadcasting binary ops, comparisons, where, cast, clip."""

from __future__ import annotations

import numpy as np

from polyback._src import prims as P
from polyback._src.ir.dtypes import is_float, normalize_dtype
from polyback._src.ir.tensor import Constant, Tensor, TensorType
from polyback._src.prims.base import Example, InferenceError, Primitive, sample, scalar
from polyback._src.prims.infer import broadcast_shapes, require_float, same_dtype

__all__ = [
    "abs",
    "add",
    "cast",
    "ceil",
    "clip",
    "cos",
    "divide",
    "equal",
    "exp",
    "floor",
    "floor_divide",
    "greater",
    "greater_equal",
    "less",
    "less_equal",
    "log",
    "log1p",
    "logical_and",
    "logical_not",
    "logical_or",
    "maximum",
    "minimum",
    "mod",
    "multiply",
    "negative",
    "not_equal",
    "power",
    "round",
    "sigmoid",
    "sign",
    "sin",
    "softplus",
    "sqrt",
    "subtract",
    "tanh",
    "where",
]

# -- inference ---------------------------------------------------------------------------------


def same_type(x: TensorType, **_) -> TensorType:
    return x


def float_same_type(x: TensorType, **_) -> TensorType:
    require_float(x)
    return x


def bool_same_shape(x: TensorType, **_) -> TensorType:
    if x.dtype != "bool":
        raise InferenceError(f"needs a bool tensor, got {x.dtype}")
    return x


def broadcast_same_dtype(x: TensorType, y: TensorType) -> TensorType:
    return TensorType(broadcast_shapes(x.shape, y.shape), same_dtype(x, y))


def broadcast_numeric(x: TensorType, y: TensorType) -> TensorType:
    out = broadcast_same_dtype(x, y)
    if out.dtype == "bool":
        raise InferenceError("needs numeric tensors, got bool; cast them first")
    return out


def broadcast_float(x: TensorType, y: TensorType) -> TensorType:
    out = broadcast_same_dtype(x, y)
    require_float(out)
    return out


def broadcast_to_bool(x: TensorType, y: TensorType) -> TensorType:
    same_dtype(x, y)
    return TensorType(broadcast_shapes(x.shape, y.shape), "bool")


def broadcast_bools(x: TensorType, y: TensorType) -> TensorType:
    if x.dtype != "bool" or y.dtype != "bool":
        raise InferenceError(f"needs bool tensors, got {x.dtype} and {y.dtype}")
    return TensorType(broadcast_shapes(x.shape, y.shape), "bool")


def infer_where(cond: TensorType, x: TensorType, y: TensorType) -> TensorType:
    if cond.dtype != "bool":
        raise InferenceError(f"the condition must be bool, got {cond.dtype}")
    return TensorType(broadcast_shapes(cond.shape, x.shape, y.shape), same_dtype(x, y))


def infer_cast(x: TensorType, dtype: str) -> TensorType:
    return TensorType(x.shape, normalize_dtype(dtype))


def infer_clip(x: TensorType, low: float, high: float) -> TensorType:
    if x.dtype == "bool":
        raise InferenceError("cannot clip a bool tensor; cast it first")
    if low > high:
        raise InferenceError(f"clip bounds are reversed: low={low} > high={high}")
    return x


# -- gradient helpers -------------------------------------------------------------------------


def zeros_like(x: Tensor) -> Tensor:
    return P.broadcast_like(scalar(0, x.dtype), x)


def one(x: Tensor) -> Tensor:
    return scalar(1, x.dtype)


# -- folds: drop broadcasts that the consumer performs anyway ----------------------------------


def _strip_broadcasts(prim: Primitive):
    """A fold that feeds ``broadcast_to(a)`` inputs as ``a`` when the result shape is unchanged."""

    def fold(inputs, params, out_type):
        stripped = list(inputs)
        changed = False
        for k, t in enumerate(inputs):
            if t.node is not None and t.node.prim is P.broadcast_to:
                trial = [*stripped[:k], t.node.inputs[0], *stripped[k + 1 :]]
                if broadcast_shapes(*(s.shape for s in trial)) == out_type.shape:
                    stripped, changed = trial, True
        return prim(*stripped, **params) if changed else None

    fold.__name__ = f"strip_broadcasts_{prim.name}"
    return fold


def _is_constant(t: Tensor, value: float) -> bool:
    return isinstance(t, Constant) and t.value.size == 1 and float(t.value.reshape(())) == value


def _identity_fold(neutral: float, commutative: bool, strip):
    """Fold ``x op neutral`` (and ``neutral op x``) to ``x`` when shape and dtype allow."""

    def fold(inputs, params, out_type):
        x, y = inputs
        if _is_constant(y, neutral) and x.type == out_type:
            return x
        if commutative and _is_constant(x, neutral) and y.type == out_type:
            return y
        return strip(inputs, params, out_type)

    return fold


# -- unary ------------------------------------------------------------------------------------


def _unary(name, vjp, infer=float_same_type, low=-2.0, high=2.0, reference=None, grad=True):
    ref = reference or getattr(np, name)
    example = Example([sample(3, 4, low=low, high=high)], ref, grad=grad and vjp is not None)
    prim = Primitive(name, infer, vjp, examples=[example])
    prim.fold = _apply_before_broadcast(prim)
    return prim


def _apply_before_broadcast(prim: Primitive):
    """A fold computing ``f(broadcast_to(a))`` as ``broadcast_to(f(a))``: fewer elements."""

    def fold(inputs, params, out_type):
        (x,) = inputs
        if x.node is not None and x.node.prim is P.broadcast_to:
            return P.broadcast_to(prim(x.node.inputs[0], **params), **x.node.params)
        return None

    fold.__name__ = f"apply_before_broadcast_{prim.name}"
    return fold


def _vjp_negative(node, g):
    return (negative(g),)


def _vjp_abs(node, g):
    return (multiply(g, sign(node.inputs[0])),)


def _vjp_sign(node, g):
    return (zeros_like(node.inputs[0]),)


def _vjp_exp(node, g):
    return (multiply(g, node.output),)


def _vjp_log(node, g):
    return (divide(g, node.inputs[0]),)


def _vjp_log1p(node, g):
    x = node.inputs[0]
    return (divide(g, add(one(x), x)),)


def _vjp_sqrt(node, g):
    out = node.output
    return (divide(g, multiply(scalar(2, out.dtype), out)),)


def _vjp_tanh(node, g):
    out = node.output
    return (multiply(g, subtract(one(out), multiply(out, out))),)


def _vjp_sigmoid(node, g):
    out = node.output
    return (multiply(g, multiply(out, subtract(one(out), out))),)


def _vjp_softplus(node, g):
    return (multiply(g, sigmoid(node.inputs[0])),)


def _vjp_sin(node, g):
    return (multiply(g, cos(node.inputs[0])),)


def _vjp_cos(node, g):
    return (negative(multiply(g, sin(node.inputs[0]))),)


def _np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _np_softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


negative = _unary("negative", _vjp_negative, same_type)
abs = _unary("abs", _vjp_abs, same_type)  # noqa: A001 - the Keras name
sign = _unary("sign", _vjp_sign, same_type, grad=False)
exp = _unary("exp", _vjp_exp)
log = _unary("log", _vjp_log, low=0.2, high=3.0)
log1p = _unary("log1p", _vjp_log1p, low=-0.5, high=3.0)
sqrt = _unary("sqrt", _vjp_sqrt, low=0.2, high=3.0)
tanh = _unary("tanh", _vjp_tanh)
sigmoid = _unary("sigmoid", _vjp_sigmoid, reference=_np_sigmoid)
softplus = _unary("softplus", _vjp_softplus, reference=_np_softplus)
sin = _unary("sin", _vjp_sin)
cos = _unary("cos", _vjp_cos)
floor = _unary("floor", None)
ceil = _unary("ceil", None)
round = _unary("round", None, reference=np.round)  # noqa: A001 - half to even, as TensorFlow
logical_not = Primitive(
    "logical_not",
    bool_same_shape,
    examples=[Example([sample(3, 4) > 0], np.logical_not, grad=False)],
)

# -- binary -----------------------------------------------------------------------------------


def _binary(name, infer, vjp, neutral=None, commutative=False, y_low=-2.0, y_high=2.0, ref=None):
    inputs = [sample(3, 4, low=0.5 if name == "power" else -2.0), sample(4, low=y_low, high=y_high)]
    example = Example(inputs, ref or getattr(np, name), grad=vjp is not None)
    prim = Primitive(name, infer, vjp, examples=[example])
    strip = _strip_broadcasts(prim)
    prim.fold = strip if neutral is None else _identity_fold(neutral, commutative, strip)
    return prim


def _vjp_add(node, g):
    x, y = node.inputs
    return (P.sum_like(g, x), P.sum_like(g, y))


def _vjp_subtract(node, g):
    x, y = node.inputs
    return (P.sum_like(g, x), P.sum_like(negative(g), y))


def _vjp_multiply(node, g):
    x, y = node.inputs
    return (P.sum_like(multiply(g, y), x), P.sum_like(multiply(g, x), y))


def _vjp_divide(node, g):
    x, y = node.inputs
    gx = divide(g, y)
    return (P.sum_like(gx, x), P.sum_like(negative(multiply(gx, node.output)), y))


def _vjp_power(node, g):
    x, y = node.inputs
    gx = multiply(g, multiply(y, power(x, subtract(y, one(y)))))
    positive = greater(x, zeros_like(x))
    safe_log = log(where(positive, x, P.broadcast_like(one(x), x)))
    gy = multiply(g, multiply(node.output, where(positive, safe_log, zeros_like(x))))
    return (P.sum_like(gx, x), P.sum_like(gy, y))


def _vjp_maximum(node, g):
    x, y = node.inputs
    take_x = greater_equal(x, y)
    zero = zeros_like(g)
    return (P.sum_like(where(take_x, g, zero), x), P.sum_like(where(take_x, zero, g), y))


def _vjp_minimum(node, g):
    x, y = node.inputs
    take_x = less_equal(x, y)
    zero = zeros_like(g)
    return (P.sum_like(where(take_x, g, zero), x), P.sum_like(where(take_x, zero, g), y))


def _vjp_mod(node, g):
    x, y = node.inputs
    return (P.sum_like(g, x), P.sum_like(negative(multiply(g, floor_divide(x, y))), y))


add = _binary("add", broadcast_same_dtype, _vjp_add, neutral=0, commutative=True)
subtract = _binary("subtract", broadcast_numeric, _vjp_subtract, neutral=0)
multiply = _binary("multiply", broadcast_same_dtype, _vjp_multiply, neutral=1, commutative=True)
divide = _binary("divide", broadcast_float, _vjp_divide, neutral=1, y_low=0.5, y_high=2.0)
power = _binary("power", broadcast_numeric, _vjp_power, neutral=1)
maximum = _binary("maximum", broadcast_same_dtype, _vjp_maximum)
minimum = _binary("minimum", broadcast_same_dtype, _vjp_minimum)
mod = _binary("mod", broadcast_numeric, _vjp_mod, y_low=0.5, y_high=2.0)
floor_divide = _binary("floor_divide", broadcast_numeric, None, y_low=0.5, y_high=2.0)
equal = _binary("equal", broadcast_to_bool, None)
not_equal = _binary("not_equal", broadcast_to_bool, None)
less = _binary("less", broadcast_to_bool, None)
less_equal = _binary("less_equal", broadcast_to_bool, None)
greater = _binary("greater", broadcast_to_bool, None)
greater_equal = _binary("greater_equal", broadcast_to_bool, None)
logical_and = _binary("logical_and", broadcast_bools, None)
logical_or = _binary("logical_or", broadcast_bools, None)
for _prim in (logical_and, logical_or):
    _bools = [sample(3, 4) > 0, sample(4) > 0]
    _prim.examples = [Example(_bools, getattr(np, _prim.name), grad=False)]


# -- where, cast, clip ------------------------------------------------------------------------


def _vjp_where(node, g):
    cond, x, y = node.inputs
    zero = zeros_like(g)
    return (None, P.sum_like(where(cond, g, zero), x), P.sum_like(where(cond, zero, g), y))


def _vjp_cast(node, g):
    x = node.inputs[0]
    if is_float(x.dtype) and is_float(node.output.dtype):
        return (cast(g, dtype=x.dtype),)
    return (None,)


def _vjp_clip(node, g):
    # Inside [low, high] (bounds included, as TensorFlow) exactly where clipping kept x.
    x = node.inputs[0]
    return (where(equal(x, node.output), g, zeros_like(g)),)


def _np_clip(x, low, high):
    return np.clip(x, low, high)


def _fold_cast(inputs, params, out_type):
    return inputs[0] if inputs[0].type == out_type else None


where = Primitive(
    "where",
    infer_where,
    _vjp_where,
    examples=[Example([sample(3, 4) > 0, sample(3, 4), sample(4)], np.where)],
)
where.fold = _strip_broadcasts(where)
cast = Primitive(
    "cast",
    infer_cast,
    _vjp_cast,
    fold=_fold_cast,
    examples=[
        Example([sample(3, 4)], lambda x, dtype: x.astype(dtype), {"dtype": "float32"}, False),
        Example([sample(3, 4) * 3], lambda x, dtype: x.astype(dtype), {"dtype": "int32"}, False),
    ],
)
clip = Primitive(
    "clip",
    infer_clip,
    _vjp_clip,
    examples=[Example([sample(3, 4)], _np_clip, {"low": -1.0, "high": 0.5})],
)
