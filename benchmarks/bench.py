"""`run(BenchConfig) -> results`: every configuration measured side by side in one process.

Order of a run: pin the CPU (--pi), load MNIST and the test photo, load every
configuration (a model that fails becomes a failed row), time the loads, then time
invoke and the predict path of all configurations interleaved, then accuracy and
agreement, then peak memory in child processes. Results are a plain dict, written
by report.py.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from digitedge.errors import DigitedgeError

from . import accuracy, machine, memory, stages, timing
from .common import KERAS_HINT, REPO, command_line, model_names, shown_path, tensorflow_installed
from .photo import bench_photo
from .targets import KERAS, KERAS_METHODS, TFLITE, Spec, build, fix_opencv_threads, kind_of

SHIPPED = ("digits_float32.tflite", "digits_int8.tflite")
KERAS_BASELINE = Path("models") / "digits.keras"
LOAD_RUNS = {TFLITE: 10, KERAS: 3}


def shipped_models() -> list[Path]:
    from digitedge.edge_runtime.recognizer import MODELS_DIR

    return [MODELS_DIR / name for name in SHIPPED]


def keras_baseline() -> Path | None:
    """models/digits.keras (from the current folder or the checkout), when TensorFlow can load it."""
    if not tensorflow_installed():
        return None
    for base in (Path.cwd(), REPO):
        if (base / KERAS_BASELINE).is_file():
            return base / KERAS_BASELINE
    return None


def default_models() -> list[Path]:
    keras = keras_baseline()
    return shipped_models() + ([keras] if keras else [])


def default_threads() -> list[int]:
    """1 and every usable core: 1,2 here, 1,4 on a Raspberry Pi 4."""
    return sorted({1, len(machine.usable_cores())})


@dataclass
class BenchConfig:
    models: list[Path] = field(default_factory=default_models)
    backends: list[str] | None = None  # None: every installed TFLite interpreter
    threads: list[int] = field(default_factory=default_threads)
    warmup: int = 20
    runs: int = 500
    keras_runs: int = 50  # a Keras call takes ~1000x longer than invoke
    images: int = 10_000  # test images for accuracy (0: skip)
    pi: bool = False
    memory: bool = True
    rounds: int = 20
    data_dir: Path | None = None
    command: str | None = None
    override: object = None  # edge_runtime's convention.Override: --input-range, --invert
    personal: Path | None = None  # a personal head: the TFLite rows read through it, named <model>+<head>

    def check(self) -> None:
        if self.warmup < 0 or self.runs < 1 or self.keras_runs < 1:
            raise DigitedgeError("--warmup must be >= 0, --runs and --keras-runs >= 1")
        if not self.threads or min(self.threads) < 1:
            raise DigitedgeError("--threads: thread counts must be at least 1")
        if not 0 <= self.images <= 10_000:
            raise DigitedgeError("--images must be between 0 and 10000")
        if not self.models:
            raise DigitedgeError("no models to benchmark")


def resolve_backends(wanted: list[str] | None) -> list[str]:
    """The TFLite interpreters to use; one clear error for an unknown or missing one."""
    from digitedge.edge_runtime.interpreter import ALIASES, BACKENDS, PIP_NAMES, available_backends

    installed = available_backends()
    if not wanted:
        return installed
    chosen = []
    for name in wanted:
        name = ALIASES.get(name, name)
        if name not in BACKENDS:
            raise DigitedgeError(f"unknown backend {name!r} (choose {', '.join(BACKENDS)})")
        if name not in installed:
            extra = "edge-legacy" if name == "tflite-runtime" else "edge"
            raise DigitedgeError(f"backend {name} is not installed (pip install {PIP_NAMES[name]}, "
                                 f"or pip install digitedge[{extra}])")
        if name not in chosen:
            chosen.append(name)
    return chosen


def pin_to_one_core() -> int | None:
    """The --pi profile: this process (and its children) on one core only; None where the OS can't."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    core = max(machine.usable_cores())
    os.sched_setaffinity(0, {core})
    return core


