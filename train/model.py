"""The CNN, defined in one short function, and keras-tuner's view of it."""

from __future__ import annotations

from dataclasses import replace

import keras
from keras import layers

from digitedge.edge_runtime.preprocess import INPUT_SHAPE
from digitedge.train.config import ModelConfig, SearchSpace


def build_model(cfg: ModelConfig) -> keras.Model:
    """conv blocks (conv-conv-pool, widths doubling) -> dense -> softmax over 10 digits."""
    # BN momentum 0.9, not 0.99: short runs (quick preset, trials) must end with usable statistics.
    x = inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    for block in range(cfg.conv_blocks):
        for _ in range(2):
            x = layers.Conv2D(cfg.filters * 2**block, 3, padding="same", use_bias=not cfg.batch_norm)(x)
            if cfg.batch_norm:
                x = layers.BatchNormalization(momentum=0.9)(x)
            x = layers.ReLU()(x)
        x = layers.MaxPooling2D()(x)
        x = layers.Dropout(cfg.dropout)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(cfg.dense_units, use_bias=not cfg.batch_norm)(x)
    if cfg.batch_norm:
        x = layers.BatchNormalization(momentum=0.9)(x)
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


def hypermodel(space: SearchSpace, base: ModelConfig):
    """keras-tuner's build_model(hp)."""

    def build(hp) -> keras.Model:
        return build_model(config_from_hp(hp, space, base))

    return build
