"""Script: python -m digitedge.benchmarks.memory '<json>': peak memory of one configuration (run by bench).

Memory is per process and its high-water mark never goes down, so measuring all
models in the benchmark's own process would give every one the peak of the
biggest (and of TensorFlow, once a Keras model was loaded). Each configuration
therefore runs in a child: import the runtime, note the resident set size (RSS),
load the model, run the predict path on the test photo a few times, then report
the process's peak RSS (VmHWM, else getrusage's ru_maxrss) and the RSS the model added.

`digitedge bench` calls measure(), which runs this module as a child with the
configuration as JSON; the child prints one JSON line and writes no file.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

TIMEOUT_S = 300
CALLS = 10


def rss_mb() -> float:
    """The current resident set size, from /proc (0.0 where there is none)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """This process's RSS high-water mark.

    /proc's VmHWM first: getrusage's ru_maxrss survives fork and exec, so a child
    started by a big parent would report the parent's peak as its own.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def child(args: dict) -> dict:
    from .common import import_keras
    from .targets import KERAS, Spec, build, fix_opencv_threads

    spec = Spec(args["name"], Path(args["path"]), args["kind"], args["runtime"], args["threads"])
    photo = np.load(args["photo"])
    # Import the runtime first, so "before" holds Python, numpy, OpenCV and the interpreter.
    if spec.kind == KERAS:
        import_keras(spec.threads)
    else:
        from digitedge.edge_runtime import preprocess, recognizer  # noqa: F401

    fix_opencv_threads(spec.threads)
    before = rss_mb()
    target = build(spec, photo)
    for _ in range(CALLS):
        target.predict()
        target.invoke()
    return {"peak_rss_mb": round(peak_rss_mb(), 1), "rss_before_load_mb": round(before, 1),
            "model_rss_mb": round(rss_mb() - before, 1)}


def measure(spec, photo: np.ndarray) -> dict:
    """{peak_rss_mb, rss_before_load_mb, model_rss_mb}, or {error} when the child failed."""
    with tempfile.TemporaryDirectory(prefix="digitedge-bench-") as tmp:
        photo_path = Path(tmp) / "photo.npy"
        np.save(photo_path, photo)
        args = {"name": spec.name, "path": str(spec.path), "kind": spec.kind, "runtime": spec.runtime,
                "threads": spec.threads, "photo": str(photo_path)}
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        try:
            done = subprocess.run([sys.executable, "-m", "digitedge.benchmarks.memory", json.dumps(args)],
                                  capture_output=True, text=True, timeout=TIMEOUT_S, env=env)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {TIMEOUT_S} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        return {"error": tail[:300]}
    return json.loads(lines[-1])


def main() -> None:
    print(json.dumps(child(json.loads(sys.argv[1]))))


if __name__ == "__main__":
    main()
