"""`digitedge baselines`: the report's comparison table (SVM, k-NN, random forest vs the CNN), measured here.

The classical models are scikit-learn's, trained on MNIST's training images scaled to
[0, 1] and flattened to 784 values:

- SVM (RBF kernel, C=5, gamma="scale") on 50 PCA components of a seeded subset of 20,000
  training images: an RBF SVM on all 60,000 raw images takes the better part of an hour on
  two cores; PCA-50 keeps over 80% of the variance and the subset costs about a point.
- k-NN (k=3) on all 60,000 raw images: training is storing them; prediction is the cost,
  so corruptions are measured on a subset of the test images (--corruption-images).
- Random forest (100 trees) on all 60,000 raw images.

Every model is timed for training (wall clock, both cores where the model can use them),
sized as its pickle (the CNN: its .tflite file), and timed for single-image latency (the
median of many one-image predictions, one thread, input a uint8 28x28 image). Accuracy is
on the clean MNIST test set and on the 15 MNIST-C corruptions of benchmarks/corruptions.py
(the same images and seeds as `digitedge evaluate`). The CNN rows are the shipped models,
run through robustness.py's adapters (the device's runtime for .tflite); their training
time is read from the run's metrics.json when given (--cnn-metrics), else left blank.
"""

from __future__ import annotations

import csv
import io
import json
import pickle
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from digitedge import atomic
from digitedge.errors import DigitedgeError

from .common import REPO, command_line, progress_bar, size_text
from .corruptions import CORRUPTIONS, corrupt
from .robustness import load_models, test_indices

LATENCY_RUNS = 200


@dataclass
class BaselineConfig:
    out: Path
    svm_train: int = 20_000
    knn_train: int = 0  # 0: all 60,000
    forest_train: int = 0
    forest_trees: int = 100
    pca: int = 50
    images: int = 0  # clean test images (0: all 10,000)
    corruption_images: int = 1_000  # per corruption (0: skip)
    cnn: list[Path] | None = field(default=None)
    seed: int = 0
    data_dir: Path | None = None
    quick: bool = False
    progress: bool = True
    latency_runs: int = LATENCY_RUNS

    @classmethod
    def preset(cls, quick: bool, **kwargs) -> BaselineConfig:
        if quick:
            kwargs = {"svm_train": 2_000, "knn_train": 5_000, "forest_train": 5_000, "forest_trees": 50,
                      "images": 1_000, "corruption_images": 500, "latency_runs": 50, **kwargs}
        return cls(quick=quick, **kwargs)

    def check(self) -> None:
        for k in ("svm_train", "knn_train", "forest_train", "images", "corruption_images"):
            v = getattr(self, k)
            limit = 10_000 if k in ("images", "corruption_images") else 60_000
            if not 0 <= v <= limit:
                raise DigitedgeError(f"--{k.replace('_', '-')} {v}: must be 0 to {limit}")
        if self.svm_train and self.svm_train < 100:
            raise DigitedgeError(f"--svm-train {self.svm_train}: need at least 100 images")
        if self.forest_trees < 1 or self.pca < 1:
            raise DigitedgeError("forest trees and PCA components must be at least 1")


def features(images: np.ndarray) -> np.ndarray:
    """uint8 (n, 28, 28) -> float32 (n, 784) in [0, 1]: the classical models' input."""
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def classifiers(cfg: BaselineConfig) -> list[tuple[str, str, int, object]]:
    """(name, what it is trained on, training images (0: all), the unfitted estimator)."""
    from sklearn.decomposition import PCA
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import SVC

    def n(v):
        return f"{v:,}" if v else "60,000"

    return [
        ("SVM (RBF)", f"PCA-{cfg.pca} of {n(cfg.svm_train)} images", cfg.svm_train,
         make_pipeline(PCA(cfg.pca, random_state=cfg.seed), SVC(C=5.0, gamma="scale"))),
        ("k-NN (k=3)", f"raw pixels, {n(cfg.knn_train)} images", cfg.knn_train,
         KNeighborsClassifier(3, n_jobs=-1)),
        (f"random forest ({cfg.forest_trees} trees)", f"raw pixels, {n(cfg.forest_train)} images", cfg.forest_train,
         RandomForestClassifier(cfg.forest_trees, n_jobs=-1, random_state=cfg.seed)),
    ]


