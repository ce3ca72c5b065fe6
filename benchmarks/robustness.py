"""`digitedge evaluate`: accuracy of models on clean MNIST, on the 15 MNIST-C corruptions and on graded sweeps.

Every model sees the same images: the MNIST test set (or a seeded subset), each corruption
applied once with its own seeded generator (benchmarks/corruptions.py). A .tflite runs
through edge_runtime's interpreter exactly as `digitedge bench` measures accuracy
(benchmarks/accuracy.py: the model's own quantization, batches of 500, the runtime's
softmax and top-1 rule), so no TensorFlow is needed for it; a .keras runs through Keras,
imported only when one is given.

Mean corruption error (mCE) is the mean over the 15 corruptions of the error rate
(1 - accuracy); relative mCE divides it by the clean error (MNIST-C's "how many times
the clean error"). Outputs: robustness.json (everything), robustness.csv (one row per
model x condition), robustness.md (the table), robustness.png (accuracy vs severity) and
examples.png (corrupted digits with each model's reading).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shlex
import sys
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from digitedge import atomic
from digitedge.errors import DigitedgeError, ModelError

from . import accuracy
from .corruptions import CORRUPTIONS, SWEEPS, corrupt, sweep
from .targets import KERAS, KERAS_HINT, TFLITE, Spec, import_keras, kind_of, tensorflow_installed

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

    def __init__(self, name: str, path: Path, threads: int | None):
        from digitedge.edge_runtime.recognizer import MetadataWarning, Recognizer

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MetadataWarning)
            self.recognizer = Recognizer(path, threads=threads)
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
        import zipfile

        from .machine import usable_cores

        if not tensorflow_installed():
            raise ModelError(f"{path}: {KERAS_HINT}")
        if not zipfile.is_zipfile(path):
            raise ModelError(f"{path}: not a .keras model (not a zip archive)")
        keras = import_keras(threads or len(usable_cores()))
        try:
            self.model = keras.models.load_model(path, compile=False)
        except Exception as e:  # Keras raises anything from ValueError to zipfile errors
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ModelError(f"{path}: not a usable Keras model ({first[:200]})") from None
        if tuple(self.model.input_shape)[1:] != (28, 28, 1):
            raise ModelError(f"{path}: model input is {self.model.input_shape}, expected (None, 28, 28, 1)")
        self.name, self.path = name, path

    def digits(self, images: np.ndarray) -> np.ndarray:
        return accuracy.keras_digits(self, images)[0]


def model_names(paths: list[Path]) -> list[str]:
    """The file stem; parent/stem where two models share a stem."""
    stems = [p.stem for p in paths]
    names = [f"{p.parent.name}/{p.stem}" if stems.count(p.stem) > 1 else p.stem for p in paths]
    if len(set(names)) < len(names):
        names = [f"{n}#{i + 1}" for i, n in enumerate(names)]
    return names


def load_models(paths: list[Path], threads: int | None) -> list:
    return [(TfliteModel if kind_of(p) == TFLITE else KerasModel)(n, p, threads)
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
    cfg.check()
    started = time.time()
    if mnist is None:
        from digitedge import data

        mnist = data.load_or_fetch(cfg.data_dir)
    models = load_models(cfg.models, cfg.threads)
    index = test_indices(cfg.n_images, cfg.seed, len(mnist.x_test))
    images, labels = mnist.x_test[index], mnist.y_test[index].astype(int)
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
                a = float(np.mean(found == labels))
                if group == "clean":
                    acc[m.name]["clean"] = a
                elif group == "corruption":
                    acc[m.name]["corruptions"][name] = a
                else:
                    acc[m.name]["sweeps"].setdefault(name, []).append(a)
                if group != "sweep":
                    examples["rows"][name]["digits"][m.name] = found[:EXAMPLES].tolist()
                bar.advance(task)
    results = {
        "kind": "robustness",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": cfg.command or shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "seed": cfg.seed,
        "quick": cfg.quick,
        "images": len(index),
        "test_images": "all 10,000" if len(index) == len(mnist.x_test) else
        f"{len(index)}: numpy.random.default_rng({cfg.seed}).permutation(10000)[:{len(index)}], sorted",
        "data_sha256": mnist.sha256,
        "models": [model_info(m) for m in models],
        "corruptions": {k: {"severity": s, "description": d} for k, (_, s, d) in CORRUPTIONS.items()},
        "sweeps": ({k: {"unit": s.unit, "values": list(s.quick_values if cfg.quick else s.values)}
                    for k, s in SWEEPS.items()} if cfg.sweeps else {}),
        "accuracy": acc,
        "summary": {name: summary(a) for name, a in acc.items()},
        "int8_minus_float": [difference(acc, q, f) for q, f in int8_float_pairs(models)],
    }
    results["seconds"] = round(time.time() - started, 1)
    write_outputs(results, examples, cfg.out)
    return results


def progress_bar(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description:<32}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    disable=not enabled, transient=False)


def model_info(m) -> dict:
    data = m.path.read_bytes()
    path = Path(m.path).resolve()
    shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
    return {"name": m.name, "path": str(shown), "format": m.format, "kind": m.kind, "quantized": bool(m.quantized),
            "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


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


# ---- outputs --------------------------------------------------------------------------------


def write_outputs(results: dict, examples: dict, out: Path) -> None:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out / "robustness.json", json.dumps(results, indent=2) + "\n")
    atomic.write_text(out / "robustness.csv", to_csv(results))
    atomic.write_text(out / "robustness.md", to_markdown(results))
    plot_sweeps(results, out / "robustness.png")
    plot_examples(results, examples, out / "examples.png")


def csv_rows(results: dict) -> list[dict]:
    rows = []
    for name, a in results["accuracy"].items():
        rows.append({"model": name, "group": "clean", "condition": "clean", "level": "", "accuracy": a["clean"]})
        for c, v in a["corruptions"].items():
            rows.append({"model": name, "group": "corruption", "condition": c,
                         "level": results["corruptions"][c]["severity"], "accuracy": v})
        for s, values in a["sweeps"].items():
            for level, v in zip(results["sweeps"][s]["values"], values):
                rows.append({"model": name, "group": "sweep", "condition": s, "level": level, "accuracy": v})
    for r in rows:
        r["images"], r["error"] = results["images"], 1 - r["accuracy"]
    return rows


def to_csv(results: dict) -> str:
    buf = io.StringIO()
    fields = ["model", "group", "condition", "level", "images", "accuracy", "error"]
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in csv_rows(results):
        w.writerow({**r, "accuracy": f"{r['accuracy']:.4f}", "error": f"{r['error']:.4f}"})
    return buf.getvalue()


def pct(v: float) -> str:
    return f"{100 * v:.2f}"


def pp(v: float) -> str:
    return f"{100 * v:+.2f}"


def to_markdown(results: dict) -> str:
    names = list(results["accuracy"])
    diffs = results["int8_minus_float"]
    acc, summ = results["accuracy"], results["summary"]
    head = names + [f"{d['int8']} − {d['float']} (pp)" for d in diffs]
    lines = [
        "# Robustness: clean MNIST and MNIST-C",
        "",
        f"Accuracy (%) on {results['images']:,} MNIST test images ({results['test_images']}), clean and under "
        "each of MNIST-C's 15 corruptions (Mu & Gilmer, 2019) as implemented in `benchmarks/corruptions.py` "
        f"(seed {results['seed']}). mCE: mean error over the 15 corruptions; relative mCE: mCE / clean error. "
        + ("**Quick run** (`--quick`): a subset, an indication only. " if results["quick"] else "")
        + f"Written by `{results['command']}` on {results['created']}.",
        "",
        "| corruption | severity | " + " | ".join(head) + " |",
        "| --- | --- |" + " --- |" * len(head),
        "| clean | - | " + " | ".join([pct(acc[n]["clean"]) for n in names] + [pp(d["clean"]) for d in diffs]) + " |",
    ]
    for c, info in results["corruptions"].items():
        cells = [pct(acc[n]["corruptions"][c]) for n in names] + [pp(d["corruptions"][c]) for d in diffs]
        lines.append(f"| {c} | {info['severity']} | " + " | ".join(cells) + " |")
    mce = [f"**{pct(summ[n]['mce'])}**" for n in names] + [pp(d["mce"]) for d in diffs]
    rel = [f"{summ[n]['relative_mce']:.1f}x" if summ[n]["relative_mce"] is not None else "-" for n in names]
    lines += ["| **mCE (error, %)** | | " + " | ".join(mce) + " |",
              "| relative mCE | | " + " | ".join(rel + [""] * len(diffs)) + " |", ""]
    if results["sweeps"]:
        lines += ["## Graded sweeps", "", "Accuracy (%) per level; see robustness.png.", ""]
        for s, info in results["sweeps"].items():
            lines += [f"**{s}** ({info['unit']})", "", "| model | " + " | ".join(str(v) for v in info["values"]) + " |",
                      "| --- |" + " --- |" * len(info["values"])]
            lines += [f"| {n} | " + " | ".join(pct(v) for v in acc[n]["sweeps"][s]) + " |" for n in names]
            lines.append("")
    lines += ["## Models", "", "| model | kind | size | SHA-256 |", "| --- | --- | --- | --- |"]
    lines += [f"| {m['name']} | {m['kind']} | {m['bytes'] / 1024:.0f} KB | `{m['sha256'][:12]}` |"
              for m in results["models"]]
    lines += ["", "![accuracy vs severity](robustness.png)", "", "![examples](examples.png)", ""]
    return "\n".join(lines)


def plot_sweeps(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweeps = results["sweeps"]
    cols = 4
    rows = max(1, -(-len(sweeps) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax, (s, info) in zip(axes.flat, sweeps.items()):
        for name, a in results["accuracy"].items():
            ax.plot(info["values"], [100 * v for v in a["sweeps"][s]], marker="o", label=name)
        ax.set_title(s)
        ax.set_xlabel(info["unit"], fontsize=8)
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(sweeps):]:
        ax.axis("off")
    if sweeps:
        axes.flat[0].legend(fontsize=8)
        if len(sweeps) < rows * cols:  # the clean and mCE numbers in the free panel
            ax = list(axes.flat)[len(sweeps)]
            text = "\n".join(f"{n}: clean {pct(v['clean_accuracy'])}%, mCE {pct(v['mce'])}%"
                             for n, v in results["summary"].items())
            ax.text(0, 0.5, text, fontsize=9, va="center", wrap=True)
    fig.suptitle(f"Accuracy vs severity ({results['images']:,} MNIST test images)")
    fig.tight_layout()
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)


def plot_examples(results: dict, examples: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["accuracy"])
    rows = examples["rows"]
    labels = examples["labels"]
    fig, axes = plt.subplots(len(rows), len(labels), figsize=(1.3 * len(labels) + 1.2, 1.35 * len(rows)),
                             squeeze=False)
    for r, (condition, row) in enumerate(rows.items()):
        for c, label in enumerate(labels):
            ax = axes[r, c]
            ax.imshow(row["images"][c], cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            found = [row["digits"][n][c] for n in names]
            wrong = any(f != label for f in found)
            ax.set_title(f"{label}: " + "/".join(str(f) for f in found), fontsize=8,
                         color="crimson" if wrong else "black")
        axes[r, 0].set_ylabel(condition, fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle("label: " + " / ".join(names) + " (red: a model is wrong)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / len(rows)))
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=60)
    plt.close(fig)
