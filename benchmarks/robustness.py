"""`digitedge evaluate`: accuracy of models on clean MNIST, on the 15 MNIST-C corruptions and on graded sweeps.

Every model sees the same images: the MNIST test set (or a seeded subset), each corruption
applied once with its own seeded generator (benchmarks/corruptions.py). A .tflite runs
through edge_runtime's interpreter exactly as `digitedge bench` measures accuracy
(benchmarks/accuracy.py: the model's own quantization, batches of 500, the runtime's
softmax and top-1 rule), so no TensorFlow is needed for it; a .keras runs through Keras,
imported only when one is given.

Mean corruption error (mCE) is the mean over the 15 corruptions of the error rate
(1 - accuracy); relative mCE divides it by the clean error (MNIST-C's "how many times
the clean error"). Outputs, written by robustness_report.py: robustness.json (everything),
robustness.csv (one row per model x condition), robustness.md (the table), robustness.png
(accuracy vs severity) and examples.png (corrupted digits with each model's reading).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from digitedge.errors import DigitedgeError, ModelError

from . import accuracy
from .common import (
    KERAS_HINT,
    check_digit_input,
    command_line,
    import_keras,
    load_keras_model,
    model_names,
    progress_bar,
    shown_path,
    tensorflow_installed,
)
from .corruptions import CORRUPTIONS, SWEEPS, corrupt, sweep
from .robustness_report import write_outputs
from .targets import KERAS, TFLITE, Spec, kind_of

QUICK_IMAGES = 1000
EXAMPLES = 6  # example digits per row of examples.png


@dataclass
class EvalConfig:
    models: list[Path]
    out: Path
    images: int = 0  # test images (0: all 10,000; --quick: QUICK_IMAGES)
    quick: bool = False  # fewer images and three levels per sweep
    sweeps: bool = True
    seed: int = 0
    threads: int | None = None
    data_dir: Path | None = None
    progress: bool = True
    command: str | None = None
    override: object = None  # edge_runtime's convention.Override: --input-range, --invert (models without metadata)

    def check(self) -> None:
        if not self.models:
            raise DigitedgeError("no models to evaluate")
        if not 0 <= self.images <= 10_000:
            raise DigitedgeError(f"--images {self.images}: must be 0 (all) to 10000")
        if self.threads is not None and self.threads < 1:
            raise DigitedgeError(f"--threads {self.threads}: must be at least 1")
        for path in self.models:
            if kind_of(path) is None:
                raise DigitedgeError(f"{path}: not a .tflite or .keras model")
            if not path.is_file():
                raise DigitedgeError(f"{path}: model file not found")

    @property
    def n_images(self) -> int:
        return self.images or (QUICK_IMAGES if self.quick else 10_000)


# ---- models ---------------------------------------------------------------------------------


class TfliteModel:
    """A .tflite through the device's runtime; the attributes accuracy.tflite_digits reads."""

    format = TFLITE

    def __init__(self, name: str, path: Path, threads: int | None, override=None):
        from digitedge.edge_runtime import load_recognizer

        # no metadata: the convention detected (or given), the warning not repeated for every run
        self.recognizer, _ = load_recognizer(path, threads=threads, override=override)
        self.model = self.recognizer.model
        self.spec = Spec(name, path, TFLITE, self.model.backend, threads)
        self.quantized = self.model.input.quantized or np.issubdtype(self.model.output.dtype, np.integer)
        self.name, self.path = name, path

    def digits(self, images: np.ndarray) -> np.ndarray:
        return accuracy.tflite_digits(self, images)[0]

    @property
    def kind(self) -> str:
        return f"tflite {self.model.input.dtype}"


class KerasModel:
    format = KERAS
    quantized = False
    kind = "keras float32"

    def __init__(self, name: str, path: Path, threads: int | None):
        from .machine import usable_cores

        if not tensorflow_installed():
            raise ModelError(f"{path}: {KERAS_HINT}")
        keras = import_keras(threads or len(usable_cores()))
        self.model = load_keras_model(keras, path)
        check_digit_input(self.model, path)
        self.name, self.path = name, path

    def digits(self, images: np.ndarray) -> np.ndarray:
        return accuracy.keras_digits(self, images)[0]


def load_models(paths: list[Path], threads: int | None, override=None) -> list:
    return [TfliteModel(n, p, threads, override) if kind_of(p) == TFLITE else KerasModel(n, p, threads)
            for p, n in zip(paths, model_names(paths))]


def int8_float_pairs(models: list) -> list[tuple[str, str]]:
    """(quantized, float) model names to compare: same name but for int8/float32, else the only float model."""
    floats = [m.name for m in models if not m.quantized]
    pairs = []
    for m in models:
        if not m.quantized:
            continue
        twin = next((f for f in floats if f in (m.name.replace("int8", "float32"), m.name.replace("int8", "float"),
                                                m.name.replace("_int8", ""))), None)
        if twin is None and len(floats) == 1:
            twin = floats[0]
        if twin is not None:
            pairs.append((m.name, twin))
    return pairs


# ---- data -----------------------------------------------------------------------------------


def test_indices(n: int, seed: int, total: int = 10_000) -> np.ndarray:
    """All test images, or a seeded subset of n of them in file order."""
    if n >= total:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).permutation(total)[:n])


