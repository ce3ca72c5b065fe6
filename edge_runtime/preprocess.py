"""The model's input contract, defined once: training and the device both call these.

A model input is a 28x28x1 image, white digit on black as in MNIST, float32 in
[0, 1] (pixel / 255). An int8 model takes the uint8 pixel itself: its input
quantization (scale 1/255, zero point 0) makes the two the same number.
"""

from __future__ import annotations

import numpy as np

INPUT_SHAPE = (28, 28, 1)
# Bumped whenever what the model is fed changes; stored in every .tflite's metadata.
PREPROCESSING_VERSION = "mnist-v1"


def normalize(images: np.ndarray) -> np.ndarray:
    """uint8 MNIST-style images (..., 28, 28) or (..., 28, 28, 1) -> float32 (..., 28, 28, 1) in [0, 1]."""
    images = np.asarray(images)
    if images.shape[-1] != 1:
        images = images[..., np.newaxis]
    return images.astype(np.float32) / 255.0