def specs_for(config: BenchConfig, backends: list[str]) -> tuple[list[Spec], list[dict]]:
    """Configurations to measure, and failed rows for models that can't even be tried."""
    specs, failed = [], []
    for path, name in zip(config.models, model_names(config.models)):
        kind = kind_of(path)
        if kind == TFLITE:
            label = name if config.personal is None else f"{name}+{config.personal.stem}"  # rows say a head was used
            specs += [Spec(label, path, kind, b, t, config.override, config.personal)
                      for b in backends for t in config.threads]
        elif kind == KERAS and tensorflow_installed():
            specs += [Spec(name, path, kind, f"keras-{m}", min(config.threads)) for m in KERAS_METHODS]
        else:
            spec = Spec(name, path, kind or path.suffix or "?", "keras" if kind == KERAS else "-", 0)
            why = KERAS_HINT if kind == KERAS else "not a .tflite or .keras model"
            failed.append(failed_row(spec, f"{path}: {why}"))
    return specs, failed


def base_row(spec: Spec) -> dict:
    path = spec.path
    return {"id": spec.key, "model": spec.name, "path": shown_path(path), "kind": spec.kind, "runtime": spec.runtime,
            "threads": spec.threads, "file_bytes": path.stat().st_size if path.is_file() else None,
            **({"personal": spec.personal.name} if getattr(spec, "personal", None) else {})}


def failed_row(spec: Spec, error: str) -> dict:
    return {**base_row(spec), "status": "failed", "error": error}


def load_targets(specs: list[Spec], photo: np.ndarray, log) -> tuple[list, list[dict]]:
    targets, failed = [], []
    for spec in specs:
        try:
            targets.append(build(spec, photo))
        except DigitedgeError as e:
            failed.append(failed_row(spec, str(e)))
            log(f"  {spec.key}: failed ({e})")
        except Exception as e:  # a runtime's own error: still only this row fails
            failed.append(failed_row(spec, f"{type(e).__name__}: {e}"))
            log(f"  {spec.key}: failed ({type(e).__name__}: {e})")
    return targets, failed


def run(config: BenchConfig, log=lambda message: None) -> dict:
    """Measure every configuration; return the results (see report.py for the files)."""
    started = time.time()
    config.check()
    backends = resolve_backends(config.backends)
    pinned = None
    if config.pi:
        pinned = pin_to_one_core()
        config.threads = [1]
    info = machine.describe()

    from digitedge import data

    mnist = data.load_or_fetch(config.data_dir)
    photo, photo_info = bench_photo(mnist.x_test, mnist.y_test)
    images, labels = mnist.x_test[: config.images], mnist.y_test[: config.images]

    if not backends and any(kind_of(p) == TFLITE for p in config.models):
        raise DigitedgeError("no TFLite interpreter is installed (pip install digitedge[edge])")
    specs, rows_failed = specs_for(config, backends)
    log(f"loading {len(specs)} configurations")
    targets, failed = load_targets(specs, photo, log)
    rows_failed += failed
    rows = {t.spec.key: {**base_row(t.spec), "status": "ok", "error": None, **t.info()} for t in targets}

    time_loads(targets, rows, log)
    time_calls(targets, rows, config, log)
    stages.measure(targets, rows, photo, config.runs, log)  # issue 18: where the predict path's time goes
    if config.images:
        log(f"accuracy on {len(images)} test images")
        measure_accuracy(targets, rows, images, labels, log)
    if config.memory:
        log("peak memory, one child process per configuration")
        for t in targets:
            if rows[t.spec.key]["status"] == "ok":
                rows[t.spec.key]["memory"] = memory.measure(t.spec, photo)

    settings = {"backends": backends, "profile": "pi" if config.pi else "default", "pinned_core": pinned,
                "photo": photo_info, "accuracy_images": int(len(images)), "load_runs": LOAD_RUNS}
    results = record(config, started, info, settings, [rows[t.spec.key] for t in targets] + rows_failed)
    from .webcam_fps import add_to  # the webcam frame rate (issue 18): results["webcam"] and its goals

    add_to(results, mnist, config.threads, backends, config.runs, log)
    results["seconds"] = round(time.time() - started, 1)
    return results


def time_loads(targets: list, rows: dict, log) -> None:
    log("timing loads")
    loads = [timing.Task(t.spec.key, t.load, LOAD_RUNS[t.spec.kind], warmup=1) for t in targets]
    for task in timing.interleave(loads, rounds=LOAD_RUNS[TFLITE]):
        rows[task.key]["load_ms"] = timing.stats(task.samples, 1e6) if task.samples else None


