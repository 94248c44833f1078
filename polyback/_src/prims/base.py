"""The Primitive: one operation's whole contract except its lowerings.

A primitive declares
- ``infer(*input_types, **params) -> TensorType``: shape and dtype of the result; raises
  ``InferenceError`` with a short reason, which is reported with the op and the input types;
- ``vjp(node, g) -> tuple``: the gradient of each input given the output gradient ``g``, built
  from other primitives (so gradients can be differentiated again); None for no gradient;
- ``fold(inputs, params, out_type) -> Tensor | None``: an optional rewrite applied when a graph is
  specialised to concrete shapes (shape queries become constants, no-op broadcasts vanish);
- ``examples``: test rows, each a set of input arrays and params with a NumPy reference.

Each engine lowers primitives by name in its own table (``polyback/_src/engines/``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from polyback._src.ir.tensor import Node, Tensor, TensorType

PRIMITIVES: dict[str, Primitive] = {}


class InferenceError(ValueError):
    """Raised by ``infer`` when inputs do not fit the primitive."""


@dataclass
class Example:
    """A test row: ``reference(*inputs, **params)`` is what the primitive must compute.

    ``grad`` says whether a finite-difference gradient check applies to the float inputs.
    """

    inputs: Sequence[np.ndarray]
    reference: Callable[..., np.ndarray]
    params: dict[str, Any] = field(default_factory=dict)
    grad: bool = True


class Primitive:
    """An operation of the IR. Call it with tensors and keyword params to add a node."""

    def __init__(
        self,
        name: str,
        infer: Callable[..., TensorType],
        vjp: Callable[[Node, Tensor], tuple] | None = None,
        fold: Callable[..., Tensor | None] | None = None,
        examples: Sequence[Example] = (),
        symbolic_only: bool = False,
        effectful: bool = False,
    ):
        if name in PRIMITIVES:
            raise ValueError(f"primitive {name!r} is defined twice")
        self.name = name
        self.infer = infer
        self.vjp = vjp
        self.fold = fold
        self.examples = list(examples)
        #: True for primitives that specialisation always folds away: engines never lower them.
        self.symbolic_only = symbolic_only
        #: True for primitives with an effect when run (printing): never computed ahead of time.
        self.effectful = effectful
        PRIMITIVES[name] = self

    def __call__(self, *inputs: Tensor, **params: Any) -> Tensor:
        for i in inputs:
            if not isinstance(i, Tensor):
                raise TypeError(f"{self.name}: expected tensors, got {type(i).__name__}")
        try:
            out_type = self.infer(*(i.type for i in inputs), **params)
        except InferenceError as exc:
            shown = ", ".join(f"{i.label}: {i.type}" for i in inputs)
            raise InferenceError(f"{self.name}({shown}): {exc}") from None
        node = Node(self, tuple(inputs), params)
        node.output = Tensor(out_type, node)
        return node.output

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


def describe(name: str) -> str:
    """Everything polyback knows about one primitive: docs, gradient and which engines lower it."""
    from polyback._src.engines import ENGINES, lowering_table

    prim = PRIMITIVES[name]
    lines = [f"primitive {name}", f"  inference: {prim.infer.__name__}"]
    lines.append(f"  gradient: {prim.vjp.__name__ if prim.vjp else 'none'}")
    if prim.symbolic_only:
        lines.append("  folded away when a graph is specialised; no engine lowers it")
    else:
        for engine in ENGINES:
            has = name in lowering_table(engine)
            lines.append(f"  {engine}: {'lowered' if has else 'MISSING'}")
    lines.append(f"  test rows: {len(prim.examples)}")
    return "\n".join(lines)


def scalar(value: float, dtype: str) -> Tensor:
    """A scalar constant of ``dtype`` (used by gradient rules)."""
    from polyback._src.ir.tensor import Constant

    return Constant(np.asarray(value, dtype=dtype))


def sample(*shape: int, low: float = -2.0, high: float = 2.0, seed: int = 0) -> np.ndarray:
    """Deterministic float64 test input of ``shape`` in [low, high)."""
    rng = np.random.default_rng(seed + 7 * len(shape) + sum(shape))
    return rng.uniform(low, high, size=shape)
