"""The int8 representative dataset: training images, balanced across the digits, seeded.

The images go through the same normalize() as training, so the calibrated input
range is the one the model was trained on (and the device feeds).
"""

from __future__ import annotations

import numpy as np

from digitedge.convert.errors import FormatError
from digitedge.edge_runtime.preprocess import normalize

MIN_SAMPLES = 10  # one image per digit at least


def balanced_indices(labels: np.ndarray, n: int, seed: int, classes: int = 10) -> np.ndarray:
    """n indices into labels, as even across the classes as n allows, in a seeded random order."""
    if n < MIN_SAMPLES:
        raise FormatError(f"--calibration-samples {n}: need at least {MIN_SAMPLES} (one per digit)")
    rng = np.random.default_rng(seed)
    per_class = [n // classes + (1 if c < n % classes else 0) for c in range(classes)]
    chosen = []
    for c, k in enumerate(per_class):
        pool = np.flatnonzero(labels == c)
        if len(pool) < k:
            raise FormatError(f"--calibration-samples {n}: only {len(pool)} training images of {c}")
        chosen.append(rng.choice(pool, size=k, replace=False))
    return rng.permutation(np.concatenate(chosen))


def representative_images(x_train: np.ndarray, y_train: np.ndarray, n: int,
                          seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(float32 (n, 28, 28, 1) in [0, 1], their indices): what int8 ranges are calibrated on."""
    idx = balanced_indices(y_train, n, seed)
    return normalize(x_train[idx]), idx


def representative_dataset(images: np.ndarray):
    """The converter's callable: yields one [batch of 1] per image."""

    def generate():
        for i in range(len(images)):
            yield [images[i : i + 1]]

    return generate