def conditions(cfg: EvalConfig) -> list[tuple[str, str, float | None]]:
    """(group, name, level): clean, the 15 corruptions at their severity, then every sweep level."""
    rows = [("clean", "clean", None)]
    rows += [("corruption", name, severity) for name, (_, severity, _) in CORRUPTIONS.items()]
    if cfg.sweeps:
        for name, s in SWEEPS.items():
            rows += [("sweep", name, v) for v in (s.quick_values if cfg.quick else s.values)]
    return rows


def condition_images(images: np.ndarray, group: str, name: str, level, seed: int) -> np.ndarray:
    if group == "clean":
        return images
    if group == "corruption":
        return corrupt(name, images, level, seed)
    return sweep(name, images, level, seed)


# ---- evaluation -----------------------------------------------------------------------------


def evaluate(cfg: EvalConfig, mnist=None) -> dict:
    """Every model on every condition; writes the output folder and returns the results."""
    results, examples = measure(cfg, mnist)
    write_outputs(results, examples, cfg.out)
    return results


def measure(cfg: EvalConfig, mnist=None) -> tuple[dict, dict]:
    """(results, examples for examples.png): every model on every condition, nothing written."""
    cfg.check()
    started = time.time()
    if mnist is None:
        from digitedge import data

        mnist = data.load_or_fetch(cfg.data_dir)
    models = load_models(cfg.models, cfg.threads, cfg.override)
    index = test_indices(cfg.n_images, cfg.seed, len(mnist.x_test))
    images, labels = mnist.x_test[index], mnist.y_test[index].astype(int)
    acc, examples = accuracies(cfg, models, images, labels)
    results = record(cfg, mnist, models, len(index), acc)
    results["seconds"] = round(time.time() - started, 1)
    return results, examples


def accuracies(cfg: EvalConfig, models: list, images: np.ndarray, labels: np.ndarray) -> tuple[dict, dict]:
    """model -> clean, corruption and sweep accuracies; and the first EXAMPLES digits each model read."""
    rows = conditions(cfg)
    acc = {m.name: {"corruptions": {}, "sweeps": {}} for m in models}
    examples = {"labels": labels[:EXAMPLES].tolist(), "rows": {}}
    with progress_bar(cfg.progress) as bar:
        task = bar.add_task("evaluating", total=len(rows) * len(models))
        for group, name, level in rows:
            x = condition_images(images, group, name, level, cfg.seed)
            if group != "sweep":
                examples["rows"][name] = {"images": x[:EXAMPLES], "digits": {}}
            for m in models:
                bar.update(task, description=f"{m.name}: {name}" + ("" if level is None else f" {level}"))
                found = m.digits(x)
                store(acc[m.name], group, name, float(np.mean(found == labels)))
                if group != "sweep":
                    examples["rows"][name]["digits"][m.name] = found[:EXAMPLES].tolist()
                bar.advance(task)
    return acc, examples


def store(acc: dict, group: str, name: str, value: float) -> None:
    if group == "clean":
        acc["clean"] = value
    elif group == "corruption":
        acc["corruptions"][name] = value
    else:
        acc["sweeps"].setdefault(name, []).append(value)


def record(cfg: EvalConfig, mnist, models: list, n_images: int, acc: dict) -> dict:
    """The results: what was run, on what, and every accuracy with its summaries."""
    return {
        "kind": "robustness",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": cfg.command or command_line(),
        "seed": cfg.seed,
        "quick": cfg.quick,
        "images": n_images,
        "test_images": "all 10,000" if n_images == len(mnist.x_test) else
        f"{n_images}: numpy.random.default_rng({cfg.seed}).permutation(10000)[:{n_images}], sorted",
        "data_sha256": mnist.sha256,
        "models": [model_info(m) for m in models],
        "corruptions": {k: {"severity": s, "description": d} for k, (_, s, d) in CORRUPTIONS.items()},
        "sweeps": ({k: {"unit": s.unit, "values": list(s.quick_values if cfg.quick else s.values)}
                    for k, s in SWEEPS.items()} if cfg.sweeps else {}),
        "accuracy": acc,
        "summary": {name: summary(a) for name, a in acc.items()},
        "int8_minus_float": [difference(acc, q, f) for q, f in int8_float_pairs(models)],
    }


def model_info(m) -> dict:
    data = m.path.read_bytes()
    return {"name": m.name, "path": shown_path(Path(m.path)), "format": m.format, "kind": m.kind,
            "quantized": bool(m.quantized), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def summary(a: dict) -> dict:
    errors = [1 - v for v in a["corruptions"].values()]
    clean_error = 1 - a["clean"]
    mce = float(np.mean(errors))
    return {"clean_accuracy": a["clean"], "clean_error": clean_error, "mce": mce,
            "relative_mce": mce / clean_error if clean_error > 0 else None,
            "worst": min(a["corruptions"], key=a["corruptions"].get)}


def difference(acc: dict, quantized: str, floating: str) -> dict:
    q, f = acc[quantized], acc[floating]
    return {"int8": quantized, "float": floating, "clean": q["clean"] - f["clean"],
            "corruptions": {k: q["corruptions"][k] - f["corruptions"][k] for k in q["corruptions"]},
            "mce": summary(q)["mce"] - summary(f)["mce"]}
