"""Write tests/data/foreign_flat_bow.tflite: a small digit model as someone else might publish it,
for the edge-only tests of convention detection (they cannot build models: no TensorFlow there).

Its conventions are all unlike ours: a flat 1x784 float input, values -1..1, black digits on
white, logits out, no digitedge metadata. Run once with TensorFlow; the file is committed.
Usage: DIGITEDGE_DATA=/path/to/mnist python scripts/foreign_test_model.py
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from digitedge import data

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "foreign_flat_bow.tflite"
TRAIN = 20000


def main() -> None:
    mnist = data.load()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((784,)),
        keras.layers.Reshape((28, 28, 1)),
        keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu"),
        keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(10),
    ])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    # black on white, -1..1: 255 (paper) -> 1, 0 (ink) -> -1
    x = (255.0 - mnist.x_train[:TRAIN].reshape(TRAIN, 784).astype(np.float32)) / 127.5 - 1.0
    model.fit(x, mnist.y_train[:TRAIN], epochs=3, batch_size=64, verbose=2)
    OUT.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
