"""Loops over a leading axis: map_fn, foldl, foldr and rnn.

polyback graphs are static, with no loop primitive: each of these functions is *unrolled*, calling
the user's function once per element of the (statically known) axis it iterates over, while the
graph is built. The graph grows with the length of that axis, and a placeholder whose axis is
unknown (None) is refused with an error saying so. Gradients flow through the unrolled graph as
through any other.
"""

from __future__ import annotations

from collections.abc import Callable

from polyback._src import prims as P
from polyback._src.ir.tensor import Tensor
from polyback._src.keras.control import switch
from polyback._src.keras.ops import as_tensor, cast
from polyback._src.keras.shape import stack
from polyback._src.keras.variables import zeros_like
from polyback._src.prims.shape import index_spec


def _length(x: Tensor, axis: int, what: str, meaning: str) -> int:
    """The static length of ``x`` along ``axis``; a ValueError naming ``x`` when unknown."""
    if x.shape is None or x.ndim <= axis or x.shape[axis] is None:
        raise ValueError(
            f"K.{what} unrolls over the {meaning} of '{x.label}' {x.type}, which must be known "
            "when the graph is built (polyback graphs are static); give the placeholder a fixed "
            "size there"
        )
    return x.shape[axis]


def _unstack(x: Tensor, what: str) -> list[Tensor]:
    """The slices ``x[0], x[1], ...`` along the first axis."""
    return [P.getitem(x, index=index_spec(k)) for k in range(_length(x, 0, what, "first axis"))]


def _slices(elems, what: str) -> list:
    """One item per index of the first axis: a tensor, or a tuple/list of tensors when
    ``elems`` is a tuple/list (as ``tf.map_fn`` passes nested elements)."""
    if isinstance(elems, (list, tuple)):
        if not elems:
            raise ValueError(f"K.{what} needs at least one tensor in elems")
        columns = [_unstack(as_tensor(e), what) for e in elems]
        if len({len(c) for c in columns}) != 1:
            sizes = [len(c) for c in columns]
            raise ValueError(f"K.{what}: the tensors of elems differ in first dimension: {sizes}")
        return [type(elems)(row) for row in zip(*columns)]
    return _unstack(as_tensor(elems), what)


def map_fn(fn: Callable, elems, name: str | None = None, dtype=None):
    """``fn`` applied to each slice ``elems[i]`` along the first axis, the results stacked.

    ``elems`` is a tensor (or a tuple or list of tensors of one first dimension, each call then
    getting a tuple or list of slices). ``fn`` may return a tensor or a tuple or list of
    tensors; each is stacked. ``dtype``, when given, is the dtype of the result (the results are
    cast to it). Unrolled: the first dimension must be known.
    """
    items = _slices(elems, "map_fn")
    if not items:
        raise ValueError("K.map_fn needs at least one element along the first axis")
    results = [fn(item) for item in items]
    if isinstance(results[0], (list, tuple)):
        columns = list(zip(*results))
        dtypes = dtype if isinstance(dtype, (list, tuple)) else [dtype] * len(columns)
        stacked = [_stacked(column, d) for column, d in zip(columns, dtypes)]
        return type(results[0])(stacked)
    return _stacked(results, dtype)


def _stacked(results, dtype) -> Tensor:
    out = stack([as_tensor(r) for r in results], axis=0)
    return out if dtype is None else cast(out, dtype)


def _fold(fn: Callable, elems, initializer, what: str, reverse: bool):
    items = _slices(elems, what)
    if reverse:
        items = items[::-1]
    if initializer is None:
        if not items:
            raise ValueError(f"K.{what} needs an initializer when elems is empty")
        acc, items = items[0], items[1:]
    else:
        acc = initializer
    for item in items:
        acc = fn(acc, item)
    return acc


def foldl(fn: Callable, elems, initializer=None, name: str | None = None):
    """Reduce ``elems`` from left to right: ``acc = fn(acc, elems[i])`` for i = 0, 1, ...

    ``initializer`` is the first ``acc`` (``elems[0]`` when None, the fold then starting at
    ``elems[1]``). Unrolled: the first dimension must be known.
    """
    return _fold(fn, elems, initializer, "foldl", reverse=False)


def foldr(fn: Callable, elems, initializer=None, name: str | None = None):
    """Reduce ``elems`` from right to left: ``acc = fn(acc, elems[i])`` for i = n-1, n-2, ...

    ``initializer`` is the first ``acc`` (``elems[-1]`` when None). Unrolled: the first
    dimension must be known.
    """
    return _fold(fn, elems, initializer, "foldr", reverse=True)


def rnn(
    step_function: Callable,
    inputs,
    initial_states,
    go_backwards: bool = False,
    mask=None,
    constants=None,
    unroll: bool = False,
    input_length=None,
):
    """Iterate ``step_function`` over the time axis (axis 1) of ``inputs``.

    ``step_function(input_t, states)`` gets the slice ``inputs[:, t]`` and the tuple of states
    followed by ``constants``, and returns ``(output_t, new_states)``. Returns
    ``(last_output, outputs, new_states)``: the last step's output, all outputs stacked along
    axis 1 (in the order they were computed: reversed when ``go_backwards``), and the last
    states.

    ``mask`` (samples, time) or (samples, time, 1), zero where a step is masked: there the
    output repeats the previous step's (zeros before the first) and the states stay as they
    were, as Keras 2.3 does. The loop is always unrolled (``unroll`` is accepted and ignored;
    so is ``input_length``): the number of time steps must be known.
    """
    inputs = as_tensor(inputs)
    if inputs.ndim is None or inputs.ndim < 3:
        raise ValueError(f"K.rnn: inputs should be at least 3D, got '{inputs.label}' {inputs.type}")
    steps = _length(inputs, 1, "rnn", "time axis (axis 1)")
    states = [initial_states] if isinstance(initial_states, Tensor) else list(initial_states)
    constants = list(constants or [])
    if mask is not None:
        mask = cast(mask, "bool")
        if mask.ndim not in (2, 3):
            raise ValueError(f"K.rnn: the mask should be (samples, time), got {mask.type}")
    outputs: list[Tensor] = []
    for t in range(steps - 1, -1, -1) if go_backwards else range(steps):
        input_t = P.getitem(inputs, index=index_spec((slice(None), t)))
        output, new_states = step_function(input_t, (*states, *constants))
        output = as_tensor(output)
        new_states = [new_states] if isinstance(new_states, Tensor) else list(new_states)
        if mask is not None:
            mask_t = P.getitem(mask, index=index_spec((slice(None), t)))
            previous = outputs[-1] if outputs else zeros_like(output)
            output = switch(mask_t, output, previous)
            new_states = [switch(mask_t, new, old) for new, old in zip(new_states, states)]
        outputs.append(output)
        states = new_states
    if not outputs:
        raise ValueError("K.rnn needs at least one time step")
    return outputs[-1], stack(outputs, axis=1), states


__all__ = ["foldl", "foldr", "map_fn", "rnn"]
