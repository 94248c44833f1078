"""Shape and dtype inference helpers shared by the primitive families."""

from __future__ import annotations

from collections.abc import Sequence

from polyback._src.ir.dtypes import is_float
from polyback._src.ir.tensor import TensorType
from polyback._src.prims.base import InferenceError

ShapeT = tuple[int | None, ...] | None


def broadcast_shapes(*shapes: ShapeT) -> ShapeT:
    """NumPy broadcasting where a dim may be None (unknown) and a shape may be None (any rank)."""
    if any(s is None for s in shapes):
        return None
    ndim = max(len(s) for s in shapes)
    out: list[int | None] = []
    for k in range(ndim):
        dims = [s[len(s) - ndim + k] for s in shapes if len(s) - ndim + k >= 0]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise InferenceError(f"shapes {', '.join(map(str, shapes))} do not broadcast")
        if known:
            out.append(known.pop())
        elif None in dims:
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def same_dtype(*types: TensorType) -> str:
    """The common dtype of ``types``; primitives take operands already promoted to one dtype."""
    dtypes = {t.dtype for t in types}
    if len(dtypes) != 1:
        raise InferenceError(f"operands must share one dtype, got {sorted(dtypes)}")
    return dtypes.pop()


def require_float(t: TensorType) -> None:
    if not is_float(t.dtype):
        raise InferenceError(f"needs a floating-point tensor, got {t.dtype}")


def normalize_axes(axis: int | Sequence[int] | None, ndim: int | None) -> tuple[int, ...] | None:
    """Axes as a sorted tuple of non-negative ints; None means all axes. Unknown rank keeps
    the axes as given (resolved when the graph is specialised)."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    if ndim is None:
        return axes
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise InferenceError(f"axis {a} is out of range for rank {ndim}")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise InferenceError(f"repeated axis in {axes}")
    return tuple(sorted(out))


def reduced_shape(shape: ShapeT, axes: tuple[int, ...] | None, keepdims: bool) -> ShapeT:
    """Shape after reducing ``axes`` (None: all)."""
    if shape is None:
        return None if (keepdims or axes is not None) else ()
    if axes is None:
        axes = tuple(range(len(shape)))
    axes = tuple(a % len(shape) for a in axes) if shape else ()
    if keepdims:
        return tuple(1 if k in axes else d for k, d in enumerate(shape))
    return tuple(d for k, d in enumerate(shape) if k not in axes)
