"""Statistics, correctness checks, targets and the text and markdown tables."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
from worker import Spec

REFERENCE = ("hand", "numpy")  # hand-written NumPy: the reference for speed and correctness
FIRST_RTOL = 1e-4  # first-step loss, elementwise ...
FIRST_ATOL = 1e-5  # ... with float32 rounding of y / sum(y) near 1 as the floor for losses near 0
SECOND_RTOL = 1e-3  # mean loss after one update (rows with sum(y) near 0 amplify rounding)
LINREG_TARGET_S = 30e-6
PACKAGES = ("numpy", "jax", "jaxlib", "torch", "tensorflow", "tf-keras", "pytensor", "polyback")


@dataclass
class Result:
    """What one contender measured: per-call nanoseconds, grouped by round."""

    spec: Spec
    build_s: float | None = None
    first_s: float | None = None
    losses: list | None = None
    rounds: list[list[int]] = field(default_factory=list)
    error: str | None = None
    check: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.spec.kind, self.spec.engine)

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.rounds)

    def seconds(self) -> np.ndarray:
        return np.concatenate([np.asarray(r, dtype=float) for r in self.rounds]) * 1e-9

    def quantile(self, q: float) -> float:
        return float(np.quantile(self.seconds(), q))


def raw(result: Result) -> dict:
    """Everything ``result`` measured, for JSON: times in seconds, per-call ones in ns."""
    return {
        "label": result.spec.label,
        "build_s": result.build_s,
        "first_call_s": result.first_s,
        "rounds_ns": result.rounds,
        "error": result.error,
        "check": result.check,
    }


def paired_ratio(a: Result, b: Result) -> tuple[float, float, float] | None:
    """Median and quartiles over rounds of (a's median call / b's median call) in that round."""
    if not (a.ok and b.ok):
        return None
    ratios = [np.median(x) / np.median(y) for x, y in zip(a.rounds, b.rounds) if x and y]
    if not ratios:
        return None
    return tuple(float(v) for v in np.quantile(ratios, [0.5, 0.25, 0.75]))


def counterpart(result: Result, by_key: dict) -> Result | None:
    """The hand-written version of the same engine (TensorFlow's for tf_keras)."""
    if result.spec.kind == "hand":
        return None
    return by_key.get(("hand", result.spec.engine))


def check_losses(results: list[Result]) -> None:
    """Set each result's ``check``: do its losses agree with hand-written NumPy's?"""
    ref = next((r for r in results if r.key == REFERENCE and r.losses is not None), None)
    for r in results:
        if r.losses is None or ref is None:
            r.check = "" if r.losses is not None or r.error else "-"
            continue
        first, second = (np.asarray(v, dtype=np.float64) for v in r.losses)
        ref_first, ref_second = (np.asarray(v, dtype=np.float64) for v in ref.losses)
        problems = []
        if first.shape != ref_first.shape:
            problems.append(f"loss shape {first.shape} != {ref_first.shape}")
        elif not np.allclose(first, ref_first, rtol=FIRST_RTOL, atol=FIRST_ATOL):
            off = ~np.isclose(first, ref_first, rtol=FIRST_RTOL, atol=FIRST_ATOL)
            err = np.max(np.abs(first - ref_first)[off] / np.abs(ref_first)[off])
            problems.append(f"WARNING: first loss off in {off.sum()} of {off.size} (rel {err:.1e})")
        elif not np.isclose(second.mean(), ref_second.mean(), rtol=SECOND_RTOL, atol=0):
            err = abs(second.mean() / ref_second.mean() - 1)
            problems.append(f"WARNING: loss after one update off (rel err {err:.1e})")
        r.check = "; ".join(problems) or "ok"


# -- formatting ------------------------------------------------------------------------------


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_ratio(ratio, spread: bool = False) -> str:
    if ratio is None:
        return "-"
    text = f"{ratio[0]:.2f}x"
    return f"{text} ({ratio[1]:.2f}-{ratio[2]:.2f})" if spread else text


HEADERS = ["contender", "build", "first call", "median", "p10", "p90", "vs own hand", "vs NumPy"]


def rows(results: list[Result], spread: bool = False) -> list[list[str]]:
    """One table row per contender."""
    by_key = {r.key: r for r in results}
    ref = by_key.get(REFERENCE)
    table = []
    for r in results:
        row = [r.spec.label, fmt_time(r.build_s), fmt_time(r.first_s)]
        if r.ok:
            row += [fmt_time(r.quantile(q)) for q in (0.5, 0.1, 0.9)]
            own = counterpart(r, by_key)
            row.append(fmt_ratio(own and paired_ratio(r, own), spread))
            row.append(fmt_ratio(None if r is ref else ref and paired_ratio(r, ref), spread))
        else:
            row += ["-"] * 5
        row.append(r.check if not r.error else "ERROR: " + r.error.strip().splitlines()[-1])
        table.append(row)
    return table


def text_table(results: list[Result]) -> str:
    table = [[*HEADERS, "check"], *rows(results)]
    widths = [max(len(row[k]) for row in table) for k in range(len(table[0]))]
    lines = [
        "  ".join(
            c.ljust(w) if k == 0 else c.rjust(w) for k, (c, w) in enumerate(zip(row, widths))
        ).rstrip()
        for row in table
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def markdown_table(results: list[Result]) -> str:
    headers = [*HEADERS, "check"]
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join([" --- "] + [" ---: "] * (len(headers) - 2) + [" --- "]) + "|",
    ]
    for row in rows(results, spread=True):
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n".join(lines)


# -- targets ---------------------------------------------------------------------------------


def _verdict(value: float, limit: float, spread: tuple | None = None) -> str:
    verdict = "met" if value <= limit else "**MISSED**"
    if spread is not None and spread[0] <= limit < spread[1]:
        verdict += " (within noise: the interquartile range spans the target)"
    return verdict


def _ratio_target(ratio, limit: float) -> str:
    if not ratio:
        return "n/a"
    return f"{fmt_ratio(ratio, True)} - {_verdict(ratio[0], limit, ratio[1:])}"


def targets(workload: str, results: list[Result]) -> list[str]:
    """One markdown bullet per target: what was asked, what was measured, met or missed."""
    by_key = {r.key: r for r in results if r.ok}
    poly = [r for r in results if r.spec.kind == "polyback" and r.ok]
    engine = by_key.get(("polyback", "numpy"))
    lines = []
    if workload == "linreg":
        if engine is None:
            lines.append("numpy engine call <= 30 µs median: n/a (not measured)")
        else:
            median = engine.quantile(0.5)
            lines.append(
                f"numpy engine call <= 30 µs median: {fmt_time(median)} - "
                f"{_verdict(median, LINREG_TARGET_S)}"
            )
    else:
        ref = by_key.get(REFERENCE)
        ratio = engine and ref and paired_ratio(engine, ref)
        lines.append("numpy engine <= 1.0x hand-written NumPy: " + _ratio_target(ratio, 1.0))
    for r in poly:
        own = by_key.get(("hand", r.spec.engine))
        ratio = own and paired_ratio(r, own)
        lines.append(
            f"{r.spec.label} within 1.1x of {own.spec.label if own else 'its hand-written'}: "
            + _ratio_target(ratio, 1.1)
        )
    if workload == "linreg":
        return lines
    keras = by_key.get(("tf_keras", "tensorflow"))
    if poly and keras:
        fastest = min(poly, key=lambda r: r.quantile(0.5))
        ratio = paired_ratio(fastest, keras)
        lines.append(
            f"fastest polyback engine ({fastest.spec.label}) <= 0.5x tf_keras K.function: "
            + _ratio_target(ratio, 0.5)
        )
    else:
        lines.append("fastest polyback engine <= 0.5x tf_keras K.function: n/a (not measured)")
    return lines


# -- machine ---------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str:
    root = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine_info() -> dict[str, str]:
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "CPU": cpu_model(),
        "cores": f"{len(os.sched_getaffinity(0))} usable ({os.cpu_count()} in the machine)",
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "libraries": ", ".join(versions),
        "polyback commit": git_commit(),
    }
