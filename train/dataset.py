"""MNIST splits and tf.data pipelines; augmentation happens here, never inside the model."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
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


class RandomStroke(layers.Layer):
    """Strokes thickened (3x3 max filter) or thinned (3x3 min filter) 0 to `steps` times, per image."""

    def __init__(self, steps: int, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.steps, self.generator = steps, keras.random.SeedGenerator(seed)

    def call(self, x, training=True):
        versions, grown, shrunk = [x], x, x
        for _ in range(self.steps):
            grown = tf.nn.max_pool2d(grown, 3, 1, "SAME")
            shrunk = -tf.nn.max_pool2d(-shrunk, 3, 1, "SAME")
            versions += [grown, shrunk]
        pick = keras.random.randint((tf.shape(x)[0],), 0, len(versions), seed=self.generator)
        return tf.einsum("nk,knhwc->nhwc", tf.one_hot(pick, len(versions), dtype=x.dtype), tf.stack(versions))


class RandomNoise(layers.Layer):
    """Gaussian noise with a sigma drawn per image from [0, stddev], clipped to [0, 1]."""

    def __init__(self, stddev: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.stddev, self.generator = stddev, keras.random.SeedGenerator(seed)

    def call(self, x, training=True):
        sigma = keras.random.uniform((tf.shape(x)[0], 1, 1, 1), 0.0, self.stddev, seed=self.generator)
        return tf.clip_by_value(x + sigma * keras.random.normal(tf.shape(x), seed=self.generator), 0.0, 1.0)


class RandomBlur(layers.Layer):
    """Gaussian blur with a sigma drawn per image from [0, sigma] pixels (a depthwise conv, one kernel per image)."""

    def __init__(self, sigma: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.sigma, self.generator = sigma, keras.random.SeedGenerator(seed)
        self.radius = max(1, int(round(3 * sigma)))

    def call(self, x, training=True):
        n = tf.shape(x)[0]
        sigma = keras.random.uniform((n, 1), 0.0, self.sigma, seed=self.generator) + 1e-3
        t = tf.range(-self.radius, self.radius + 1, dtype=x.dtype)[None, :]
        g = tf.exp(-0.5 * tf.square(t / sigma))
        g = g / tf.reduce_sum(g, axis=1, keepdims=True)  # (n, k)
        kernel = tf.transpose(g[:, :, None] * g[:, None, :], (1, 2, 0))[:, :, :, None]  # (k, k, n, 1)
        images = tf.transpose(x, (3, 1, 2, 0))  # the batch as channels of one image
        return tf.transpose(tf.nn.depthwise_conv2d(images, kernel, [1, 1, 1, 1], "SAME"), (3, 1, 2, 0))


class RandomElastic(layers.Layer):
    """Simard et al. (2003)'s elastic distortion: a random displacement field smoothed by a Gaussian.

    `alpha` is a multiple of Simard's strength (34 px at sigma 4, about 1.4 px of displacement).
    Written here with OpenCV because keras' RandomElasticTransform, run inside tf.data, returns
    other images of the batch than the ones it was given (checked with keras 3.15: the labels no
    longer match; eagerly it is fine).
    """

    def __init__(self, alpha: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.alpha, self.generator = alpha, keras.random.SeedGenerator(seed)

    def call(self, x, training=True):
        seed = keras.random.randint((), 0, 2**31 - 1, seed=self.generator)
        out = tf.numpy_function(self.distort, [x, seed], tf.float32, stateful=False)
        return tf.ensure_shape(out, x.shape)

    def distort(self, x: np.ndarray, seed) -> np.ndarray:
        rng = np.random.default_rng(int(seed))
        out = np.empty_like(x)
        h, w = x.shape[1:3]
        grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        for i, image in enumerate(x):
            dx, dy = (cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), 4) * 34 * self.alpha
                      for _ in range(2))
            out[i, :, :, 0] = cv2.remap(image[:, :, 0], grid_x + dx, grid_y + dy, cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return out


class RandomLine(layers.Layer):
    """One straight light line across the image (a ruled line, a strike-through, a stray stroke): any
    angle, 1 to `width` px wide, at 40-100% of white, drawn over the digit."""

    def __init__(self, width: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.width, self.generator = width, keras.random.SeedGenerator(seed)

    def call(self, x, training=True):
        n, h, w = tf.shape(x)[0], x.shape[1], x.shape[2]
        draw = lambda low, high: keras.random.uniform((n, 1, 1, 1), low, high, seed=self.generator)  # noqa: E731
        angle, offset = draw(0.0, np.pi), draw(-0.35, 0.35) * h
        width, level = draw(1.0, self.width), draw(0.4, 1.0)
        rows = tf.range(h, dtype=x.dtype)[None, :, None, None] - (h - 1) / 2
        cols = tf.range(w, dtype=x.dtype)[None, None, :, None] - (w - 1) / 2
        distance = tf.abs(cols * tf.sin(angle) - rows * tf.cos(angle) - offset)
        line = level * tf.clip_by_value(width / 2 + 0.5 - distance, 0.0, 1.0)  # anti-aliased edges
        return tf.maximum(x, line)


class RandomLighting(layers.Layer):
    """Uneven light or grey paper: a smooth background (a random 4x4 grid, upsampled) of up to
    `strength` of white added, the result scaled back into [0, 1] so the ink stays the brightest."""

    def __init__(self, strength: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.strength, self.generator = strength, keras.random.SeedGenerator(seed)

    def call(self, x, training=True):
        n = tf.shape(x)[0]
        grid = keras.random.uniform((n, 4, 4, 1), seed=self.generator)
        field = tf.image.resize(grid, x.shape[1:3], method="bicubic")
        amount = keras.random.uniform((n, 1, 1, 1), 0.0, self.strength, seed=self.generator)
        return tf.clip_by_value((x + amount * field) / (1 + amount), 0.0, 1.0)


class Sometimes(layers.Layer):
    """`layer` applied to a random share of the images, the others passed through unchanged."""

    def __init__(self, layer, share: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.layer, self.share, self.generator = layer, share, keras.random.SeedGenerator(seed)

    def call(self, x, training=True):
        if self.share >= 1:
            return self.layer(x, training=training)
        pick = keras.random.uniform((tf.shape(x)[0], 1, 1, 1), seed=self.generator) < self.share
        return tf.where(pick, self.layer(x, training=training), x)


def robust_layers(cfg: AugmentConfig, seed: int) -> list:
    """The robust augmentations switched on, in the order a camera applies them."""
    unit = (0.0, 1.0)
    half = cfg.robust_share / 2  # a line across changes a digit's shape most (a bar can top a 1), so half as often
    steps = [
        (cfg.elastic, cfg.robust_share, lambda: RandomElastic(cfg.elastic, seed=seed + 3)),
        (cfg.thickness, cfg.robust_share, lambda: RandomStroke(cfg.thickness, seed=seed + 4)),
        (cfg.lines, half, lambda: RandomLine(cfg.lines, seed=seed + 20)),
        (cfg.blur, cfg.robust_share, lambda: RandomBlur(cfg.blur, seed=seed + 5)),
        (cfg.contrast, cfg.robust_share, lambda: layers.RandomContrast(cfg.contrast, value_range=unit, seed=seed + 6)),
        (cfg.lighting, cfg.robust_share, lambda: RandomLighting(cfg.lighting, seed=seed + 21)),
        (cfg.noise, cfg.robust_share, lambda: RandomNoise(cfg.noise, seed=seed + 8)),
    ]
    # Each on a share of the images, so that clean-looking digits stay common; inversion has its own share.
    chosen = [Sometimes(make(), share, seed=seed + 10 + i) for i, (amount, share, make) in enumerate(steps) if amount]
    if cfg.invert:
        chosen.insert(-1 if cfg.noise else len(chosen),
                      # a (p, p) factor: a single float would mean "a probability drawn from [0, p]"
                      layers.RandomInvert((cfg.invert, cfg.invert), value_range=unit, seed=seed + 7))
    return chosen


def augmenter(cfg: AugmentConfig, seed: int) -> keras.Sequential | None:
    if not cfg.enabled:
        return None
    # Black fill: MNIST's background is 0, and a white border would be read as ink.
    return keras.Sequential([
        layers.RandomRotation(cfg.rotation / 360.0, fill_mode="constant", seed=seed),
        layers.RandomTranslation(cfg.shift, cfg.shift, fill_mode="constant", seed=seed + 1),
        layers.RandomZoom(cfg.zoom, fill_mode="constant", seed=seed + 2),
        *robust_layers(cfg, seed),
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
