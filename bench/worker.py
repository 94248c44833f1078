"""One contender in its own process, timed on request of ``run.py``.

A fresh process per contender keeps process-wide settings apart (tf_keras needs eager execution
off; polyback's JAX engine turns on ``jax_enable_x64``) and makes the build and first-call times
those of a fresh start. The library is imported and started before any timing starts. Each
round of timed calls begins with one untimed call: the first call after other processes ran is
slower (cold caches) and would weigh on the contenders with few calls per round.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
import traceback
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Spec:
    """What a worker runs: ``kind`` is "polyback", "hand" or "tf_keras"."""

    kind: str
    engine: str  # polyback engine name; "tensorflow" for tf_keras
    workload: str
    package: str  # imported before timing starts
    label: str


# Start each library's runtime (devices, thread pools) before the timing starts.
_STARTUP = {
    "jax": lambda jax: jax.devices(),
    "torch": lambda torch: torch.zeros(1) + 1,
    "tensorflow": lambda tf: tf.constant(0.0) + 1,
}


def _build(spec: Spec, data: dict):
    """Import and start the library, then return the (to be timed) build of the contender."""
    module = importlib.import_module(spec.package)
    if spec.package in _STARTUP:
        _STARTUP[spec.package](module)
    if spec.kind == "hand":
        import handwritten

        return lambda: handwritten.builder(spec.engine, spec.workload)(data)
    from workloads import KERAS_CODE

    code = KERAS_CODE[spec.workload]
    if spec.kind == "polyback":
        from polyback import backend as K

        return lambda: code(K, data, backend=spec.engine)
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()  # Keras 2.3's graph mode: placeholders, sessions
    from tf_keras import backend as K

    return lambda: code(K, data)


def _timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def serve(conn, spec: Spec, data: dict, warmup: int, log_path: str) -> None:
    """Set up ``spec``, answer "time n" requests with per-call nanoseconds, until "stop"."""
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["POLYBACK_BACKEND"] = "numpy"  # importing polyback loads no other engine
    try:
        build = _build(spec, data)
        step, build_s = _timed(build)
        # As a user's arrays: unpickled ones carry a dtype equal to NumPy's own but not the
        # same object, which polyback's feed check (by identity) would cast on every call.
        feeds = [a.astype(np.dtype(a.dtype.str)) for a in data["feeds"]]
        first, first_s = _timed(step, *feeds)
        second = step(*feeds)  # the loss after one update: checks the gradients too
        for _ in range(warmup):
            step(*feeds)
    except Exception:
        conn.send({"error": traceback.format_exc()})
        return
    losses = [np.array(first), np.array(second)]
    conn.send({"build_s": build_s, "first_s": first_s, "losses": losses})
    clock = time.perf_counter_ns
    while True:
        request = conn.recv()
        if request == "stop":
            return
        times = []
        try:
            step(*feeds)  # untimed: see the module's docstring
            for _ in range(request):
                start = clock()
                step(*feeds)
                times.append(clock() - start)
        except Exception:
            conn.send({"error": traceback.format_exc()})
            return
        conn.send(times)
