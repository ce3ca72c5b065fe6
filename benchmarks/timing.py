"""Latency measurement: warm-up, then many timed calls, interleaved across configurations.

Every call is timed on its own with `time.perf_counter_ns`. The configurations are
measured round-robin in small chunks (round 1: a few calls of A, of B, of C...;
round 2: the same again), so a change of the machine's load during the run hits
them all alike instead of whichever one happened to run at that moment. The
garbage collector is off while a chunk runs (as `timeit` does), and on between
chunks.
"""

from __future__ import annotations

import gc
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

STAT_KEYS = ("mean", "median", "p90", "p99", "std", "min", "max")


def stats(samples_ns, unit: float = 1e3) -> dict:
    """mean, median, p90, p99, std, min, max (in `unit` ns: microseconds by default) and n."""
    a = np.asarray(samples_ns, dtype=np.float64) / unit
    if a.size == 0:
        raise ValueError("no samples")
    p50, p90, p99 = np.percentile(a, (50, 90, 99))
    values = {"mean": a.mean(), "median": p50, "p90": p90, "p99": p99,
              "std": a.std(ddof=1) if a.size > 1 else 0.0, "min": a.min(), "max": a.max()}
    # 3 decimals (1 ns for microseconds); rounding keeps min <= median <= p90 <= p99 <= max
    return {"n": int(a.size), **{k: round(float(v), 3) for k, v in values.items()}}


def round_medians(samples_ns, rounds: int, unit: float = 1e3) -> list[float]:
    """The median of each round's share of the samples (interleave() takes them in order, an equal
    share per round): how the machine's speed moved during the run."""
    chunks = np.array_split(np.asarray(samples_ns, dtype=np.float64) / unit, max(1, min(rounds, len(samples_ns))))
    return [round(float(np.median(c)), 1) for c in chunks if c.size]


@dataclass
class Task:
    """One thing to time: `fn()` called `runs` times after `warmup` untimed calls.

    `before()`, when given, runs untimed before the warm-up and before every chunk:
    it puts back per-configuration process state (OpenCV's thread count) that the
    other configurations' chunks change.
    """

    key: str
    fn: Callable[[], object]
    runs: int
    warmup: int = 0
    before: Callable[[], object] | None = None
    samples: list[int] = field(default_factory=list)
    error: str | None = None


def time_calls(fn: Callable[[], object], count: int, into: list[int]) -> None:
    clock = time.perf_counter_ns
    for _ in range(count):
        start = clock()
        fn()
        into.append(clock() - start)


def interleave(tasks: list[Task], rounds: int = 20) -> list[Task]:
    """Warm every task up, then time them round-robin: each round runs a chunk of every task.

    Each task's runs are spread evenly over the rounds, so a task with fewer runs (a
    slow Keras call) still spans the whole measurement. A task that raises stops being
    timed and keeps the error; the others go on.
    """
    for t in tasks:
        try:
            if t.before:
                t.before()
            for _ in range(t.warmup):
                t.fn()
        except Exception as e:  # reported per configuration
            t.error = f"{type(e).__name__}: {e}"
    live = [t for t in tasks if t.error is None]
    rounds = max(1, min([rounds] + [t.runs for t in live]))
    for r in range(rounds):
        for t in live:
            if t.error is not None:
                continue
            # calls so far after this round, spread evenly: sums to exactly t.runs
            want = math.floor(t.runs * (r + 1) / rounds) - len(t.samples)
            gc_was = gc.isenabled()
            try:
                if t.before:
                    t.before()
                gc.disable()
                time_calls(t.fn, want, t.samples)
            except Exception as e:
                t.error = f"{type(e).__name__}: {e}"
            finally:
                if gc_was:
                    gc.enable()
    return tasks
