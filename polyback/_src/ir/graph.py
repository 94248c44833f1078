"""Graph traversal, checking and printing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from polyback._src.ir.tensor import Constant, Node, Placeholder, Tensor, Variable


def toposort(outputs: Iterable[Tensor]) -> list[Node]:
    """Nodes needed for ``outputs``, each after its inputs' nodes (iterative, no recursion)."""
    order: list[Node] = []
    done: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(t, False) for t in reversed(list(outputs))]
    while stack:
        tensor, expanded = stack.pop()
        node = tensor.node
        if node is None or id(node) in done:
            continue
        if expanded:
            done.add(id(node))
            order.append(node)
            continue
        stack.append((tensor, True))
        for inp in reversed(node.inputs):
            if inp.node is not None and id(inp.node) not in done:
                stack.append((inp, False))
    return order


def leaves(outputs: Iterable[Tensor]) -> list[Tensor]:
    """Placeholders, Variables and Constants that ``outputs`` depend on, in first-use order."""
    outputs = list(outputs)
    seen: dict[int, Tensor] = {}
    for t in outputs:
        if t.node is None:
            seen.setdefault(id(t), t)
    for node in toposort(outputs):
        for inp in node.inputs:
            if inp.node is None:
                seen.setdefault(id(inp), inp)
    return list(seen.values())


class Graph:
    """The nodes that compute ``outputs`` from placeholders, variables and constants."""

    def __init__(self, outputs: Sequence[Tensor]):
        self.outputs = list(outputs)
        self.nodes = toposort(self.outputs)
        found = leaves(self.outputs)
        self.placeholders = [t for t in found if isinstance(t, Placeholder)]
        self.variables = [t for t in found if isinstance(t, Variable)]
        self.constants = [t for t in found if isinstance(t, Constant)]

    def check(self) -> None:
        """Re-run shape/dtype inference on every node; raise if a stored type disagrees."""
        for node in self.nodes:
            inferred = node.prim.infer(*(i.type for i in node.inputs), **node.params)
            if inferred != node.output.type:
                raise AssertionError(
                    f"graph check: node {node.output.label} = {node.prim.name} stores type "
                    f"{node.output.type} but inference gives {inferred}"
                )

    def __str__(self) -> str:
        return format_graph(self.outputs)


def _describe_leaf(t: Tensor) -> str:
    if isinstance(t, Placeholder):
        return f"placeholder {t.label}: {t.type}"
    if isinstance(t, Variable):
        return f"variable {t.label}: {t.type}"
    if isinstance(t, Constant):
        text = str(t.value.tolist()) if t.value.size <= 4 else f"<{t.value.size} values>"
        return f"constant {t.label}: {t.type} = {text}"
    return f"input {t.label}: {t.type}"


def format_node(node: Node) -> str:
    """One line: ``t7: float32[?,9] = add(t5, b)  {axis=1}``."""
    args = ", ".join(i.label for i in node.inputs)
    params = {k: v for k, v in node.params.items() if v is not None}
    extra = "  {" + ", ".join(f"{k}={v!r}" for k, v in params.items()) + "}" if params else ""
    return f"{node.output.label}: {node.output.type} = {node.prim.name}({args}){extra}"


def format_graph(outputs: Sequence[Tensor]) -> str:
    """The graph of ``outputs`` as text, one line per leaf and per node."""
    outputs = list(outputs)
    lines = [_describe_leaf(t) for t in leaves(outputs)]
    lines += [format_node(n) for n in toposort(outputs)]
    lines.append("outputs: " + ", ".join(t.label for t in outputs))
    return "\n".join(lines)
