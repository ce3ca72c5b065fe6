"""Fit one model: early stopping on validation accuracy, a decaying learning rate, best weights kept."""

from __future__ import annotations

import sys
import time

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
        *([TimeBudget(cfg.time_budget_min * 60)] if cfg.time_budget_min else []),
    ]


class TimeBudget(keras.callbacks.Callback):
    """Stop after the epoch that crosses the budget; EarlyStopping then restores the best weights."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds

    def on_train_begin(self, logs=None):
        self.started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        if time.monotonic() - self.started > self.seconds:
            print(f"time budget of {self.seconds / 60:.0f} min used up after epoch {epoch + 1}; stopping")
            self.model.stop_training = True


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
