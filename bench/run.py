"""Benchmark polyback against the same code written by hand and against tf_keras.

Run ``make bench`` or ``python bench/run.py --help``. Each contender runs in its own process;
after each has been built and called once (one at a time), all are timed in interleaved rounds,
in a new random order each round, so that load from elsewhere on the machine hits all alike.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import multiprocessing
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import report
import worker
import workloads
from handwritten import LABELS, PACKAGES

ENGINES = ["numpy", "jax", "torch", "tensorflow", "theano"]
ALIASES = {"pytensor": "theano", "tf": "tensorflow", "pytorch": "torch", "tf-keras": "tf_keras"}
WORKLOADS = {"otto": "Otto step", "linreg": "Linear-regression call"}
REPEATS = {"otto": 120, "linreg": 5000}  # timed calls per contender
WARMUP = {"otto": 2, "linreg": 20}  # untimed calls after the first two
ROUNDS, QUICK_ROUNDS = 40, 2
# Processes per contender, taking turns round by round: one process's speed can differ from
# another's of the same code by 30% and more (JAX's CPU runtime most), which one process per
# contender would credit to the contender.
PROCESSES = 3
SETTLE_S = 0.5  # the longest wait for a contender's process to go idle
PAUSE_S = 0.1  # the wait instead, where the process's CPU time cannot be read
SETUP_TIMEOUT_S, ROUND_TIMEOUT_S = 600, 300
BENCH_DIR = Path(__file__).resolve().parent


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=["otto", "linreg", "all"], default="all")
    parser.add_argument(
        "--engines",
        default=",".join([*ENGINES, "tf_keras"]),
        help="comma-separated: numpy, jax, torch, tensorflow, theano (pytensor), tf_keras; each "
        "engine brings polyback on it and its hand-written version; hand-written NumPy, the "
        "reference, always runs (default: all)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        help="timed calls per contender "
        f"(default: {REPEATS['otto']} Otto steps, {REPEATS['linreg']} linreg calls)",
    )
    parser.add_argument("--rounds", type=int, help=f"interleaved rounds (default {ROUNDS})")
    parser.add_argument(
        "--processes",
        type=int,
        help=f"processes per contender, taking turns (default {PROCESSES}; 1 with --quick)",
    )
    parser.add_argument("--quick", action="store_true", help="a few calls only: a smoke test")
    parser.add_argument("--data", help="Otto train.csv(.zip); default: the shared data folder")
    parser.add_argument(
        "--out",
        help="markdown file to write (default: bench/results.md for a full run, "
        "bench/results/partial.md with --quick, --workload or --engines)",
    )
    parser.add_argument("--json", help="also write every timing, raw, to this JSON file")
    args = parser.parse_args(argv)
    names = [ALIASES.get(e, e) for e in args.engines.replace(" ", "").lower().split(",") if e]
    unknown = sorted(set(names) - {*ENGINES, "tf_keras"})
    if unknown:
        parser.error(f"unknown engines {unknown}; choose from {[*ENGINES, 'tf_keras']}")
    args.engines = names
    partial = args.quick or args.workload != "all" or set(names) != {*ENGINES, "tf_keras"}
    default_out = BENCH_DIR / ("results/partial.md" if partial else "results.md")
    args.out = Path(args.out) if args.out else default_out
    return args


def installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def contenders(workload: str, engines: list[str], notes: list[str]) -> list[worker.Spec]:
    """The contenders to run, in table order; what cannot run is skipped with a note."""
    import polyback

    available = polyback.available_backends()
    specs = []
    for engine in ENGINES:
        package = PACKAGES[engine]
        if engine in engines:
            if engine in available:
                specs.append(
                    worker.Spec("polyback", engine, workload, package, f"polyback/{engine}")
                )
            else:
                notes.append(
                    f"polyback/{engine}: skipped, the engine is not available "
                    "(not in this version of polyback, or its package is not installed)"
                )
        if engine in engines or engine == "numpy":
            label = f"{LABELS[engine]} (hand)"
            if installed(package):
                specs.append(worker.Spec("hand", engine, workload, package, label))
            else:
                notes.append(f"{label}: skipped, {package} is not installed")
    if "tf_keras" in engines:
        if installed("tensorflow") and installed("tf_keras"):
            specs.append(
                worker.Spec("tf_keras", "tensorflow", workload, "tf_keras", "tf_keras K.function")
            )
        else:
            notes.append("tf_keras K.function: skipped, tensorflow or tf_keras is not installed")
    return specs


def cpu_ns(pid: int) -> int | None:
    """CPU time used so far by all threads of process ``pid`` (Linux), or None."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    total = 0
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that ended meanwhile
    return total


