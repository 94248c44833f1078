"""Placeholders, variables, constants and the functions that read or write them."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from polyback import config
from polyback._src import prims as P
from polyback._src.ir.dtypes import normalize_dtype
from polyback._src.ir.graph import Graph
from polyback._src.ir.tensor import Constant, Placeholder, Tensor, TensorType, Variable
from polyback._src.keras.ops import as_tensor, shape_operand

_names = itertools.count(1)


def _name(kind: str, name: str | None) -> str:
    return name if name else f"{kind}_{next(_names)}"


def placeholder(
    shape: Sequence[int | None] | None = None,
    ndim: int | None = None,
    dtype: str | None = None,
    sparse: bool = False,
    name: str | None = None,
) -> Placeholder:
    """A symbolic input. ``shape`` may hold None (or -1) dims; with neither shape nor ndim,
    any rank."""
    if shape is None and ndim is not None:
        shape = (None,) * ndim
    if shape is not None:
        shape = tuple(None if d is None or int(d) == -1 else int(d) for d in shape)
        if ndim is not None and ndim != len(shape):
            raise ValueError(f"placeholder: shape {shape} does not have ndim={ndim}")
    dtype = normalize_dtype(dtype or config.floatx())
    return Placeholder(TensorType(shape, dtype), _name("placeholder", name), sparse)


def is_placeholder(x) -> bool:
    """True if ``x`` is a placeholder."""
    return isinstance(x, Placeholder)


def variable(value, dtype: str | None = None, name: str | None = None, constraint=None):
    """A Variable holding ``value`` (cast to ``dtype``, floatx by default)."""
    if isinstance(value, Tensor):
        value = eval(value)
    if hasattr(value, "toarray"):
        value = value.toarray()
    dtype = normalize_dtype(dtype or config.floatx())
    return Variable(np.array(value, dtype=dtype), _name("variable", name), constraint)


def constant(value, dtype: str | None = None, shape=None, name: str | None = None) -> Constant:
    """A constant tensor; a scalar ``value`` with a ``shape`` fills that shape."""
    dtype = normalize_dtype(dtype or config.floatx())
    array = np.asarray(value, dtype=dtype)
    if shape is not None:
        array = np.broadcast_to(array, tuple(shape)).copy()
    return Constant(array, _name("constant", name) if name else None)


def _filled(fill: float, shape, dtype: str | None, name: str | None, what: str):
    static, value = shape_operand(shape, what)
    if value is None:
        return variable(np.full(static, float(fill)), dtype, name)
    # a shape known only from fed arrays: a tensor, as Keras 2.3 gives
    fill_value = as_tensor(fill, normalize_dtype(dtype or config.floatx()))
    return P.broadcast_to_value(fill_value, value, static=static)


def zeros(shape, dtype: str | None = None, name: str | None = None) -> Variable | Tensor:
    """A Variable of zeros; a tensor when the shape holds tensors (``K.shape(x)[0]``)."""
    return _filled(0, shape, dtype, name, "zeros")


def ones(shape, dtype: str | None = None, name: str | None = None) -> Variable | Tensor:
    """A Variable of ones; a tensor when the shape holds tensors (``K.shape(x)[0]``)."""
    return _filled(1, shape, dtype, name, "ones")


def eye(size, dtype: str | None = None, name: str | None = None) -> Variable:
    """A Variable holding an identity matrix (``size`` an int or a (rows, cols) pair)."""
    rows, cols = (size, size) if isinstance(size, int) else tuple(size)
    return variable(np.eye(rows, cols), dtype, name)


def zeros_like(x, dtype: str | None = None, name: str | None = None) -> Tensor:
    """A tensor of zeros shaped like ``x``."""
    x = as_tensor(x)
    return P.broadcast_like(as_tensor(0, normalize_dtype(dtype or x.dtype)), x)


def ones_like(x, dtype: str | None = None, name: str | None = None) -> Tensor:
    """A tensor of ones shaped like ``x``."""
    x = as_tensor(x)
    return P.broadcast_like(as_tensor(1, normalize_dtype(dtype or x.dtype)), x)


def dtype(x) -> str:
    """The dtype of ``x`` as a string."""
    return x.dtype if isinstance(x, Tensor) else np.asarray(x).dtype.name


def int_shape(x) -> tuple[int | None, ...] | None:
    """The static shape of ``x`` (None for unknown dims; None for unknown rank)."""
    return x.shape if isinstance(x, Tensor) else np.shape(x)


def ndim(x) -> int | None:
    """The rank of ``x`` (None if unknown)."""
    return x.ndim if isinstance(x, Tensor) else np.ndim(x)


def shape(x) -> Tensor:
    """The shape of ``x`` as a symbolic int32 vector (known when the function runs)."""
    return P.shape_of(as_tensor(x))


def count_params(x: Variable) -> int:
    """Number of elements of a Variable."""
    return int(np.prod(x.shape))


def eval(x) -> np.ndarray:  # noqa: A001 - the Keras name
    """The value of ``x``, computed now with the current backend."""
    if isinstance(x, Variable):
        return get_value(x)
    x = as_tensor(x)
    missing = Graph([x]).placeholders
    if missing:
        names = ", ".join(f"'{p.label}'" for p in missing)
        raise ValueError(
            f"K.eval: the value of '{x.label}' depends on placeholder {names}; feed it through "
            "K.function([...], [tensor]) instead"
        )
    from polyback._src.compile import Function

    return Function([], [x])([])[0]


def get_value(x: Variable) -> np.ndarray:
    """A NumPy copy of a Variable's value."""
    if not isinstance(x, Variable):
        raise TypeError(f"get_value needs a Variable, got {x!r}; use K.eval for tensors")
    return np.array(x.numpy(), copy=True)


def batch_get_value(xs: Sequence[Variable]) -> list[np.ndarray]:
    """``get_value`` of each Variable."""
    return [get_value(x) for x in xs]


def _checked_value(x: Variable, value) -> np.ndarray:
    if not isinstance(x, Variable):
        raise TypeError(f"set_value needs a Variable, got {x!r}")
    array = np.array(value, dtype=x.dtype)
    if array.shape != x.shape:
        raise ValueError(
            f"set_value: variable '{x.label}' has shape {x.shape}, the value has {array.shape}"
        )
    return array


def set_value(x: Variable, value) -> None:
    """Replace a Variable's value (same shape; cast to its dtype)."""
    batch_set_value([(x, value)])


def batch_set_value(tuples) -> None:
    """``set_value`` for each (variable, value) pair; checks all before writing any."""
    from polyback._src.engines import get_engine

    checked = [(x, _checked_value(x, value)) for x, value in tuples]
    for x, array in checked:
        x.write(get_engine("numpy"), array)


__all__ = [
    "batch_get_value",
    "batch_set_value",
    "constant",
    "count_params",
    "dtype",
    "eval",
    "eye",
    "get_value",
    "int_shape",
    "is_placeholder",
    "ndim",
    "ones",
    "ones_like",
    "placeholder",
    "set_value",
    "shape",
    "variable",
    "zeros",
    "zeros_like",
]