def time_calls(targets: list, rows: dict, config: BenchConfig, log) -> None:
    """invoke and the predict path of every configuration, interleaved; a failure is its row's."""
    log(f"timing invoke and predict: {config.runs} runs each ({config.keras_runs} for Keras), "
        f"{config.warmup} warm-up, interleaved")
    tasks = []
    for t in targets:
        runs = config.keras_runs if t.spec.kind == KERAS else config.runs
        warmup = min(config.warmup, runs) if t.spec.kind == KERAS else config.warmup
        cv_threads = functools.partial(fix_opencv_threads, t.spec.threads)
        tasks += [timing.Task(f"{t.spec.key}|invoke", t.invoke, runs, warmup, before=cv_threads),
                  timing.Task(f"{t.spec.key}|predict", t.predict, runs, max(1, warmup), before=cv_threads)]
    for task in timing.interleave(tasks, rounds=config.rounds):
        key, metric = task.key.rsplit("|", 1)
        row = rows[key]
        if task.error:
            row.update(status="failed", error=f"{metric}: {task.error}")
            continue
        row[f"{metric}_us"] = {**timing.stats(task.samples),
                               "round_medians": timing.round_medians(task.samples, config.rounds)}
        row.setdefault("throughput", {})[f"{metric}_ips"] = round(1e6 / row[f"{metric}_us"]["mean"], 1)


def record(config: BenchConfig, started: float, info: dict, settings: dict, rows: list[dict]) -> dict:
    """The results as results.json holds them: the run, the machine, the settings, the rows and the goals."""
    from .summary import comparisons, goals

    results = {
        "tool": "digitedge",
        "kind": "bench",
        "started": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
        "seconds": None,
        "command": config.command or command_line(),
        "machine": info,
        "settings": {
            **{k: v for k, v in asdict(config).items() if k not in ("models", "data_dir", "command", "personal")},
            "models": [shown_path(p) for p in config.models],
            "personal": None if config.personal is None else shown_path(config.personal),
            **settings,
        },
        "rows": rows,
    }
    results["comparisons"] = comparisons(rows)
    results["goals"] = goals(rows)
    results["machine"]["load_average_end"] = machine.load_average()
    results["process_peak_rss_mb"] = round(memory.peak_rss_mb(), 1)
    return results


def measure_accuracy(targets, rows: dict, images: np.ndarray, labels: np.ndarray, log) -> None:
    found = {}
    keras_done: dict[Path, tuple] = {}  # predict and call rows of one .keras share its predictions
    for t in targets:
        row = rows[t.spec.key]
        if row["status"] != "ok":
            continue
        try:
            if t.spec.kind == KERAS and t.spec.path in keras_done:
                digits, how = keras_done[t.spec.path]
            else:
                digits, how = accuracy.digits(t, images)
                if t.spec.kind == KERAS:
                    keras_done[t.spec.path] = digits, how
        except Exception as e:  # one model's failure is its row's
            row.update(status="failed", error=f"accuracy: {type(e).__name__}: {e}")
            continue
        found[t.spec.key] = digits
        row["accuracy"] = accuracy.accuracy(digits, labels)
        row["accuracy_method"] = how["method"]
        row.setdefault("throughput", {})["batch_ips"] = round(how["images_per_s"], 1)
    reference = float_reference(targets, rows)
    for t in targets:
        row = rows[t.spec.key]
        ref = reference_for(row, reference)
        if ref is not None and t.spec.key in found and ref in found:
            row["agreement"] = accuracy.agreement(found[t.spec.key], found[ref])
            row["agreement_with"] = rows[ref]["model"]


def float_reference(targets, rows: dict) -> dict[tuple[str, int], str]:
    """(runtime, threads) -> key of the float TFLite model's row; the one named float32 first."""
    ok = [t for t in targets if t.spec.kind == TFLITE and t.float_input and rows[t.spec.key]["status"] == "ok"]
    if not ok:
        return {}
    name = next((t.spec.name for t in ok if "float32" in t.spec.name), ok[0].spec.name)
    return {(t.spec.runtime, t.spec.threads): t.spec.key for t in ok if t.spec.name == name}


def reference_for(row: dict, reference: dict) -> str | None:
    if (row["runtime"], row["threads"]) in reference:
        return reference[(row["runtime"], row["threads"])]
    return next(iter(reference.values()), None)