def settle(pid: int) -> None:
    """Wait until process ``pid`` is idle.

    Worker threads of some libraries spin on after a call (OpenBLAS's for about 100 ms, using a
    whole core): left alone, they would take a core from the next contender timed.
    """
    last = cpu_ns(pid)
    if last is None:
        time.sleep(PAUSE_S)
        return
    deadline = time.perf_counter() + SETTLE_S
    while time.perf_counter() < deadline:
        time.sleep(0.005)
        now = cpu_ns(pid)
        if now is None or now - last < 500_000:  # under a tenth of a core over 5 ms
            return
        last = now


class Contender:
    """A worker process and what it measured."""

    def __init__(self, ctx, spec: worker.Spec, data: dict, warmup: int, log_dir: Path, k: int):
        self.result = report.Result(spec)
        self.log = log_dir / f"{spec.workload}-{spec.kind}-{spec.engine}-{k}.log"
        self.conn, child = ctx.Pipe()
        args = (child, spec, data, warmup, str(self.log))
        self.process = ctx.Process(target=worker.serve, args=args, daemon=True)
        self.process.start()
        child.close()

    def receive(self, timeout: float):
        """The worker's reply; records an error (and returns None) if it failed or died."""
        try:
            if not self.conn.poll(timeout):
                raise TimeoutError(f"no answer within {timeout:.0f} s")
            reply = self.conn.recv()
        except (EOFError, OSError, TimeoutError) as exc:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            reply = {"error": f"{tail}\nworker process lost: {exc!r}"}
        if isinstance(reply, dict) and "error" in reply:
            self.result.error = reply["error"]
            self.stop()
            return None
        return reply

    def stop(self) -> None:
        if self.process.is_alive():
            try:
                self.conn.send("stop")
            except OSError:
                pass
            self.process.join(10)
            if self.process.is_alive():
                self.process.terminate()
                self.process.join()


