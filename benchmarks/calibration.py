"""`digitedge calibration`: is a digit's confidence what it claims, and where should "unsure" start?

For each model and dataset: every digit's confidence (as Recognizer gives it: the top-1
probability, checked by a second look, edge_runtime/confidence.py) and whether it was right.
From those: the reliability diagram and the expected calibration error (ECE, 15 equal-width
bins), and the accuracy-vs-coverage curve: for each threshold t, the share of digits kept
(confidence >= t, i.e. not marked unsure) and how many of those are right.

A dataset is a name, its roles and a scoring function, so a new one (the photo suite) is one
more entry in `datasets()`. Roles: "kept" datasets must reach TARGET_KEPT_ACCURACY among
the digits kept (MNIST-C, the photo suite); "coverage" datasets may have at most
MAX_UNSURE_CLEAN of their digits marked unsure (the suite's plain photos: issue 17 sets the budget
on clean photos); "shown" datasets are reported only (clean MNIST, whose test set holds digits
that people misread too); "check" datasets are the next hundred photos of each of those, which
the default was not chosen on: they show whether it holds on photos it has not seen. The default --min-confidence
is chosen on the runtime's default model (int8) by `choose`; edge_runtime.recognizer's
DEFAULT_MIN_CONFIDENCE must equal the value recorded here (a test checks it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from digitedge.errors import DigitedgeError

from .common import command_line, progress_bar
from .corruptions import CORRUPTIONS, corrupt

BINS = 15
TARGET_KEPT_ACCURACY = 0.995  # of the digits not marked unsure, on every "kept" dataset
MAX_UNSURE_CLEAN = 0.03  # of the digits of every "coverage" dataset
QUICK_IMAGES = 1000
PHOTOS_PER_KIND, PHOTOS_QUICK = 100, 20
# Fine steps near 1, where a well-trained model puts almost every digit; from 0.97 every int8
# probability level (steps of 1/256 = 0.0039) falls between two thresholds. Steps of 0.01 from
# 0.5: the second look moves the best threshold down to 0.8-0.9.
THRESHOLDS = np.unique(np.round(np.concatenate([
    np.arange(0.0, 0.5, 0.05), np.arange(0.5, 0.97, 0.01), np.arange(0.97, 0.99, 0.002),
    np.arange(0.99, 1.0, 0.001)]), 4))


@dataclass
class Scores:
    """One model on one dataset: each digit's confidence, and whether it was right."""

    confidence: np.ndarray
    correct: np.ndarray
    missed: int = 0  # photos in which no digit (or the wrong number of digits) was found


@dataclass
class Dataset:
    name: str
    roles: tuple[str, ...]  # "kept", "coverage"
    describe: str
    score: Callable[[object], Scores]  # model (benchmarks.robustness.TfliteModel) -> Scores


@dataclass
class CalibrationConfig:
    models: list[Path]
    out: Path
    quick: bool = False  # QUICK_IMAGES test images instead of 10,000
    seed: int = 0
    threads: int | None = None
    data_dir: Path | None = None
    progress: bool = True
    command: str | None = None
    extra: list[Dataset] = field(default_factory=list)  # more datasets (tests, the photo suite)

    @property
    def n_images(self) -> int:
        return QUICK_IMAGES if self.quick else 10_000


# ---- scoring --------------------------------------------------------------------------------


def mnist_probabilities(model, images: np.ndarray) -> np.ndarray:
    """(N, 10) probabilities of 28x28 uint8 digits, through the runtime's own arithmetic."""
    from digitedge.edge_runtime.interpreter import as_probabilities
    from digitedge.edge_runtime.preprocess import normalize

    from .accuracy import BATCH, batch_interpreter, quantize

    found = batch_interpreter(model, BATCH) if len(images) >= BATCH else None
    if found is None:
        return np.stack([model.model.run(normalize(img)) for img in images])
    it, i_in, i_out = found
    rows = []
    for lo in range(0, len(images), BATCH):
        chunk = normalize(images[lo : lo + BATCH])
        n = len(chunk)
        if n < BATCH:  # pad the last batch, keep the real rows
            chunk = np.concatenate([chunk, np.zeros((BATCH - n,) + chunk.shape[1:], chunk.dtype)])
        it.set_tensor(i_in, quantize(model.model, chunk))
        it.invoke()
        rows += [as_probabilities(model.model.dequantize_output(r)) for r in it.get_tensor(i_out)[:n]]
    return np.stack(rows)


def mnist_scores(model, images: np.ndarray, labels: np.ndarray) -> Scores:
    """Each digit's confidence as the Recognizer gives it (its probability, checked by a second look)."""
    from digitedge.edge_runtime.confidence import confidences

    from .targets import label_of, top1

    probs = mnist_probabilities(model, images)
    top = np.array([top1(p) for p in probs])
    digits = np.array([label_of(model.recognizer.labels, i) for i in top])
    return Scores(confidences(images, probs, lambda x: mnist_probabilities(model, x)), digits == labels)


