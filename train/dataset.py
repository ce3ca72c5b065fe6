"""MNIST splits and tf.data pipelines; augmentation happens here, never inside the model."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from digitedge.data import Mnist
from digitedge.edge_runtime.preprocess import normalize
from digitedge.train.config import AugmentConfig, TrainConfig


@dataclass(frozen=True)
class Splits:
    x_train: np.ndarray  # float32 (n, 28, 28, 1), the device's input contract
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def split(mnist: Mnist, cfg: TrainConfig, train_subset: int | None = None) -> Splits:
    """A seeded validation split out of the training images; optional subsets for quick runs."""
    rng = np.random.default_rng(cfg.seed)
    order = rng.permutation(len(mnist.x_train))
    val, train = order[: cfg.val_size], order[cfg.val_size :]
    subset = cfg.train_subset if train_subset is None else train_subset
    if subset:
        train = train[:subset]
    test = np.arange(len(mnist.x_test))
    if cfg.test_subset:
        test = rng.permutation(test)[: cfg.test_subset]
        test.sort()
    return Splits(
        normalize(mnist.x_train[train]), mnist.y_train[train].astype(np.int32),
        normalize(mnist.x_train[val]), mnist.y_train[val].astype(np.int32),
        normalize(mnist.x_test[test]), mnist.y_test[test].astype(np.int32),
    )


def augmenter(cfg: AugmentConfig, seed: int) -> keras.Sequential | None:
    if not cfg.enabled:
        return None
    # Black fill: MNIST's background is 0, and a white border would be read as ink.
    return keras.Sequential([
        layers.RandomRotation(cfg.rotation / 360.0, fill_mode="constant", seed=seed),
        layers.RandomTranslation(cfg.shift, cfg.shift, fill_mode="constant", seed=seed + 1),
        layers.RandomZoom(cfg.zoom, fill_mode="constant", seed=seed + 2),
    ], name="augment")


def pipeline(x, y, cfg: TrainConfig, training: bool) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if training:
        ds = ds.shuffle(len(x), seed=cfg.seed, reshuffle_each_iteration=True)
    ds = ds.batch(cfg.batch_size)
    augment = augmenter(cfg.augment, cfg.seed) if training else None
    if augment is not None:
        ds = ds.map(lambda a, b: (augment(a, training=True), b), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
