"""Keras activations and losses, with Keras 2.3 semantics (its TensorFlow backend)."""

from __future__ import annotations

import warnings
import weakref

from polyback import config
from polyback._src import prims as P
from polyback._src.ir.graph import Graph
from polyback._src.ir.tensor import Tensor
from polyback._src.keras.math import clip, log, max, sum
from polyback._src.keras.ops import as_tensor, cast, operands

# The logits behind each tensor made by ``softmax`` / ``sigmoid``: the losses use them, as Keras
# 2.3 did, so that a loss of ``softmax(z)`` is computed stably from ``z``.
_LOGITS: weakref.WeakKeyDictionary[Tensor, tuple[str, Tensor, int]] = weakref.WeakKeyDictionary()


def _float(x) -> Tensor:
    x = as_tensor(x)
    return x if x.dtype.startswith(("float", "bfloat")) else cast(x, config.floatx())


def softmax(x, axis: int = -1) -> Tensor:
    """Softmax along ``axis``."""
    x = _float(x)
    e = P.exp(x - P.stop_gradient(max(x, axis, keepdims=True)))
    out = e / sum(e, axis, keepdims=True)
    _LOGITS[out] = ("softmax", x, axis)
    return out


def log_softmax(x, axis: int = -1) -> Tensor:
    """``log(softmax(x))``, computed stably."""
    x = _float(x)
    shifted = x - P.stop_gradient(max(x, axis, keepdims=True))
    return shifted - log(sum(P.exp(shifted), axis, keepdims=True))


def sigmoid(x) -> Tensor:
    """Elementwise logistic sigmoid."""
    x = _float(x)
    out = P.sigmoid(x)
    _LOGITS[out] = ("sigmoid", x, -1)
    return out


def hard_sigmoid(x) -> Tensor:
    """Piecewise-linear sigmoid: ``clip(0.2 x + 0.5, 0, 1)``."""
    return clip(_float(x) * 0.2 + 0.5, 0.0, 1.0)


def tanh(x) -> Tensor:
    """Elementwise hyperbolic tangent."""
    return P.tanh(_float(x))


def softplus(x) -> Tensor:
    """``log(1 + exp(x))``, computed stably."""
    return P.softplus(_float(x))


def softsign(x) -> Tensor:
    """``x / (1 + |x|)``."""
    x = _float(x)
    return x / (1 + P.abs(x))


def relu(x, alpha: float = 0.0, max_value: float | None = None, threshold: float = 0.0) -> Tensor:
    """Rectified linear unit, with Keras 2.3's ``alpha``, ``max_value`` and ``threshold``.

    Built as Keras builds it on TensorFlow, so the gradients at the kinks are TensorFlow's:
    ``alpha`` alone is ``tf.nn.leaky_relu`` (slope 1 where ``x > 0``, else ``alpha``);
    otherwise the positive part is ``x * (x > threshold)``, ``relu6`` when ``max_value == 6``
    and there is no threshold (slope 0 at 0 and 6), or ``relu`` (slope 0 at 0) then clipped to
    ``[0, max_value]`` (the clip passes the gradient at its bounds), less
    ``alpha * relu(threshold - x)``. Each piece selects its gradient with ``where``, so an
    infinite or NaN incoming gradient gives 0 where a piece is flat; the values the pieces do
    not differentiate (0, a bound, NaN) are those TensorFlow computes.
    """
    x = _float(x)

    def above(bound):
        return P.greater(*operands(x, bound))

    def flat(value):  # ``value`` where a piece is flat, its gradient cut
        return P.stop_gradient(value)

    if alpha != 0 and max_value is None and threshold == 0:
        return P.where(above(0.0), x, x * alpha)
    clip_max = max_value is not None
    if threshold != 0:
        out = P.where(above(threshold), x, flat(x * 0.0))
    elif isinstance(max_value, (int, float)) and max_value == 6:
        inside = P.logical_and(above(0.0), P.less(*operands(x, 6.0)))
        out = P.where(inside, x, flat(clip(x, 0.0, 6.0)))
        clip_max = False
    else:
        out = P.where(above(0.0), x, flat(P.maximum(*operands(x, 0.0))))
    if clip_max:
        out = clip(out, 0.0, max_value)
    if alpha != 0:
        below = P.less(*operands(x, threshold))
        negative = threshold - x
        out = out - P.where(below, negative, flat(P.maximum(*operands(negative, 0.0)))) * alpha
    return out


def elu(x, alpha: float = 1.0) -> Tensor:
    """Exponential linear unit."""
    x = _float(x)
    return P.where(P.greater(*operands(x, 0.0)), x, (P.exp(x) - 1) * alpha)


# -- losses -----------------------------------------------------------------------------------

_warned: set[str] = set()


def _depends_on_variable(t) -> bool:
    return isinstance(t, Tensor) and bool(Graph([t]).variables)