def run_workload(workload: str, specs, data: dict, args) -> list[report.Result]:
    """Set up every contender alone, then time them all in interleaved rounds."""
    ctx = multiprocessing.get_context("spawn")
    warmup = 1 if args.quick else WARMUP[workload]
    repeats = args.repeats or (max(4, REPEATS[workload] // 50) if args.quick else REPEATS[workload])
    rounds = min(repeats, args.rounds or (QUICK_ROUNDS if args.quick else ROUNDS))
    per_round = math.ceil(repeats / rounds)
    processes = args.processes or (1 if args.quick else PROCESSES)
    results, live = [], []  # live: each contender's processes, the first one's result shared
    with tempfile.TemporaryDirectory(prefix="polyback-bench-") as log_dir:
        for spec in specs:
            print(f"  set-up {spec.label} ...", end=" ", flush=True)
            result = report.Result(spec)
            results.append(result)
            group = []
            for k in range(processes):
                contender = Contender(ctx, spec, data, warmup, Path(log_dir), k)
                group.append(contender)
                reply = contender.receive(SETUP_TIMEOUT_S)
                settle(contender.process.pid)
                if reply is None:
                    result.error = contender.result.error
                    break
                contender.result = result  # every process adds its rounds to one result
                if k == 0:  # set-up times of a fresh start (later processes find warm caches)
                    result.build_s, result.first_s = reply["build_s"], reply["first_s"]
                    result.losses = reply["losses"]
            if result.error:
                for contender in group:
                    contender.stop()
                print("FAILED:", result.error.strip().splitlines()[-1])
                continue
            live.append(group)
            print(
                f"build {report.fmt_time(result.build_s)}, "
                f"first call {report.fmt_time(result.first_s)}"
            )
        print(
            f"  {rounds} rounds of {per_round} calls per contender, {processes} processes each "
            "taking turns:",
            end="",
            flush=True,
        )
        order = random.Random(workloads.SEED)
        for k in range(rounds):
            order.shuffle(live)
            for group in list(live):
                contender = group[k % len(group)]
                contender.conn.send(per_round)
                times = contender.receive(ROUND_TIMEOUT_S)
                settle(contender.process.pid)
                if times is None:
                    live.remove(group)
                    for other in group:
                        other.stop()
                else:
                    contender.result.rounds.append(times)
            print(f" {k + 1}", end="", flush=True)
        print()
        for group in live:
            for contender in group:
                contender.stop()
    return results


METHOD = """\
Method. Each contender runs in {processes} fresh processes of its own, which take turns round
by round (two processes running the same code can differ in speed by 30% and more, JAX's most,
which one process per contender would credit to the contender): polyback on each engine
(`K.function(..., backend=name)`), the same step written by hand with each library
(`bench/handwritten.py`: NumPy with a hand-derived gradient; `jax.jit` of `jax.value_and_grad`;
eager PyTorch autograd; `tf.function` with `tf.GradientTape` and `assign_sub`;
`pytensor.function` with shared variables), and the Keras 2.3 code itself on `tf_keras.backend`
in graph mode. Every call is fed the NumPy arrays (float64 cast to float32 with NumPy) and
returns the loss as NumPy; weights stay inside the library. *build* is the first construction
(graph and function, or the hand-written set-up; the library is imported and started
beforehand), *first call* the first call (where lazy compilers compile); both are single
measurements in the first process (PyTensor's are those of a warm on-disk cache of compiled C
code once it has run before on the machine). After a few untimed warm-up calls, all contenders
are timed call by call in {rounds} interleaved rounds, in a new random order each round, each
round's first call untimed, and each process left to go idle before the next runs (OpenBLAS's
threads, for one, spin on for about 100 ms after a call); *median*, *p10*, *p90* are over all
timed calls. Ratios are the median over rounds of (median call / the other's median call in
the same round), with the interquartile range over rounds in brackets: absolute times depend
on what else runs on the machine (see the load averages above), ratios paired round by round
much less. *check* compares the first loss with hand-written NumPy's (elementwise, rtol
{rtol:.0e}, atol {atol:.0e}) and the mean loss after one update (rtol {second:.0e})."""


def markdown(
    sections: list[str], info: dict[str, str], argv: list[str], rounds: int, processes: int
) -> str:
    shown = []  # the options that change what is measured, not where the output goes
    for arg, previous in zip(argv, [None, *argv]):
        if not arg.startswith(("--out", "--json")) and previous not in ("--out", "--json"):
            shown.append(arg)
    command = " ".join(["python bench/run.py", *shown])
    lines = ["# polyback benchmarks", "", f"Written by `{command}` (`make bench` runs it).", ""]
    lines += ["| machine | |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in info.items()]
    tolerances = {
        "rtol": report.FIRST_RTOL,
        "atol": report.FIRST_ATOL,
        "second": report.SECOND_RTOL,
    }
    method = METHOD.format(rounds=rounds, processes=processes, **tolerances)
    lines += ["", method, ""]
    return "\n".join(lines + sections)


def section(workload: str, results, notes: list[str]) -> str:
    lines = [f"## {WORKLOADS[workload]}", "", workloads.DESCRIPTIONS[workload] + ".", ""]
    if results:
        lines += [report.markdown_table(results), "", "Targets:", ""]
        lines += [f"- {t}" for t in report.targets(workload, results)]
    lines += [f"- {n}" if k else f"\nNotes:\n\n- {n}" for k, n in enumerate(notes)]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    info = report.machine_info()
    info["load average (1 min) at start"] = f"{os.getloadavg()[0]:.2f}"
    sections, raw = [], {}
    for workload in ["otto", "linreg"] if args.workload == "all" else [args.workload]:
        print(f"{WORKLOADS[workload]}:", flush=True)
        notes: list[str] = []
        try:
            data = workloads.load(workload, args.data)
        except (FileNotFoundError, ImportError) as exc:
            notes.append(f"skipped: {exc}")
            print(f"  skipped: {exc}")
            sections.append(section(workload, [], notes))
            continue
        specs = contenders(workload, args.engines, notes)
        results = run_workload(workload, specs, data, args)
        report.check_losses(results)
        for r in results:
            if r.error:
                notes.append(f"{r.spec.label} failed: {r.error.strip().splitlines()[-1]}")
        print(report.text_table(results))
        for line in [*report.targets(workload, results), *notes]:
            print("  " + line.replace("**", ""))
        sections.append(section(workload, results, notes))
        raw[workload] = [report.raw(r) for r in results]
    info["load average (1 min) at end"] = f"{os.getloadavg()[0]:.2f}"
    rounds = args.rounds or (QUICK_ROUNDS if args.quick else ROUNDS)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    processes = args.processes or (1 if args.quick else PROCESSES)
    args.out.write_text(markdown(sections, info, argv, rounds, processes))
    print(f"wrote {args.out}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "results": raw}, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
