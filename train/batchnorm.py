"""Batch norm for training: a fused step, and settled statistics before every validation.

Fused: Keras 3 computes a training batch's moments with separate reductions, which on this CPU cost
half of a training step (2 blocks of 32 filters, batch 128: 258 ms a step, 114 ms with TensorFlow's
fused kernel; 27 vs 10 ms forward and backward for one 128x28x28x32 layer). `FusedBatchNorm` is
Keras' layer with that kernel in training; inference is Keras' own, and `plain_copy` turns a trained
model back into stock layers before it is saved, so no model file needs this module to load.

Settled: so that a short run is judged by what it learned.

Batch normalization validates with moving averages of the batch statistics, and those trail the
weights: they start at mean 0 / variance 1 and forget only a tenth per step (momentum 0.9). An
equal-compute search trial of a wide model takes ~20 steps (2 blocks of 128 filters: 2,580
images), after which 0.9**20 = 12% of every moving variance is still the initial 1, while the first
layer's real variance is ~0.001. Validated with those statistics, such a trial scored 11.16%
(chance) although it trained to 71% (issue 16).

The fix is the "precise BN" of Wu & Johnson (2021): re-estimate the statistics from a fixed sample of
training images, with the weights as they are, right before each validation (Keras calls
`on_test_begin` inside `fit` just before it validates). A momentum fitted to the trial's length was
not measured: it would still average statistics of older weights. The sample is 8 batches
of the training pipeline, augmented as the weights were trained: the layers after each batch norm
learned on batches normalised by augmented statistics. Measured (validation accuracy, same weights):
- a 20-step trial of 2 blocks of 128 filters: moving statistics 11.2%, settled on 8 augmented
  batches 92.3%, on 8 clean ones 91.4%, on 32 clean ones 91.5%;
- the release search's trial 11 (3 blocks of 32, dropout 0.4, lr 1e-4, 200 steps): moving 52.3%,
  augmented 52.0%, clean 11.3%: clean statistics broke it, so a first version with them still left
  one trial at chance;
- with dropout switched off while settling (inference has none): 89.2% and 62.3%, but 1-3 points
  worse on the quick preset, so it stays on.
8 batches cost 1-17% of a trial's compute.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


class FusedBatchNorm(keras.layers.BatchNormalization):
    """keras.layers.BatchNormalization whose training step is tf's FusedBatchNormV3 (same weights, same
    moving-average rule, `momentum` honoured so that `settle` works; the batch variance it averages is
    the unbiased one, n/(n-1) larger: 1.0001 for a conv layer, 1.008 for a batch-128 dense layer)."""

    def call(self, inputs, training=None, mask=None):
        rank = inputs.shape.rank
        if not (training and self.center and self.scale and rank in (2, 4) and self.axis in (-1, rank - 1)):
            return super().call(inputs, training=training, mask=mask)
        x = inputs if rank == 4 else inputs[:, None, None, :]  # the kernel wants NHWC
        y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            x, self.gamma, self.beta, epsilon=self.epsilon, is_training=True)
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1 - self.momentum))
        return y if rank == 4 else y[:, 0, 0, :]


def batch_norm_layers(model: keras.Model) -> list:
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        elif hasattr(layer, "layers"):  # a nested model
            found += batch_norm_layers(layer)
    return found


def settle(model: keras.Model, images: np.ndarray, batch_size: int) -> None:
    """Set every batch-norm layer's moving statistics to the average over `images`' batches."""
    layers = batch_norm_layers(model)
    saved = [layer.momentum for layer in layers]
    try:
        for i, start in enumerate(range(0, len(images), batch_size)):
            for layer in layers:  # a running mean: batch i weighs 1/(i+1), the first replaces the start values
                layer.momentum = i / (i + 1)
            model(images[start : start + batch_size], training=True)
    finally:
        for layer, momentum in zip(layers, saved):
            layer.momentum = momentum


class SettleBatchNorm(keras.callbacks.Callback):
    """Before each validation in `fit`, re-estimate the batch-norm statistics on a fixed training sample."""

    def __init__(self, train_ds, batch_size: int, batches: int = 8):
        super().__init__()
        # Drawn once into a plain array: a fixed sample, and a callback keras-tuner can deep-copy.
        self.images = np.concatenate([np.asarray(x) for x, _ in train_ds.take(batches)])
        self.batch_size = batch_size

    def on_test_begin(self, logs=None):
        if batch_norm_layers(self.model):
            settle(self.model, self.images, self.batch_size)
