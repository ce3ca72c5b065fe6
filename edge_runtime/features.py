"""A model's penultimate-layer features, for learning a writer's digits (personal.py), no TensorFlow.

`digitedge convert` gives the models a second output, the features (the dense layer's
activations), and names both in the metadata: "outputs": {"scores": ..., "features": ...}.
FeatureModel runs batches of 28x28 digits and returns both. The stored MNIST features
(edge_runtime/data/, made by scripts/mnist_features from the shipped int8 model) are the
other writers a head is fitted beside; for any other model they are computed from MNIST.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitedge.errors import DigitedgeError, ModelError

from .interpreter import Model, check_model_file
from .metadata import FlatBufferError, read_metadata
from .preprocess import normalize

STORED = Path(__file__).resolve().parent / "data" / "mnist_features.npz"
ANCHOR_PER_DIGIT = 500  # MNIST training digits per class a head is fitted beside (0.05 point less MNIST drop than 300)
ANCHOR_SEED = 0
BATCH = 100


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class FeatureModel:
    """A .tflite with a features output: 28x28 uint8 digits (white on black) -> (probabilities,
    features), through the runtime's Model (its input convention, quantization and batching)."""

    def __init__(self, path: str | Path, backend: str = "auto"):
        self.path = Path(path)
        check_model_file(self.path)
        try:
            names = (read_metadata(self.path) or {}).get("outputs") or {}
        except (FlatBufferError, ValueError) as e:
            raise ModelError(f"{self.path}: unreadable digitedge metadata ({e})") from None
        if "features" not in names:  # before Model, whose complaint would be about the outputs' names
            raise ModelError(f"{self.path}: the model has no features output, so it cannot learn a writer's "
                             "digits (convert it again with digitedge convert)")
        self.model = Model(self.path, backend=backend, threads=1)
        self.sha256 = sha256_of(self.path)

    def run(self, digits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities (n, 10), features (n, size)) of uint8 digits (n, 28, 28)."""
        out = [self.model.run_batch(normalize(digits[i : i + BATCH]), features=True)
               for i in range(0, len(digits), BATCH)]
        return np.concatenate([p for p, _ in out]), np.concatenate([f for _, f in out])


@dataclass(frozen=True)
class Anchor:
    """MNIST digits' features and the model's probabilities on them: the other writers."""
    features: np.ndarray  # (n, size) float32
    probs: np.ndarray  # (n, 10) float32
    labels: np.ndarray  # (n,) int64
    source: str  # where they came from, for the summary


def anchor_indices(labels: np.ndarray, per_digit: int = ANCHOR_PER_DIGIT, seed: int = ANCHOR_SEED) -> np.ndarray:
    """per_digit training images of each digit, a seeded choice: the same for the script and the fallback."""
    rng = np.random.default_rng(seed)
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == d), per_digit, replace=False)
                                   for d in range(10)]))


def compute_anchor(model: FeatureModel, images: np.ndarray, labels: np.ndarray, source: str) -> Anchor:
    idx = anchor_indices(labels)
    probs, feats = model.run(images[idx])
    return Anchor(feats, probs, labels[idx].astype(np.int64), source)


def save_anchor(path: Path, anchor: Anchor, model: FeatureModel) -> None:
    """The stored features: float16 (half the size; the int8 model's are uint8 steps anyway)."""
    info = {"model_sha256": model.sha256, "model": model.path.name, "per_digit": ANCHOR_PER_DIGIT,
            "seed": ANCHOR_SEED, "from": anchor.source}
    np.savez_compressed(path, features=anchor.features.astype(np.float16), probs=anchor.probs.astype(np.float16),
                        labels=anchor.labels.astype(np.uint8), info=np.array(json.dumps(info)))


def stored_anchor(model: FeatureModel, path: Path = STORED) -> Anchor | None:
    """The stored features when they were made with this very model; None otherwise."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            info = json.loads(str(z["info"]))
            if info.get("model_sha256") != model.sha256:
                return None
            return Anchor(z["features"].astype(np.float32), z["probs"].astype(np.float32),
                          z["labels"].astype(np.int64), f"stored features ({path.name})")
    except (OSError, ValueError, KeyError) as e:
        raise DigitedgeError(f"{path}: the stored MNIST features are unreadable ({e})") from None


def load_anchor(model: FeatureModel, data_dir: Path | None = None) -> Anchor:
    """The stored features for the shipped model; for another model, computed from MNIST's training set."""
    anchor = stored_anchor(model)
    if anchor is not None:
        return anchor
    from digitedge import data

    try:
        mnist = data.load(data_dir)
    except DigitedgeError as e:
        raise DigitedgeError(f"{model.path}: no stored MNIST features for this model (they come with the "
                             f"shipped one), and MNIST to compute them is not there ({e})") from None
    return compute_anchor(model, mnist.x_train, mnist.y_train, "MNIST training images")
