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
    """Each engine's results and their largest differences from the reference engine's.

    Attributes:
        reference: the engine the others are compared with (``"numpy"`` by default).
        labels: one name per compared result: ``"output k"``, then ``"update of 'w'"``.
        results: engine -> its results as NumPy arrays, in the order of ``labels``.
        errors: engine -> what it raised (``"TypeName: message"``); such an engine has no
            results and its differences are infinite.

    Differences are measured per result and the largest over all results is reported. Positions
    where either side is NaN or +-inf are compared as values: the same non-finite value on both
    sides is no difference; any other is a non-finite mismatch (counted by
    ``nonfinite_mismatches``) and makes both differences infinite. A result of another shape
    also makes them infinite.
    """

    reference: str
    labels: list[str]
    results: dict[str, list[np.ndarray]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def max_abs_diff(self, engine: str) -> float:
        """Largest ``|a - ref|`` where both sides are finite; inf on any non-finite mismatch."""
        return max((d[0] for d in self._diffs(engine)), default=0.0)

    def max_rel_diff(self, engine: str) -> float:
        """Largest norm-wise relative difference, ``max |a - ref| / max |ref|`` per result.

        Both maxima are taken where both sides are finite, so a difference next to a zero of
        the reference is scaled by the result's magnitude, not by that zero. A reference that is
        all zeros gives 0 where ``a`` equals it and inf otherwise; a non-finite mismatch gives inf.
        """
        return max((d[1] for d in self._diffs(engine)), default=0.0)

    def nonfinite_mismatches(self, engine: str) -> int:
        """How many positions hold NaN or +-inf on one side and something else on the other."""
        return sum(d[2] for d in self._diffs(engine))

    def _diffs(self, engine: str) -> list[tuple[float, float, int]]:
        if engine in self.errors:
            return [(np.inf, np.inf, 0)]
        return [_diff(a, b) for a, b in zip(self.results[engine], self.results[self.reference])]

    def __str__(self) -> str:
        rows = [f"{'engine':<12}{'max abs diff':>16}{'max rel diff':>16}{'NaN/inf mismatches':>20}"]
        for engine in [*self.results, *self.errors]:
            if engine in self.errors:
                rows.append(f"{engine:<12}  failed: {self.errors[engine]}")
            elif engine == self.reference:
                rows.append(f"{engine:<12}{'(reference)':>16}")
            else:
                abs_diff, rel_diff = self.max_abs_diff(engine), self.max_rel_diff(engine)
                count = self.nonfinite_mismatches(engine)
                rows.append(f"{engine:<12}{abs_diff:>16.3g}{rel_diff:>16.3g}{count:>20}")
        return "\n".join(rows)


def _diff(a: np.ndarray, ref: np.ndarray) -> tuple[float, float, int]:
    """(max abs diff, norm-wise relative diff, non-finite mismatches) of one result."""
    if a.shape != ref.shape:
        return np.inf, np.inf, 0
    a, ref = a.astype("float64"), ref.astype("float64")
    finite = np.isfinite(a) & np.isfinite(ref)
    same = (a == ref) | (np.isnan(a) & np.isnan(ref))
    mismatches = int(np.count_nonzero(~finite & ~same))
    if mismatches:
        return np.inf, np.inf, mismatches
    a, ref = np.where(finite, a, 0.0), np.where(finite, ref, 0.0)
    abs_diff = float(np.max(np.abs(a - ref), initial=0.0))
    scale = float(np.max(np.abs(ref), initial=0.0))
    rel_diff = abs_diff / scale if scale else (np.inf if abs_diff else 0.0)
    return abs_diff, rel_diff, 0


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

    Returns a ``Comparison``: print it for a table, or read ``results``, ``errors``,
    ``max_abs_diff(engine)``, ``max_rel_diff(engine)`` and ``nonfinite_mismatches(engine)``
    (their measures are described there). An engine that raises is reported in ``errors``, but
    if the reference engine raises, the inputs or the computation are wrong: that error is
    raised again (same type where possible), its message naming the failed reference run.
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
                if engine == reference:
                    raise _reference_failed(reference, exc) from exc
                comparison.errors[engine] = f"{type(exc).__name__}: {exc}"
    finally:
        for source, state in zip(sources, states):
            source.generator.bit_generator.state = state
    return comparison


def _reference_failed(reference: str, exc: Exception) -> Exception:
    """``exc`` again, of the same type where possible, saying that the reference run failed."""
    message = (
        f"compare_backends: the reference ({reference}) run failed, so the computation or its "
        f"inputs are wrong on every engine: {type(exc).__name__}: {exc}"
    )
    try:
        return type(exc)(message)
    except Exception:  # noqa: BLE001 - an exception type that takes other arguments
        return RuntimeError(message)
