"""Fit one model: a cosine learning rate that ends with the time budget, best weights kept."""

from __future__ import annotations

import math
import statistics
import sys
import time

import keras

from digitedge.train.batchnorm import SettleBatchNorm
from digitedge.train.config import TrainConfig
from digitedge.train.dataset import Splits, pipeline


def callbacks(cfg: TrainConfig, train_ds) -> list:
    """Batch-norm statistics settled before each validation, early stopping on the validation
    they give, and the cosine schedule."""
    return [
        SettleBatchNorm(train_ds, cfg.batch_size),
        keras.callbacks.EarlyStopping(
            monitor="val_accuracy", patience=cfg.patience, restore_best_weights=True, verbose=0
        ),
        CosineSchedule(cfg.epochs, cfg.time_budget_min * 60),
    ]


class CosineSchedule(keras.callbacks.Callback):
    """Cosine decay, per batch, from the initial learning rate towards zero over the epochs that fit the budget.

    The last, low-rate epochs are where the accuracy is won, so a run must reach them: after each
    epoch the horizon becomes what the remaining time allows at the median pace so far (never
    more than `epochs`).
    """

    def __init__(self, epochs: int, budget_s: float = 0):
        super().__init__()
        self.epochs, self.budget_s = epochs, budget_s

    def on_train_begin(self, logs=None):
        self.started, self.horizon = time.monotonic(), self.epochs
        self.lr0 = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self.ends = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        # Per batch, so that a single long epoch (a search trial) anneals too.
        progress = self.epoch + batch / (self.params.get("steps") or math.inf)
        rate = self.lr0 * 0.5 * (1 + math.cos(math.pi * progress / self.horizon))
        self.model.optimizer.learning_rate.assign(rate)
        if batch == 0:
            self.epoch_rate = rate

    def on_epoch_end(self, epoch, logs=None):
        self.ends.append(time.monotonic())
        if logs is not None:
            logs["learning_rate"] = self.epoch_rate  # the rate the epoch started with
        if self.budget_s:  # re-estimated every epoch, so that one slow epoch does not cut the run short
            self.horizon = min(self.epochs, epoch + 1 + int(self.remaining() // self.epoch_time()))
        if epoch + 1 >= self.horizon:
            if self.horizon < self.epochs:
                print(f"time budget of {self.budget_s / 60:.0f} min: schedule ended after epoch {epoch + 1}")
            self.model.stop_training = True

    def epoch_time(self) -> float:
        # The first epoch also compiles; later epochs, when there are any, tell the real pace,
        # and their median leaves out an epoch slowed by something else on the machine.
        steps = [b - a for a, b in zip(self.ends, self.ends[1:])] or [self.ends[0] - self.started]
        return statistics.median(steps)

    def remaining(self) -> float:
        return self.budget_s - (time.monotonic() - self.started)


def fit(model: keras.Model, data: Splits, cfg: TrainConfig, verbose=None) -> keras.callbacks.History:
    train_ds = pipeline(data.x_train, data.y_train, cfg, training=True)
    return model.fit(
        train_ds,
        validation_data=pipeline(data.x_val, data.y_val, cfg, training=False),
        epochs=cfg.epochs,
        callbacks=callbacks(cfg, train_ds),
        shuffle=False,  # the tf.data pipeline shuffles (dataset.py); for a Dataset Keras ignores it and warns
        verbose=progress_mode() if verbose is None else verbose,
    )


def progress_mode() -> int:
    """Keras' live progress bar on a terminal; one line per epoch in logs and CI."""
    return 1 if sys.stdout.isatty() else 2