def _loss_operands(name: str, args: tuple, kwargs: dict) -> tuple:
    """``(target, output)`` of a crossentropy call, recognising the pre-2.0.7 order.

    Keras up to 2.0.6 took ``(output, target)``. When both are positional and only the first
    depends on a Variable, the call is read in that older order, with a one-time warning.
    """
    if len(args) > 2:
        raise TypeError(f"{name}() takes target and output positionally, got {len(args)} values")
    names = ("target", "output")
    given = dict(zip(names, args))
    for key in names:
        if key in kwargs:
            if key in given:
                raise TypeError(f"{name}() got multiple values for '{key}'")
            given[key] = kwargs.pop(key)
    if kwargs:
        raise TypeError(f"{name}() got unexpected keyword arguments {sorted(kwargs)}")
    if set(given) != set(names):
        raise TypeError(f"{name}() needs both target and output")
    target, output = given["target"], given["output"]
    if len(args) == 2 and _depends_on_variable(target) and not _depends_on_variable(output):
        target, output = output, target
        if name not in _warned:
            _warned.add(name)
            warnings.warn(
                f"K.{name}(a, b): the first argument depends on a Variable and the second does "
                "not, so this call was read in the pre-Keras-2.0.7 order (output, target). "
                f"Keras 2.3 takes (target, output); write K.{name}(target=..., output=...) to "
                "state the order and silence this warning.",
                stacklevel=3,
            )
    target, output = operands(target, output)
    return _float(target), _float(output)


def _softmax_cross_entropy(target, logits, axis) -> Tensor:
    return -sum(target * log_softmax(logits, axis), axis)


def categorical_crossentropy(*args, from_logits: bool = False, axis: int = -1, **kwargs):
    """Crossentropy between one-hot/probability ``target`` and ``output``: ``(target, output)``.

    Without ``from_logits``, ``output`` is rescaled to sum to 1 and clipped to
    [epsilon, 1 - epsilon]; if it came from ``K.softmax``, its logits are used instead.
    """
    target, output = _loss_operands("categorical_crossentropy", args, kwargs)
    if from_logits:
        return _softmax_cross_entropy(target, output, axis)
    origin = _LOGITS.get(output)
    if origin is not None and origin[0] == "softmax" and origin[2] == axis:
        return _softmax_cross_entropy(target, origin[1], axis)
    output = output / sum(output, axis, keepdims=True)
    eps = config.epsilon()
    output = clip(output, eps, 1.0 - eps)
    return -sum(target * log(output), axis)


def sparse_categorical_crossentropy(target, output, from_logits: bool = False, axis: int = -1):
    """Crossentropy with integer class ``target`` (one fewer axis than ``output``, or a trailing
    axis of size 1)."""
    output = _float(output)
    target = as_tensor(target)
    if output.ndim is None:
        raise ValueError("sparse_categorical_crossentropy needs an output of known rank")
    if axis not in (-1, output.ndim - 1):
        perm = [k for k in range(output.ndim) if k != axis % output.ndim] + [axis % output.ndim]
        output = P.transpose(output, perm=tuple(perm))
    if not from_logits:
        origin = _LOGITS.get(output)
        if origin is not None and origin[0] == "softmax":
            output = origin[1]
        else:
            eps = config.epsilon()
            output = log(clip(output, eps, 1.0 - eps))
    classes = output.shape[-1]
    if classes is None:
        raise ValueError("sparse_categorical_crossentropy needs a known number of classes")
    labels = P.reshape_like(cast(target, "int32"), output[..., 0])
    one_hot = P.one_hot(labels, num_classes=classes, dtype=output.dtype)
    loss = _softmax_cross_entropy(one_hot, output, -1)
    # A label outside [0, classes) has no one-hot row: its loss is NaN, never a silent 0.
    valid = P.logical_and(*operands(labels >= 0, labels < classes))
    return P.where(valid, *operands(loss, float("nan")))


def binary_crossentropy(*args, from_logits: bool = False, **kwargs) -> Tensor:
    """Elementwise crossentropy between a 0/1 ``target`` and probabilities ``output``."""
    target, output = _loss_operands("binary_crossentropy", args, kwargs)
    if not from_logits:
        origin = _LOGITS.get(output)
        if origin is not None and origin[0] == "sigmoid":
            output = origin[1]
        else:
            eps = config.epsilon()
            output = clip(output, eps, 1.0 - eps)
            output = log(output / (1.0 - output))
    # max(z, 0) - z * t + log(1 + exp(-|z|)): stable for any logit z
    return P.maximum(*operands(output, 0.0)) - output * target + P.softplus(-P.abs(output))


__all__ = [
    "binary_crossentropy",
    "categorical_crossentropy",
    "elu",
    "hard_sigmoid",
    "log_softmax",
    "relu",
    "sigmoid",
    "softmax",
    "softplus",
    "softsign",
    "sparse_categorical_crossentropy",
    "tanh",
]
