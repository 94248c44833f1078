"""Functions, gradients and updates: the define-once, call-many part of the Keras backend."""

from __future__ import annotations

from collections.abc import Sequence

from polyback._src import autodiff
from polyback._src import prims as P
from polyback._src.compile import Function, Update
from polyback._src.ir.graph import format_graph
from polyback._src.ir.tensor import Tensor, Variable
from polyback._src.keras.ops import as_tensor


def function(
    inputs, outputs, updates=None, name: str | None = None, backend: str | None = None, **kwargs
) -> Function:
    """Compile ``outputs`` (and ``updates``) of ``inputs`` into a callable.

    ``f([array, ...])`` returns the outputs as NumPy arrays, then applies every update, each
    computed from the values the variables had before the call. ``backend`` picks the engine
    for this function (default: the current backend).
    """
    if kwargs:
        raise TypeError(f"K.function got unexpected arguments {sorted(kwargs)}")
    return Function(inputs, outputs, updates=updates, name=name, backend=backend)


def gradients(loss, variables) -> list[Tensor | None]:
    """Gradients of ``loss`` (of its sum, if not scalar) with respect to each of ``variables``.

    Always a list; None where ``loss`` does not depend on the variable.
    """
    wrt = [variables] if isinstance(variables, Tensor) else list(variables)
    for v in wrt:
        if not isinstance(v, Tensor):
            raise TypeError(
                f"K.gradients: can only differentiate with respect to tensors, got {v!r}"
            )
    return autodiff.gradients(as_tensor(loss), wrt)


def stop_gradient(variables):
    """``variables`` (a tensor or a list) with gradients blocked."""
    if isinstance(variables, (list, tuple)):
        return [P.stop_gradient(as_tensor(v)) for v in variables]
    return P.stop_gradient(as_tensor(variables))


def update(x: Variable, new_x) -> Update:
    """An update setting ``x`` to ``new_x``, for ``K.function(..., updates=[...])``."""
    return Update(x, new_x)


def update_add(x: Variable, increment) -> Update:
    """An update adding ``increment`` to ``x``."""
    return Update(x, x + increment)


def update_sub(x: Variable, decrement) -> Update:
    """An update subtracting ``decrement`` from ``x``."""
    return Update(x, x - decrement)


def print_graph(tensors: Tensor | Sequence[Tensor]) -> str:
    """Print (and return) the graph computing ``tensors``, one line per node."""
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    text = format_graph([as_tensor(t) for t in tensors])
    print(text)
    return text


__all__ = [
    "function",
    "gradients",
    "print_graph",
    "stop_gradient",
    "update",
    "update_add",
    "update_sub",
]