def photo_scores(model, photos) -> Scores:
    """Photos as (image, label): every digit read, right when the number has the label's length."""
    confidence, correct, missed = [], [], 0
    for image, label in photos:
        want = str(label)
        try:
            reading = model.recognizer.read(image)
        except DigitedgeError:  # no digit found: missed, not unsure
            missed += 1
            continue
        if len(reading.digits) != len(want):
            missed += 1
        for i, d in enumerate(reading.digits):
            confidence.append(d.confidence)
            correct.append(len(reading.digits) == len(want) and str(d.digit) == want[i])
    return Scores(np.array(confidence, float), np.array(correct, bool), missed)


def datasets(cfg: CalibrationConfig, mnist) -> list[Dataset]:
    """Clean MNIST test, the 15 MNIST-C corruptions pooled, the photo suite when it exists."""
    index = np.arange(10_000) if cfg.n_images >= 10_000 else np.sort(
        np.random.default_rng(cfg.seed).permutation(10_000)[: cfg.n_images])
    images, labels = mnist.x_test[index], mnist.y_test[index].astype(int)
    corrupted = np.concatenate([corrupt(name, images, None, cfg.seed) for name in CORRUPTIONS])
    out = [
        Dataset("mnist-clean", ("shown",), f"MNIST test, {len(index):,} digits",
                lambda m: mnist_scores(m, images, labels)),
        Dataset("mnist-c", ("kept",), f"the {len(CORRUPTIONS)} MNIST-C corruptions of those, pooled",
                lambda m: mnist_scores(m, corrupted, np.tile(labels, len(CORRUPTIONS)))),
    ]
    return out + photo_datasets(cfg, mnist) + cfg.extra


def photo_datasets(cfg: CalibrationConfig, mnist) -> list[Dataset]:
    """The photo suite (photo_kinds.py) when it is there: its digit kinds pooled ("kept"), its plain
    photos ("coverage": the clean photos a user takes) and clean photos of numbers ("coverage");
    then the next photos of each ("check"), which the default is not chosen on."""
    try:
        from . import photo_kinds  # noqa: F401  (the benchmarks extra: the photo generator)
    except ImportError:
        return []
    n = PHOTOS_QUICK if cfg.quick else PHOTOS_PER_KIND
    return photo_sets(mnist, range(n), check=False) + photo_sets(mnist, range(n, 2 * n), check=True)


def photo_sets(mnist, indices: range, check: bool) -> list[Dataset]:
    """The suite's photos `indices` of each kind pooled, its plain ones, and as many clean photos of
    numbers (3-6 digits, as `digitedge data samples` makes them; seeds apart from the tests' 1000+).
    As check sets, each is "check" and named with "-check"; else "kept" and "coverage"."""
    from . import photo_kinds, synthetic

    kept, coverage, suffix = (("check",), ("check",), "-check") if check else (("kept",), ("coverage",), "")
    x, y = mnist.x_test, mnist.y_test.astype(int)
    kinds = [k.name for k in photo_kinds.KINDS if k.has_digit]
    made = {k: [photo_kinds.photo(k, x, y, i) for i in indices] for k in kinds}
    pooled = [(p.image, p.text) for k in kinds for p in made[k]]
    plain = [(p.image, p.text) for p in made.get("plain", [])]
    numbers = [(p.image, p.text) for p in (synthetic.number_photo(x, y, seed=5000 + i) for i in indices)]
    which = f"{indices.start}-{indices.stop - 1}"
    out = [Dataset("photos" + suffix, kept, f"the photo suite: {len(kinds)} kinds x photos {which}",
                   lambda m: photo_scores(m, pooled))]
    if plain:
        out.append(Dataset("photos-plain" + suffix, coverage, f"the suite's plain photos {which}",
                           lambda m: photo_scores(m, plain)))
    out.append(Dataset("numbers" + suffix, coverage, f"clean photos of 3-6 digit numbers, seeds 5000 + {which}",
                       lambda m: photo_scores(m, numbers)))
    return out


# ---- measures -------------------------------------------------------------------------------