def train_subset(n: int, total: int, seed: int) -> np.ndarray:
    if not n or n >= total:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).permutation(total)[:n])


def single_threaded(estimator) -> None:
    """One thread for latency: joblib's start-up would otherwise dominate a one-image prediction."""
    for step in getattr(estimator, "steps", [(None, estimator)]):
        est = step[1]
        if "n_jobs" in est.get_params():
            est.set_params(n_jobs=1)


def median_latency_ms(predict, image: np.ndarray, runs: int) -> float:
    predict(image)  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        predict(image)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def corrupted_sets(mnist, cfg: BaselineConfig) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (images, labels): clean on cfg.images, each corruption on cfg.corruption_images (same seeds)."""
    clean = test_indices(cfg.images or 10_000, cfg.seed)
    sets = {"clean": (mnist.x_test[clean], mnist.y_test[clean].astype(int))}
    if cfg.corruption_images:
        sub = test_indices(cfg.corruption_images, cfg.seed)
        x, y = mnist.x_test[sub], mnist.y_test[sub].astype(int)
        for name in CORRUPTIONS:
            sets[name] = (corrupt(name, x, seed=cfg.seed), y)
    return sets


def run(cfg: BaselineConfig, mnist=None) -> dict:
    cfg.check()
    started = time.time()
    if mnist is None:
        from digitedge import data

        mnist = data.load_or_fetch(cfg.data_dir)
    sets = corrupted_sets(mnist, cfg)
    cnns = load_models(cfg.cnn or [], 1)
    rows = []
    with progress_bar(cfg.progress) as bar:
        task = bar.add_task("baselines", total=3 + len(cnns))
        for name, training, n, estimator in classifiers(cfg):
            rows.append(classical_row(name, training, n, estimator, mnist, sets, cfg,
                                      status=lambda text: bar.update(task, description=text)))
            bar.advance(task)
        for m in cnns:
            bar.update(task, description=f"{m.name}: testing")
            acc = {k: float(np.mean(m.digits(xs) == ys)) for k, (xs, ys) in sets.items()}
            training, n_train, seconds = cnn_training(m)
            rows.append(row(m.name, m.kind, training, n_train, seconds, m.path.stat().st_size,
                            cnn_latency_ms(m, sets["clean"][0][0], cfg.latency_runs), acc))
            bar.advance(task)
    import sklearn

    results = {
        "kind": "baselines",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command_line(),
        "quick": cfg.quick,
        "seed": cfg.seed,
        "images": len(sets["clean"][1]),
        "corruption_images": cfg.corruption_images,
        "data_sha256": mnist.sha256,
        "scikit_learn": sklearn.__version__,
        "rows": rows,
        "seconds": round(time.time() - started, 1),
    }
    write_outputs(results, Path(cfg.out))
    return results


def classical_row(name: str, training: str, n: int, estimator, mnist, sets: dict, cfg: BaselineConfig,
                  status) -> dict:
    """Train one scikit-learn model (timed), then its accuracy on every set, its size and latency."""
    status(f"{name}: training")
    idx = train_subset(n, len(mnist.x_train), cfg.seed)
    x, y = features(mnist.x_train[idx]), mnist.y_train[idx].astype(int)
    start = time.perf_counter()
    estimator.fit(x, y)
    seconds = time.perf_counter() - start
    status(f"{name}: testing")
    acc = {k: float(np.mean(estimator.predict(features(xs)) == ys)) for k, (xs, ys) in sets.items()}
    single_threaded(estimator)
    latency = median_latency_ms(lambda img: estimator.predict(features(img[None])), sets["clean"][0][0],
                                cfg.latency_runs)
    return row(name, "scikit-learn", training, len(idx), seconds, len(pickle.dumps(estimator, 5)), latency, acc)


def cnn_training(model) -> tuple[str, int | None, float | None]:
    """How the CNN was trained: the release run's metrics when the .tflite was converted from models/digits.keras."""
    import hashlib

    recognizer = getattr(model, "recognizer", None)
    source = (recognizer.metadata if recognizer is not None else {}).get("source_model_sha256")
    for base in dict.fromkeys((Path.cwd(), REPO)):
        keras_file, metrics = base / "models" / "digits.keras", base / "models" / "report" / "metrics.json"
        if source and keras_file.is_file() and metrics.is_file() and \
                hashlib.sha256(keras_file.read_bytes()).hexdigest() == source:
            m = json.loads(metrics.read_text())
            seconds = m.get("wall_time_s")
            start = m.get("started_from", {}).get("wall_time_s")  # fine-tuned: the first run's time too
            return (f"CNN, {m['train_images']:,} images + {m['val_images']:,} validation (the release run"
                    f"{' and the run it started from' if start else ''}; its time: augmentation and all)",
                    m["train_images"], seconds + start if seconds and start else seconds)
    return "the shipped CNN (see the model card)", None, None


