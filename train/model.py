"""The CNN, defined in one short function, and keras-tuner's view of it."""

from __future__ import annotations

from dataclasses import replace

import keras
import keras_tuner as kt
from keras import layers

from digitedge.edge_runtime.preprocess import INPUT_SHAPE
from digitedge.train.batchnorm import FusedBatchNorm
from digitedge.train.config import ModelConfig, SearchSpace


def build_model(cfg: ModelConfig, batch_norm=FusedBatchNorm) -> keras.Model:
    """conv blocks (conv-conv-pool, widths doubling) -> dense -> softmax over 10 digits.

    Trained with the fused batch norm (2.3x faster steps); `plain_copy` gives the model to save."""
    # BN momentum 0.9, not 0.99: short runs (quick preset, trials) must end with usable statistics.
    x = inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    for block in range(cfg.conv_blocks):
        for _ in range(2):
            x = layers.Conv2D(cfg.filters * 2**block, 3, padding="same", use_bias=not cfg.batch_norm)(x)
            if cfg.batch_norm:
                x = batch_norm(momentum=0.9)(x)
            x = layers.ReLU()(x)
        x = layers.MaxPooling2D()(x)
        x = layers.Dropout(cfg.dropout)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(cfg.dense_units, use_bias=not cfg.batch_norm)(x)
    if cfg.batch_norm:
        x = batch_norm(momentum=0.9)(x)
    x = layers.ReLU()(x)
    x = layers.Dropout(cfg.dropout)(x)
    outputs = layers.Dense(10, activation="softmax", name="digit")(x)
    model = keras.Model(inputs, outputs, name="digitedge_cnn")
    model.compile(
        optimizer=keras.optimizers.Adam(cfg.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def plain_copy(model: keras.Model, cfg: ModelConfig) -> keras.Model:
    """The trained model in stock Keras layers (the same weights): what is saved and converted."""
    plain = build_model(cfg, batch_norm=layers.BatchNormalization)
    plain.set_weights(model.get_weights())
    return plain


def multiply_adds(model: keras.Model) -> int:
    """Multiply-adds of one forward pass: what training time and device latency scale with."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            h, w, c_out = layer.output.shape[1:]
            total += h * w * c_out * layer.kernel.shape[0] * layer.kernel.shape[1] * layer.kernel.shape[2]
        elif isinstance(layer, layers.Dense):
            total += layer.kernel.shape[0] * layer.kernel.shape[1]
    return int(total)


def config_from_hp(hp, space: SearchSpace, base: ModelConfig) -> ModelConfig:
    """The ModelConfig a keras-tuner trial stands for."""
    return replace(
        base,
        filters=hp.Choice("filters", list(space.filters)),
        dense_units=hp.Choice("dense_units", list(space.dense_units)),
        learning_rate=hp.Choice("learning_rate", list(space.learning_rate)),
        dropout=hp.Choice("dropout", list(space.dropout)),
        conv_blocks=hp.Choice("conv_blocks", list(space.conv_blocks)),
    )


class HyperModel(kt.HyperModel):
    """keras-tuner's build_model(hp); with a compute budget, every trial gets the same compute.

    Equal epochs favour wide models, which learn more per image but cost more per image; the final
    training has a time budget, so the search asks which model is best for a given compute: a trial
    trains on compute / multiply-adds images (a model 4x as costly sees 4x fewer), spread over
    `epochs` pseudo-epochs (1 for random and Bayesian search; Hyperband's most epochs).
    """

    def __init__(self, space: SearchSpace, base: ModelConfig, compute_gmacs: float = 0, batch_size: int = 128,
                 epochs: int = 1):
        super().__init__()
        self.space, self.base, self.compute_gmacs = space, base, compute_gmacs
        self.batch_size, self.epochs = batch_size, epochs

    def build(self, hp) -> keras.Model:
        return build_model(config_from_hp(hp, self.space, self.base))

    def fit(self, hp, model, x, *args, **kwargs):
        kwargs.setdefault("shuffle", False)  # the tf.data pipeline shuffles; keras-tuner passes Keras' default
        if not self.compute_gmacs:
            return model.fit(x, *args, **kwargs)
        return model.fit(x.repeat(), *args, steps_per_epoch=self.steps(model), **kwargs)

    def steps(self, model: keras.Model) -> int:
        """Batches per (pseudo-)epoch that spend the compute budget."""
        images = self.compute_gmacs * 1e9 / multiply_adds(model)
        return max(1, round(images / self.batch_size / self.epochs))
