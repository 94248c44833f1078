"""Specialisation: rebuild a graph for concrete input shapes.

Every compiled function runs a specialised graph, in which all shapes are known. On the way:
- symbolic-only primitives (shape queries, ``sum_like``, ``stop_gradient``...) fold away;
- broadcasts that a consumer performs anyway are dropped, ``x * 1`` and ``x + 0`` vanish;
- small all-constant subgraphs are computed once (with the NumPy engine);
- identical nodes are merged (common-subexpression elimination).
Engines therefore only ever see concrete primitives with static shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from polyback._src.ir.graph import toposort
from polyback._src.ir.tensor import Constant, Placeholder, Tensor, TensorType, Variable
from polyback._src.prims.base import InferenceError

CONSTANT_FOLD_LIMIT = 4096  # elements; larger constant results are computed by the engine


@dataclass
class Program:
    """A specialised graph: what an engine compiles."""

    inputs: list[Placeholder]
    variables: list[Variable]
    outputs: list[Tensor]

    def __post_init__(self):
        self.nodes = toposort(self.outputs)

    @property
    def constants(self) -> list[Constant]:
        seen: dict[int, Constant] = {}
        for t in self.outputs:
            if isinstance(t, Constant):
                seen[id(t)] = t
        for node in self.nodes:
            for i in node.inputs:
                if isinstance(i, Constant):
                    seen[id(i)] = i
        return list(seen.values())


def _params_key(params: dict) -> tuple:
    return tuple(sorted(params.items()))


class _Specializer:
    def __init__(self):
        self.memo: dict[int, Tensor] = {}
        self.done: set[int] = set()
        self.cse: dict[tuple, Tensor] = {}

    def leaf(self, old: Tensor, new: Tensor) -> None:
        self.memo[id(old)] = new
        self.done.add(id(new))

    def apply(self, prim, inputs: Sequence[Tensor], params: dict) -> Tensor:
        """The specialised result of ``prim(*inputs, **params)``, inputs already specialised."""
        key = (prim.name, tuple(inputs), _params_key(params))
        hit = self.cse.get(key)
        if hit is not None:
            return hit
        try:
            out_type = prim.infer(*(i.type for i in inputs), **params)
        except InferenceError as exc:
            shown = ", ".join(f"{i.label}: {i.type}" for i in inputs)
            raise InferenceError(f"{prim.name}({shown}): {exc}") from None
        result = prim.fold(inputs, params, out_type) if prim.fold else None
        if result is not None:
            result = self.absorb(result)
        elif (
            not prim.symbolic_only
            and not prim.effectful
            and all(isinstance(i, Constant) for i in inputs)
        ):
            result = self.constant_fold(prim, inputs, params, out_type)
        if result is None:
            result = prim(*inputs, **params)
        self.cse[key] = result
        self.done.add(id(result))
        return result

    def absorb(self, tensor: Tensor) -> Tensor:
        """Specialise nodes that a fold just built on top of specialised tensors."""
        order, seen = [], set()
        stack = [(tensor, False)]
        while stack:
            t, expanded = stack.pop()
            if t.node is None or id(t) in self.done:
                continue
            if expanded:
                order.append(t.node)
            elif id(t) not in seen:
                seen.add(id(t))
                stack.append((t, True))
                stack.extend((i, False) for i in t.node.inputs)
        local: dict[int, Tensor] = {}
        for node in order:
            inputs = [local.get(id(i), i) for i in node.inputs]
            local[id(node.output)] = self.apply(node.prim, inputs, node.params)
        return local.get(id(tensor), tensor)

    def constant_fold(self, prim, inputs, params, out_type: TensorType) -> Tensor | None:
        import math

        if math.prod(out_type.shape) > CONSTANT_FOLD_LIMIT:
            return None
        from polyback._src.engines import get_engine

        fn = get_engine("numpy").lowerings[prim.name]
        value = fn(*(c.value for c in inputs), **params)
        return Constant(get_engine("numpy").to_numpy(value).astype(out_type.dtype, copy=False))

    def run(self, outputs: Sequence[Tensor]) -> list[Tensor]:
        for node in toposort(outputs):
            inputs = [self.memo.get(id(i), i) for i in node.inputs]
            self.memo[id(node.output)] = self.apply(node.prim, inputs, node.params)
        return [self.memo.get(id(t), t) for t in outputs]


def specialize(
    placeholders: Sequence[Placeholder],
    shapes: Sequence[tuple[int, ...]],
    outputs: Sequence[Tensor],
) -> tuple[list[Placeholder], list[Tensor]]:
    """Rebuild ``outputs`` for placeholders fed with arrays of ``shapes``.

    Returns the concrete stand-ins of the placeholders and the specialised outputs.
    """
    spec = _Specializer()
    concrete = []
    for p, shape in zip(placeholders, shapes):
        stand_in = Placeholder(TensorType(tuple(shape), p.dtype), p.label, p.sparse)
        spec.leaf(p, stand_in)
        concrete.append(stand_in)
    try:
        return concrete, spec.run(outputs)
    except InferenceError as exc:
        fed = ", ".join(f"{p.label}: {tuple(s)}" for p, s in zip(placeholders, shapes))
        raise InferenceError(f"{exc} (with inputs fed as {fed})") from None