def cnn_latency_ms(model, image: np.ndarray, runs: int) -> float:
    """One image through the runtime, as Recognizer.classify does: normalize, quantize, invoke, softmax."""
    from digitedge.edge_runtime.preprocess import normalize

    if hasattr(model, "recognizer"):
        return median_latency_ms(lambda img: model.recognizer.classify(img), image, runs)
    return median_latency_ms(lambda img: model.model(normalize(img)[None], training=False), image, runs)


def row(name, kind, training, n_train, seconds, size, latency, acc) -> dict:
    corr = {k: v for k, v in acc.items() if k != "clean"}
    return {"name": name, "kind": kind, "training": training, "train_images": n_train,
            "train_seconds": None if seconds is None else round(seconds, 3), "bytes": size,
            "latency_ms": round(latency, 4), "accuracy": acc["clean"], "corruptions": corr,
            "mce": float(np.mean([1 - v for v in corr.values()])) if corr else None}


def write_outputs(results: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out / "baselines.json", json.dumps(results, indent=2) + "\n")
    atomic.write_text(out / "baselines.csv", to_csv(results))
    atomic.write_text(out / "baselines.md", to_markdown(results))


def to_csv(results: dict) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    names = list(results["rows"][0]["corruptions"]) if results["rows"] else []
    w.writerow(["model", "kind", "training", "train_images", "train_seconds", "bytes", "latency_ms", "accuracy",
                "mce", *names])
    for r in results["rows"]:
        w.writerow([r["name"], r["kind"], r["training"], r["train_images"] or "", r["train_seconds"] or "",
                    r["bytes"], r["latency_ms"], f"{r['accuracy']:.4f}",
                    "" if r["mce"] is None else f"{r['mce']:.4f}", *(f"{r['corruptions'][k]:.4f}" for k in names)])
    return buf.getvalue()


def to_markdown(results: dict) -> str:
    rows = results["rows"]
    lines = [
        "# Classical baselines vs the CNN",
        "",
        "The comparison table of the report this toolkit starts from (SVM 97.1%, k-NN 96.8%, random forest "
        "96.58%, CNN 98.6%), measured here on this machine (2 CPU cores, shared). "
        + ("**Quick run** (`--quick`): small subsets, an indication only. " if results["quick"] else "")
        + f"Accuracy on {results['images']:,} MNIST test images; training time is wall clock; size is the "
        "pickle (CNN: the .tflite file); latency is the median of one-image predictions on one thread "
        "(CNN: the device runtime's classify of a 28x28 image). How each model is trained: "
        "`benchmarks/baselines.py`. "
        f"Written by `{results['command']}` on {results['created']} (scikit-learn {results['scikit_learn']}).",
        "",
        "| model | trained on | test accuracy | training time | size | latency |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        t = time_text(r["train_seconds"])
        lines.append(f"| {r['name']} | {r['training']} | **{100 * r['accuracy']:.2f}%** | {t} | "
                     f"{size_text(r['bytes'], 1)} | {r['latency_ms']:.3f} ms |")
    if rows and rows[0]["corruptions"]:
        lines += ["", "## On the corruptions (MNIST-C)", "",
                  f"Accuracy (%) on {results['corruption_images']:,} test images per corruption (a seeded "
                  "subset; the same images and corruptions as `digitedge evaluate`). mCE: mean error over the 15.",
                  "", "| corruption | " + " | ".join(r["name"] for r in rows) + " |",
                  "| --- |" + " --- |" * len(rows)]
        for c in rows[0]["corruptions"]:
            lines.append(f"| {c} | " + " | ".join(f"{100 * r['corruptions'][c]:.2f}" for r in rows) + " |")
        lines.append("| **mCE (error, %)** | " + " | ".join(f"**{100 * r['mce']:.2f}**" for r in rows) + " |")
    return "\n".join(lines) + "\n"


def time_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.1f} s"
