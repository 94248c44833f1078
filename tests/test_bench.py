"""Smoke tests of the benchmark suite (bench/): it runs and reports; no timing is asserted."""

import os
import subprocess
import sys
from pathlib import Path

import polyback

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO_ROOT / "bench"


def test_quick_linreg_numpy_writes_tables(tmp_path):
    out = tmp_path / "results.md"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    command = [sys.executable, str(BENCH_DIR / "run.py"), "--quick", "--workload", "linreg"]
    command += ["--engines", "numpy", "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr

    for label in ("polyback/numpy", "NumPy (hand)"):
        assert label in done.stdout
    assert "contender" in done.stdout and "median" in done.stdout
    text = out.read_text()
    assert "## Linear-regression call" in text
    assert "| contender | build | first call | median |" in text
    assert "numpy engine call <= 30 µs median" in text
    # The loss of polyback's numpy engine agrees with the hand-written one.
    row = next(line for line in text.splitlines() if line.startswith("| polyback/numpy |"))
    assert row.endswith("| ok |")


def test_missing_engines_are_skipped_with_a_note(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH_DIR))
    import run

    monkeypatch.setattr(polyback, "available_backends", lambda: ["numpy"])
    monkeypatch.setattr(run, "installed", lambda package: package == "numpy")
    notes = []
    specs = run.contenders("linreg", ["numpy", "jax", "tf_keras"], notes)
    assert [s.label for s in specs] == ["polyback/numpy", "NumPy (hand)"]
    assert any(n.startswith("polyback/jax: skipped") for n in notes)
    assert any(n.startswith("jax.jit (hand): skipped") for n in notes)
    assert any(n.startswith("tf_keras K.function: skipped") for n in notes)