def reliability(s: Scores, bins: int = BINS) -> tuple[float, list[dict]]:
    """(ECE, per bin: its range, count, mean confidence, accuracy) over equal-width bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(s.confidence, edges[1:-1], right=True), 0, bins - 1)
    ece, rows = 0.0, []
    for b in range(bins):
        inside = which == b
        n = int(inside.sum())
        conf = float(s.confidence[inside].mean()) if n else None
        acc = float(s.correct[inside].mean()) if n else None
        if n:
            ece += n / max(1, len(s.confidence)) * abs(acc - conf)
        rows.append({"low": round(float(edges[b]), 4), "high": round(float(edges[b + 1]), 4), "count": n,
                     "confidence": conf, "accuracy": acc})
    return ece, rows


def coverage_curve(s: Scores, thresholds=THRESHOLDS) -> list[dict]:
    """Per threshold: the share kept (probability >= t) and the accuracy of those kept."""
    out = []
    for t in thresholds:
        kept = s.confidence >= t
        n = int(kept.sum())
        out.append({"threshold": float(t), "coverage": n / max(1, len(kept)),
                    "kept_accuracy": float(s.correct[kept].mean()) if n else None})
    return out


def summarize(s: Scores) -> dict:
    ece, bins = reliability(s)
    return {"digits": len(s.confidence), "missed": s.missed,
            "accuracy": float(s.correct.mean()) if len(s.correct) else None,
            "ece": ece, "bins": bins, "curve": coverage_curve(s)}


def at(result: dict, threshold: float) -> dict:
    """The curve's point at a threshold."""
    return next(p for p in result["curve"] if abs(p["threshold"] - threshold) < 1e-9)


def choose(per_dataset: dict, roles: dict) -> dict:
    """The default threshold for one model: the lowest that meets the kept-accuracy target on
    every "kept" dataset, if it keeps the clean share unsure within MAX_UNSURE_CLEAN. When no
    threshold meets both, the clean budget wins (a user sees every "?" on a clean digit): the
    highest threshold within it, and the record says the kept-accuracy target is not met."""
    kept = [d for d, r in roles.items() if "kept" in r and d in per_dataset]
    clean = [d for d, r in roles.items() if "coverage" in r and d in per_dataset]

    def kept_ok(t):
        return all((at(per_dataset[d], t)["kept_accuracy"] or 0.0) >= TARGET_KEPT_ACCURACY for d in kept)

    def clean_ok(t):
        return all(1 - at(per_dataset[d], t)["coverage"] <= MAX_UNSURE_CLEAN + 1e-9 for d in clean)  # 3 in 100

    ts = [float(t) for t in THRESHOLDS]
    both = [t for t in ts if kept_ok(t) and clean_ok(t)]
    if both:
        t, met, rule = both[0], True, "the lowest threshold meeting both targets"
    else:
        within = [t for t in ts if clean_ok(t)] or [0.0]
        t, met, rule = within[-1], False, "no threshold meets both: the highest within the clean budget"
    return {"threshold": t, "targets_met": met, "rule": rule,
            "at_threshold": {d: {"unsure": 1 - at(per_dataset[d], t)["coverage"],
                                 "kept_accuracy": at(per_dataset[d], t)["kept_accuracy"]} for d in per_dataset}}


# ---- the run --------------------------------------------------------------------------------


def measure(cfg: CalibrationConfig, mnist=None) -> dict:
    """Every model on every dataset, and the chosen default; nothing written."""
    from .robustness import load_models

    if not cfg.models:
        raise DigitedgeError("no models to calibrate")
    started = time.time()
    if mnist is None:
        from digitedge import data

        mnist = data.load_or_fetch(cfg.data_dir)
    models = load_models(cfg.models, cfg.threads)
    sets = datasets(cfg, mnist)
    results: dict = {}
    with progress_bar(cfg.progress) as bar:
        task = bar.add_task("calibration", total=len(sets) * len(models))
        for m in models:
            results[m.name] = {}
            for d in sets:
                bar.update(task, description=f"{m.name}: {d.name}")
                results[m.name][d.name] = summarize(d.score(m))
                bar.advance(task)
    roles = {d.name: list(d.roles) for d in sets}
    default = default_model(models)
    return {
        "command": cfg.command or command_line(),
        "images": cfg.n_images,
        "quick": cfg.quick,
        "seed": cfg.seed,
        "bins": BINS,
        "targets": {"kept_accuracy": TARGET_KEPT_ACCURACY, "max_unsure_clean": MAX_UNSURE_CLEAN},
        "datasets": {d.name: {"roles": list(d.roles), "describe": d.describe} for d in sets},
        "models": {m.name: {"file": Path(m.path).name, "kind": m.kind} for m in models},
        "results": results,
        "default_model": default,
        "chosen": choose(results[default], roles),
        "per_model": {name: choose(results[name], roles) for name in results},
        "seconds": round(time.time() - started, 1),
    }


def default_model(models: list) -> str:
    """The model the default is chosen on: the runtime's default (int8) when it is calibrated."""
    from digitedge.edge_runtime.recognizer import DEFAULT_MODEL

    same = [m.name for m in models if Path(m.path).resolve() == DEFAULT_MODEL.resolve()]
    return same[0] if same else models[0].name


def run(cfg: CalibrationConfig, mnist=None) -> dict:
    from .calibration_report import write_outputs

    results = measure(cfg, mnist)
    write_outputs(results, cfg.out)
    return results
