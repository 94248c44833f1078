"""``compare_backends``: run one computation on every installed engine and report differences."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from polyback._src.compile import Function
from polyback._src.engines import available_engines, canonical_name
from polyback._src.ir.graph import Graph
from polyback._src.ir.tensor import Placeholder, Tensor


@dataclass
class Comparison:
    """Largest differences of each engine's results from the reference engine's."""

    reference: str
    labels: list[str]
    results: dict[str, list[np.ndarray]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # engine -> what it raised

    def max_abs_diff(self, engine: str) -> float:
        """Largest absolute difference over all results of ``engine``."""
        return max((_abs(a, b) for a, b in self._pairs(engine)), default=0.0)

    def max_rel_diff(self, engine: str) -> float:
        """Largest relative difference (scaled by the reference's magnitude, at least 1e-30)."""
        return max((_rel(a, b) for a, b in self._pairs(engine)), default=0.0)

    def _pairs(self, engine):
        if engine in self.errors or self.reference in self.errors:
            return [(np.array(np.inf), np.array(0.0))]
        return zip(self.results[engine], self.results[self.reference])

    def __str__(self) -> str:
        rows = [f"{'engine':<12}{'max abs diff':>16}{'max rel diff':>16}"]
        for engine in [*self.results, *self.errors]:
            if engine in self.errors:
                rows.append(f"{engine:<12}  failed: {self.errors[engine]}")
            elif engine == self.reference:
                rows.append(f"{engine:<12}{'(reference)':>16}{'':>16}")
            else:
                abs_diff, rel_diff = self.max_abs_diff(engine), self.max_rel_diff(engine)
                rows.append(f"{engine:<12}{abs_diff:>16.3g}{rel_diff:>16.3g}")
        return "\n".join(rows)


def _abs(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a.astype("float64") - b.astype("float64"))))


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    b64 = b.astype("float64")
    scale = np.maximum(np.abs(b64), 1e-30)
    return float(np.max(np.abs(a.astype("float64") - b64) / scale))


def compare_backends(
    function_or_outputs: Function | Tensor | Sequence[Tensor],
    inputs: Sequence | Mapping[Placeholder, object] = (),
    backends: Sequence[str] | None = None,
    reference: str = "numpy",
) -> Comparison:
    """Run one computation on each engine and compare with ``reference``.

    ``function_or_outputs`` is a ``K.function`` (then ``inputs`` is its list of arrays; its
    updates are computed and compared but not applied) or tensors (then ``inputs`` maps each
    placeholder they need to an array). No Variable is changed.
    """
    if isinstance(function_or_outputs, Function):
        f = function_or_outputs
        placeholders, tensors = f.inputs, [*f.outputs, *f.update_values]
        arrays = list(inputs)
        labels = [f"output {k}" for k in range(len(f.outputs))]
        labels += [f"update of '{v.label}'" for v, _ in f.updates]
    else:
        tensors = (
            [function_or_outputs]
            if isinstance(function_or_outputs, Tensor)
            else list(function_or_outputs)
        )
        feeds = dict(inputs)
        placeholders = Graph(tensors).placeholders
        missing = [p.label for p in placeholders if p not in feeds]
        if missing:
            raise ValueError(f"compare_backends: no value given for placeholder(s) {missing}")
        arrays = [feeds[p] for p in placeholders]
        labels = [f"output {k}" for k in range(len(tensors))]
    engines = [canonical_name(b) for b in (backends or available_engines())]
    reference = canonical_name(reference)
    order = [reference, *(e for e in engines if e != reference)]
    comparison = Comparison(reference, labels)
    # Every engine sees the same random numbers, and the user's random streams are left as
    # they were: each source's generator is rewound before each run and after the last.
    sources = [n.params["source"] for n in Graph(tensors).nodes if n.prim.name == "random"]
    states = [copy.deepcopy(s.generator.bit_generator.state) for s in sources]
    try:
        for engine in order:
            for source, state in zip(sources, states):
                source.generator.bit_generator.state = copy.deepcopy(state)
            try:
                run = Function(list(placeholders), list(tensors), backend=engine)
                comparison.results[engine] = [np.asarray(r) for r in run(arrays)]
            except Exception as exc:  # noqa: BLE001 - reported per engine
                comparison.errors[engine] = f"{type(exc).__name__}: {exc}"
    finally:
        for source, state in zip(sources, states):
            source.generator.bit_generator.state = state
    return comparison
