"""Script: python benchmarks/footprint.py [--runs 7]: the device side's start to first prediction, peak memory.

Every run is a fresh Python process (several, median reported), so imports, model
loading and the first inference are all counted, as on a Pi that starts the program
for each photo. Three ways in:

  api   `python -c` importing digitedge.edge_runtime and calling Recognizer().predict
  read  the same with Recognizer().read (segmentation of a number)
  cli   `python -m digitedge predict photo.jpg` (typer and rich included)

Time to first prediction: the child stamps the wall clock right after its first
prediction (in the CLI, as Recognizer.read first returns, wrapped by an import hook so the
CLI imports and runs as it always does); the parent stamped it just before starting the
child. Peak memory is the child's VmHWM
(its resident-set high-water mark, read from /proc by the child as it exits), not
getrusage's ru_maxrss, which can carry the forking parent's RSS across exec. The child's
CPU time (user + system, from getrusage of the children) is recorded too: on a busy
machine the wall-clock time includes waiting for a core, the CPU time does not.

Writes benchmarks/results/footprint.json and footprint.md; exits 1 when a target is
missed (median time > 0.5 s or median peak > 100 MB). This process imports only the
stdlib and digitedge's light helpers (benchmarks.common, benchmarks.machine): the test
photo is drawn by a child too.

    python benchmarks/footprint.py [--runs 7] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from digitedge.benchmarks.common import RESULTS, versions
from digitedge.benchmarks.machine import cpu_model, load_average

TARGET_SECONDS = 0.5
TARGET_MB = 100.0
PACKAGES = ("digitedge", "numpy", "opencv-python-headless", "pillow", "ai-edge-litert", "tflite-runtime")

# Appended to every child: report the wall clock and VmHWM as the process exits.
EXIT_HOOK = """
import atexit, sys, time
def _footprint_report():
    hwm = next((int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')), -1)
    sys.__stderr__.write(f"FOOTPRINT exit={time.time():.6f} vmhwm_kb={hwm}\\n")
atexit.register(_footprint_report)
"""

API = """
import sys, time, warnings
warnings.simplefilter("ignore")  # the temporary models have no metadata
from digitedge.edge_runtime import Recognizer
r = Recognizer()
p = r.{method}({photo!r})
sys.__stderr__.write(f"FOOTPRINT first={{time.time():.6f}}\\n")
print(p)
"""

CLI = """
import importlib.abc, importlib.util, runpy, sys, time

class StampFirstRead(importlib.abc.MetaPathFinder):
    # When the CLI imports the recognizer (where it would anyway), wrap Recognizer.read to stamp
    # the clock as its first reading returns: the import order and the work stay the CLI's own.
    def find_spec(self, name, path, target=None):
        if name != "digitedge.edge_runtime.recognizer":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module
        def exec_module(module):
            run(module)
            read = module.Recognizer.read
            def stamped(*args, **kwargs):
                out = read(*args, **kwargs)
                sys.__stderr__.write(f"FOOTPRINT first={{time.time():.6f}}\\n")
                module.Recognizer.read = read
                return out
            module.Recognizer.read = stamped
        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, StampFirstRead())
sys.argv = ["digitedge", "predict", {photo!r}]
runpy.run_module("digitedge", run_name="__main__", alter_sys=True)
"""

MAKE_PHOTO = """
import sys
from digitedge.benchmarks import synthetic
try:
    from digitedge import data
    m = data.load(None if len(sys.argv) < 3 else sys.argv[2])
    images, labels = m.x_test, m.y_test
except Exception:  # no MNIST here: a drawn 7 is as good for timing
    import numpy as np, cv2
    img = np.zeros((28, 28), np.uint8)
    cv2.line(img, (7, 7), (21, 7), 255, 3); cv2.line(img, (21, 7), (12, 23), 255, 3)
    images, labels = img[None], np.array([7])
photo = synthetic.digit_photo(images, labels, 0, seed=1, out_side=1200)
synthetic.write_image(sys.argv[1], photo.image)
print(photo.text)
"""


def child(code: str) -> dict:
    """Run `python -c code` in a fresh process; its timings and peak memory."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    cpu_before = children_cpu_s()
    start = time.time()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = proc.communicate(timeout=120)
    end = time.time()
    cpu = children_cpu_s() - cpu_before
    stamps = {}
    for line in err.decode(errors="replace").splitlines():
        if line.startswith("FOOTPRINT "):
            stamps.update(kv.split("=") for kv in line.split()[1:])
    if proc.returncode != 0 or "vmhwm_kb" not in stamps:
        raise RuntimeError(f"child failed (exit {proc.returncode}): {err.decode(errors='replace')[-800:]}")
    first = float(stamps.get("first", stamps["exit"]))
    return {
        "to_first_prediction_s": first - start,
        "to_exit_s": end - start,
        "peak_mb": int(stamps["vmhwm_kb"]) / 1024,
        "cpu_s": cpu,
        "output": out.decode(errors="replace").strip()[-200:],
    }


def children_cpu_s() -> float:
    """User + system CPU seconds of all the children waited for so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def summarize(runs: list[dict]) -> dict:
    keys = ("to_first_prediction_s", "to_exit_s", "cpu_s", "peak_mb")
    out = {}
    for k in keys:
        values = [r[k] for r in runs]
        out[k] = {
            "median": round(statistics.median(values), 4),
            "min": round(min(values), 4),
            "max": round(max(values), 4),
        }
    return out


def machine() -> dict:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_average_1_5_15": load_average(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": versions(PACKAGES),
        "editable_install": editable_install(),
    }


def editable_install() -> bool:
    """Was digitedge installed with `pip install -e` (an import hook in site-packages)?"""
    import glob
    import sysconfig

    return bool(glob.glob(os.path.join(sysconfig.get_paths()["purelib"], "__editable__*digitedge*")))


def notes(result: dict) -> list[str]:
    """What to keep in mind reading the table, from how it was measured."""
    out = []
    load, cores = result["machine"]["load_average_1_5_15"], result["machine"]["cores"]
    if load and cores and load[0] > cores:
        out.append(
            f"- The machine was busy (load {load[0]} on {cores} cores): wall-clock times include "
            "waiting for a core; the CPU time is the work itself."
        )
    if result["machine"].get("editable_install"):
        out.append(
            "- digitedge was installed in editable mode (`pip install -e`), whose import hook adds to "
            "every start; a regular install (as on a device) does not have it."
        )
    out.append(
        "- The `cli` row includes typer (which, from 0.2x, imports pydantic to convert options on "
        "every command) and rich for the table; the `api` rows are the edge runtime alone."
    )
    return out + [""]


def markdown(result: dict) -> str:
    lines = [
        "# Edge runtime footprint",
        "",
        f"Measured {result['when']} on {result['machine']['cpu']} ({result['machine']['cores']} cores, "
        f"load average {result['machine']['load_average_1_5_15']}), Python {result['machine']['python']}; "
        f"{result['runs']} fresh processes per row, median (min-max). Photo: {result['photo']}.",
        "",
        "| way in | start to first prediction (s) | start to exit (s) | CPU time (s) | peak memory, VmHWM (MB) "
        "| meets targets |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in result["scenarios"].items():
        t, e, c, m = row["to_first_prediction_s"], row["to_exit_s"], row["cpu_s"], row["peak_mb"]
        ok = "yes" if row["meets_targets"] else "**no**"
        lines.append(
            f"| {name} | {t['median']:.3f} ({t['min']:.3f}-{t['max']:.3f}) | "
            f"{e['median']:.3f} ({e['min']:.3f}-{e['max']:.3f}) | "
            f"{c['median']:.3f} ({c['min']:.3f}-{c['max']:.3f}) | "
            f"{m['median']:.1f} ({m['min']:.1f}-{m['max']:.1f}) | {ok} |"
        )
    lines += [
        "",
        f"Targets (issue 5): first prediction within {TARGET_SECONDS} s of process start, peak memory under "
        f"{TARGET_MB:.0f} MB. Start to exit adds printing the results and the interpreter's teardown.",
        f"Packages: {', '.join(f'{k} {v}' for k, v in result['machine']['packages'].items())}.",
        "",
        *notes(result),
        "Reproduce: `python benchmarks/footprint.py`.",
        "",
    ]
    return "\n".join(lines)


def scenario(name: str, code: str, runs: int) -> dict:
    """One way in: a warm-up process, then `runs` timed ones; their medians against the targets."""
    child(code)  # warm-up: the page cache, as on a device that has run before
    measured = [child(code) for _ in range(runs)]
    row = summarize(measured)
    row["meets_targets"] = (
        row["to_first_prediction_s"]["median"] <= TARGET_SECONDS and row["peak_mb"]["median"] <= TARGET_MB
    )
    row["sample_output"] = measured[0]["output"]
    print(
        f"{name}: first prediction {row['to_first_prediction_s']['median']:.3f} s, "
        f"peak {row['peak_mb']['median']:.1f} MB",
        file=sys.stderr,
    )
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per way in (median reported)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for footprint.json and .md")
    parser.add_argument("--data-dir", default=None, help="MNIST folder for the test photo (else a drawn 7)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        photo = str(Path(tmp) / "photo.jpg")
        made = subprocess.run(
            [sys.executable, "-c", MAKE_PHOTO, photo] + ([args.data_dir] if args.data_dir else []),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if made.returncode != 0:
            print(f"error: cannot make the test photo: {made.stderr.strip().splitlines()[-1]}", file=sys.stderr)
            return 1
        scenarios = {
            "api (predict)": EXIT_HOOK + API.format(method="predict", photo=photo),
            "api (read)": EXIT_HOOK + API.format(method="read", photo=photo),
            "cli (digitedge predict)": EXIT_HOOK + CLI.format(photo=photo),
        }
        results = {name: scenario(name, code, args.runs) for name, code in scenarios.items()}
    result = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "runs": args.runs,
        "photo": f"synthetic 1200 px JPEG of the digit {made.stdout.strip()}",
        "targets": {"to_first_prediction_s": TARGET_SECONDS, "peak_mb": TARGET_MB},
        "machine": machine(),
        "scenarios": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "footprint.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "footprint.md").write_text(markdown(result))
    missed = [n for n, r in results.items() if not r["meets_targets"]]
    if missed:
        print(f"footprint targets missed by: {', '.join(missed)}", file=sys.stderr)
        return 1
    print(f"footprint targets met; wrote {args.out / 'footprint.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
