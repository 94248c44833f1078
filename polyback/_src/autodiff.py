"""Reverse-mode autodiff: graph in, graph out, so gradients can be differentiated again."""

from __future__ import annotations

from collections.abc import Sequence

from polyback._src import prims as P
from polyback._src.ir.dtypes import is_float
from polyback._src.ir.graph import toposort
from polyback._src.ir.tensor import Tensor
from polyback._src.prims.base import scalar


def _depends_on(nodes, sources: Sequence[Tensor]) -> set[int]:
    """ids of the tensors (among ``nodes``' outputs and ``sources``) that depend on sources."""
    live = {id(s) for s in sources}
    for node in nodes:
        if any(id(i) in live for i in node.inputs):
            live.add(id(node.output))
    return live


def _accumulate(parts: list[Tensor]) -> Tensor:
    total = parts[0]
    for part in parts[1:]:
        total = P.add(total, part)
    return total


def gradients(loss: Tensor, wrt: Sequence[Tensor]) -> list[Tensor | None]:
    """Gradients of ``sum(loss)`` with respect to each tensor of ``wrt`` (None if unconnected)."""
    if not is_float(loss.dtype):
        raise TypeError(f"cannot differentiate '{loss.label}' of dtype {loss.dtype}")
    nodes = toposort([loss])
    live = _depends_on(nodes, wrt)
    grads: dict[int, list[Tensor]] = {id(loss): [P.broadcast_like(scalar(1, loss.dtype), loss)]}
    wanted = {id(t) for t in wrt}
    found: dict[int, Tensor] = {}  # gradients of computed tensors of ``wrt``
    for node in reversed(nodes):
        parts = grads.pop(id(node.output), None)
        if parts is None:
            continue
        total = _accumulate(parts)
        if id(node.output) in wanted:
            found[id(node.output)] = total
        if node.prim.vjp is None:
            continue
        input_grads = node.prim.vjp(node, total)
        for inp, g in zip(node.inputs, input_grads):
            if g is not None and id(inp) in live and is_float(inp.dtype):
                grads.setdefault(id(inp), []).append(g)
    for key, parts in grads.items():  # placeholders and variables: no node of their own
        found[key] = _accumulate(parts)
    return [found.get(id(t)) for t in wrt]
