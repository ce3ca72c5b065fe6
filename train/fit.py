"""Fit one model: early stopping on validation accuracy, a decaying learning rate, best weights kept."""

from __future__ import annotations

import sys

import keras
from digitedge.train.config import TrainConfig
from digitedge.train.dataset import Splits, pipeline


def callbacks(cfg: TrainConfig) -> list:
    return [
        keras.callbacks.EarlyStopping(
            monitor="val_accuracy", patience=cfg.patience, restore_best_weights=True, verbose=0
        ),
        # A steady decay: late epochs refine instead of bouncing around the optimum.
        keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.9 if epoch else lr),
    ]


def fit(model: keras.Model, data: Splits, cfg: TrainConfig, verbose=None) -> keras.callbacks.History:
    return model.fit(
        pipeline(data.x_train, data.y_train, cfg, training=True),
        validation_data=pipeline(data.x_val, data.y_val, cfg, training=False),
        epochs=cfg.epochs,
        callbacks=callbacks(cfg),
        verbose=progress_mode() if verbose is None else verbose,
    )


def progress_mode() -> int:
    """Keras' live progress bar on a terminal; one line per epoch in logs and CI."""
    return 1 if sys.stdout.isatty() else 2
