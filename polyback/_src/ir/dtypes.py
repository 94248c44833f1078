"""Dtype names and promotion, defined once for every engine.

Dtypes are plain strings (``'float32'``, ``'int64'``, ``'bool'``...). Two tensors of different
dtypes promote as NumPy does; a Python number or NumPy array meeting a tensor is *weak*: it takes
the tensor's dtype (an integer tensor meeting a float number becomes floatx).
"""

from __future__ import annotations

import numpy as np

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
DTYPES = (*FLOAT_DTYPES, *INT_DTYPES, "bool")


def normalize_dtype(dtype: object) -> str:
    """Return the canonical name of ``dtype`` (a string, NumPy dtype or Python type)."""
    if isinstance(dtype, str) and dtype in DTYPES:
        return dtype
    if isinstance(dtype, str) and dtype == "float":
        from polyback import config

        return config.floatx()
    try:
        name = np.dtype(dtype).name
    except TypeError as exc:
        raise TypeError(f"unknown dtype {dtype!r}; valid dtypes are {', '.join(DTYPES)}") from exc
    if name not in DTYPES:
        raise TypeError(f"dtype {name!r} is not supported; valid dtypes are {', '.join(DTYPES)}")
    return name


def is_float(dtype: str) -> bool:
    """True for floating-point dtypes."""
    return dtype in FLOAT_DTYPES


def result_dtype(a: str, b: str) -> str:
    """The dtype two tensors of dtypes ``a`` and ``b`` promote to: NumPy's rule, except that an
    integer or bool tensor meeting a float tensor takes the float's dtype (no float64 creep)."""
    if a == b:
        return a
    if is_float(a) != is_float(b):
        return a if is_float(a) else b
    if "bfloat16" in (a, b):
        other = b if a == "bfloat16" else a
        return "bfloat16" if not is_float(other) else ("float32" if other == "float16" else other)
    return np.result_type(a, b).name
