"""From a folder of a writer's labelled photos to a personal head, and how much it helps.

learn: the photos' digits (samples.py) -> their features (features.py) -> a head fitted
beside MNIST digits (personal.py). cross_validate: k folds over the photos, the base model
against heads fitted without the fold. mnist_accuracy: the MNIST test set, base and with a head.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitedge.errors import DigitedgeError

from .features import Anchor, FeatureModel, load_anchor
from .personal import FitConfig, Head, fit
from .preprocess import PhotoConfig
from .samples import Samples, read_samples


@dataclass
class Learned:
    head: Head
    samples: Samples
    anchor: Anchor
    probs: np.ndarray  # the model's probabilities on the samples' digits
    features: np.ndarray
    seconds: dict  # read (photos to digits), features, fit


def sample_features(folder: Path, model: FeatureModel, photo: PhotoConfig = PhotoConfig()):
    """(samples, model probabilities, features, seconds per step); one error when no photo gives a digit."""
    start = time.perf_counter()
    samples = read_samples(folder, photo)
    read = time.perf_counter() - start
    if not len(samples.labels):
        raise DigitedgeError(f"{folder}: none of the {len(samples.skipped)} labelled photos gave its digits "
                             f"({samples.skipped[0][2]}{', ...' if len(samples.skipped) > 1 else ''})")
    start = time.perf_counter()
    probs, feats = model.run(samples.crops)
    return samples, probs, feats, {"read": read, "features": time.perf_counter() - start}


def learn(folder: str | Path, model: FeatureModel, anchor: Anchor | None = None, data_dir: Path | None = None,
          config: FitConfig = FitConfig(), photo: PhotoConfig = PhotoConfig()) -> Learned:
    """A head for the writer of the photos in `folder`, fitted beside `anchor` (MNIST digits: by
    default the stored ones, or computed from MNIST in data_dir)."""
    samples, probs, feats, seconds = sample_features(Path(folder), model, photo)
    start = time.perf_counter()
    anchor = anchor if anchor is not None else load_anchor(model, data_dir)
    seconds["anchor"] = time.perf_counter() - start
    start = time.perf_counter()
    head = fit(feats, probs, samples.labels, anchor, model.sha256, config)
    seconds["fit"] = time.perf_counter() - start
    return Learned(head, samples, anchor, probs, feats, seconds)


def folds_of(samples: Samples, k: int) -> np.ndarray:
    """The fold of each photo: the photos of each label dealt round the k folds in turn."""
    dealt: dict[str, int] = {}
    fold = np.zeros(len(samples.photos), np.int64)
    for p, text in enumerate(samples.texts):
        fold[p] = dealt.get(text, 0) % k
        dealt[text] = dealt.get(text, 0) + 1
    return fold


def cross_validate(learned: Learned, k: int, config: FitConfig = FitConfig()) -> dict:
    """Right digits out of all, base and personalized, each fold's digits read by a head fitted without them."""
    samples = learned.samples
    k = min(k, len(samples.photos))
    if k < 2:
        raise DigitedgeError("--evaluate needs at least 2 usable photos, to hold some out")
    held = folds_of(samples, k)[samples.photo_of]
    personal = np.zeros(len(samples.labels), np.int64)
    for f in range(k):
        train, test = held != f, held == f
        head = fit(learned.features[train], learned.probs[train], samples.labels[train], learned.anchor,
                   learned.head.model_sha256, config)
        personal[test] = head.probabilities(learned.features[test], learned.probs[test]).argmax(axis=1)
    base = learned.probs.argmax(axis=1)
    return {"folds": k, "digits": int(len(samples.labels)), "photos": len(samples.photos),
            "base_right": int(np.sum(base == samples.labels)),
            "personal_right": int(np.sum(personal == samples.labels))}


def mnist_accuracy(model: FeatureModel, images: np.ndarray, labels: np.ndarray, heads: list[Head]) -> list[float]:
    """The MNIST test accuracy of the model alone, then with each head."""
    probs, feats = model.run(images)
    found = [probs.argmax(axis=1)] + [h.probabilities(feats, probs).argmax(axis=1) for h in heads]
    return [float(np.mean(p == labels)) for p in found]
