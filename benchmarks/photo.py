"""The input of the predict path: a realistic photo of one handwritten digit.

digitedge.benchmarks.synthetic renders an MNIST digit as a phone would see it on paper (ink,
uneven light, blur, noise, JPEG). Where that module is not there, the digit is
scaled up and printed dark on light grey paper with a little noise instead.
"""

from __future__ import annotations

import numpy as np

INDEX, SEED, SIDE = 0, 0, 480  # the first test image, at a phone-crop size


def fallback_photo(digit: np.ndarray, side: int = SIDE) -> np.ndarray:
    import cv2

    ink = cv2.resize(digit, (side * 20 // 28, side * 20 // 28), interpolation=cv2.INTER_CUBIC)
    page = np.zeros((side, side), np.float32)
    off = (side - ink.shape[0]) // 2
    page[off : off + ink.shape[0], off : off + ink.shape[1]] = ink / 255.0
    rng = np.random.default_rng(SEED)
    gray = 225 - 190 * page + rng.normal(0, 4, page.shape)
    return np.repeat(np.clip(gray, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def bench_photo(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, dict]:
    """(RGB uint8 photo, a description for the results) of test image INDEX."""
    try:
        from digitedge.benchmarks import synthetic
    except ImportError:
        synthetic = None
    if synthetic is not None and hasattr(synthetic, "digit_photo"):
        photo = synthetic.digit_photo(images, labels, INDEX, seed=SEED, out_side=SIDE).image
        source = f"digitedge.benchmarks.synthetic.digit_photo(test image {INDEX}, seed {SEED}, side {SIDE} px)"
    else:
        photo = fallback_photo(images[INDEX])
        source = f"test image {INDEX} scaled to {SIDE} px, dark on light paper"
    return photo, {"source": source, "shape": list(photo.shape), "label": int(labels[INDEX])}
