"""Operands and arithmetic: what Python operators on tensors call.

Promotion rule (docs/semantics.md): two tensors promote as NumPy does; a Python number or NumPy
array next to a tensor takes the tensor's dtype, except a float next to an integer tensor, which
gives floatx.
"""

from __future__ import annotations

import numpy as np

from polyback import config
from polyback._src import prims as P
from polyback._src.ir.dtypes import is_float, normalize_dtype, result_dtype
from polyback._src.ir.tensor import Constant, Tensor
from polyback._src.prims.shape import index_spec


def as_tensor(value, dtype: str | None = None) -> Tensor:
    """``value`` as a tensor: tensors pass through, anything else becomes a Constant."""
    if isinstance(value, Tensor):
        return value
    array = np.asarray(value)
    if dtype is None:
        if array.dtype.kind == "f":
            dtype = config.floatx() if array.dtype == np.float64 else array.dtype.name
        elif array.dtype.kind in "iu":
            python_int = isinstance(value, int) and array.dtype == np.int64
            dtype = "int32" if python_int else array.dtype.name
        elif array.dtype.kind == "b":
            dtype = "bool"
        else:
            raise TypeError(f"cannot use {type(value).__name__} {value!r} as a tensor")
    return Constant(array.astype(normalize_dtype(dtype), copy=False))


def cast(x, dtype) -> Tensor:
    """``x`` converted to ``dtype``."""
    x = as_tensor(x)
    dtype = normalize_dtype(dtype)
    return x if x.dtype == dtype else P.cast(x, dtype=dtype)


def shape_operand(shape, what: str) -> tuple[tuple[int | None, ...], Tensor | None]:
    """A shape given as ints, as a tuple with scalar tensors (``(K.shape(x)[0], 2)``) or as an
    int vector tensor: the dims known now (None where not) and, when any dim is a tensor, the
    whole shape as an int32 vector tensor (else None)."""
    if isinstance(shape, Constant):
        shape = tuple(int(d) for d in np.asarray(shape.value).reshape(-1))
    if isinstance(shape, Tensor):
        if shape.ndim != 1 or shape.shape[0] is None:
            raise ValueError(
                f"K.{what}: a shape tensor must be a vector of known length, got "
                f"'{shape.label}' {shape.type}"
            )
        return (None,) * shape.shape[0], cast(shape, "int32")
    dims = tuple(shape)
    static = tuple(None if isinstance(d, Tensor) else int(d) for d in dims)
    if None not in static:
        return static, None
    parts = []
    for d in dims:
        if isinstance(d, Tensor) and d.ndim != 0:
            raise ValueError(f"K.{what}: each dim of a shape must be a scalar, got '{d.label}'")
        part = cast(d, "int32") if isinstance(d, Tensor) else as_tensor(int(d), "int32")
        parts.append(P.reshape(part, shape=(1,)))
    return static, P.concatenate(*parts, axis=0)


def broadcast_to_shape(x: Tensor, shape, what: str) -> Tensor:
    """``x`` broadcast to ``shape``, given in any form ``shape_operand`` takes."""
    static, value = shape_operand(shape, what)
    if value is None:
        return P.broadcast_to(x, shape=static)
    return P.broadcast_to_value(x, value, static=static)


def _weak_dtype(tensor: Tensor, value) -> str:
    """The dtype a non-tensor operand takes next to ``tensor``."""
    kind = np.asarray(value).dtype.kind
    if kind == "f" and not is_float(tensor.dtype):
        return config.floatx()
    if kind in "iu" and tensor.dtype == "bool":
        return "int32"
    return tensor.dtype


def operands(x, y) -> tuple[Tensor, Tensor]:
    """Both operands as tensors of one dtype, following polyback's promotion rule."""
    if isinstance(x, Tensor) and isinstance(y, Tensor):
        dtype = result_dtype(x.dtype, y.dtype)
    elif isinstance(x, Tensor):
        dtype = _weak_dtype(x, y)
    elif isinstance(y, Tensor):
        dtype = _weak_dtype(y, x)
    else:
        x, y = as_tensor(x), as_tensor(y)
        dtype = result_dtype(x.dtype, y.dtype)
    return cast(as_tensor(x, dtype), dtype), cast(as_tensor(y, dtype), dtype)


def _floats(x, y) -> tuple[Tensor, Tensor]:
    x, y = operands(x, y)
    if not is_float(x.dtype):
        x, y = cast(x, config.floatx()), cast(y, config.floatx())
    return x, y


def add(x, y) -> Tensor:
    return P.add(*operands(x, y))


def subtract(x, y) -> Tensor:
    return P.subtract(*operands(x, y))


def multiply(x, y) -> Tensor:
    return P.multiply(*operands(x, y))


def divide(x, y) -> Tensor:
    """True division; integer operands give floatx."""
    return P.divide(*_floats(x, y))


def floor_divide(x, y) -> Tensor:
    return P.floor_divide(*operands(x, y))


def mod(x, y) -> Tensor:
    return P.mod(*operands(x, y))


def pow(x, a) -> Tensor:  # noqa: A001 - the Keras name
    """Elementwise ``x ** a``."""
    return P.power(*operands(x, a))


def negative(x) -> Tensor:
    return P.negative(as_tensor(x))


def abs(x) -> Tensor:  # noqa: A001
    """Elementwise absolute value."""
    return P.abs(as_tensor(x))


def maximum(x, y) -> Tensor:
    """Elementwise maximum."""
    return P.maximum(*operands(x, y))


def minimum(x, y) -> Tensor:
    """Elementwise minimum."""
    return P.minimum(*operands(x, y))


def equal(x, y) -> Tensor:
    """Elementwise ``x == y`` (bool)."""
    return P.equal(*operands(x, y))


def not_equal(x, y) -> Tensor:
    """Elementwise ``x != y`` (bool)."""
    return P.not_equal(*operands(x, y))


def less(x, y) -> Tensor:
    """Elementwise ``x < y`` (bool)."""
    return P.less(*operands(x, y))


def less_equal(x, y) -> Tensor:
    """Elementwise ``x <= y`` (bool)."""
    return P.less_equal(*operands(x, y))


def greater(x, y) -> Tensor:
    """Elementwise ``x > y`` (bool)."""
    return P.greater(*operands(x, y))


def greater_equal(x, y) -> Tensor:
    """Elementwise ``x >= y`` (bool)."""
    return P.greater_equal(*operands(x, y))


def logical_and(x, y) -> Tensor:
    return P.logical_and(cast(x, "bool"), cast(y, "bool"))


def logical_or(x, y) -> Tensor:
    return P.logical_or(cast(x, "bool"), cast(y, "bool"))


def logical_not(x) -> Tensor:
    return P.logical_not(cast(x, "bool"))


def getitem(x: Tensor, index) -> Tensor:
    """``x[index]`` with ints, slices, None and ``...``."""
    return P.getitem(x, index=index_spec(index))


def _letters(n: int, start: int) -> str:
    return "".join(chr(ord("a") + start + k) for k in range(n))


def dot(x, y) -> Tensor:
    """Keras ``dot``: a matrix product; for N-D, sums the last axis of ``x`` with the
    second-to-last of ``y`` (like ``np.dot``)."""
    x, y = operands(x, y)
    if x.ndim is not None and y.ndim is not None and (x.ndim > 2 or y.ndim > 2):
        if y.ndim < 2:
            raise ValueError(f"K.dot: y must have rank >= 2 when x has rank {x.ndim}")
        xi = _letters(x.ndim - 1, 0) + "z"
        yi = _letters(y.ndim - 2, x.ndim - 1) + "zy"
        out = xi[:-1] + yi[:-2] + "y"
        return P.einsum(x, y, spec=f"{xi},{yi}->{out}")
    if x.ndim is not None and x.ndim < 2 or y.ndim is not None and y.ndim < 2:
        raise ValueError(
            f"K.dot needs matrices (rank >= 2); got '{x.label}' of shape {x.shape} and "
            f"'{y.label}' of shape {y.shape}"
        )
    return P.matmul(x, y)
