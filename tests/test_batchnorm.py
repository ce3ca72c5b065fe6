"""Issue 16: search trials are validated with batch-norm statistics that match their weights."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from digitedge.train.config import PRESETS, ModelConfig, SearchSpace, TuneConfig  # noqa: E402


def test_settle_sets_the_moving_statistics_to_the_average_of_the_batches():
    import keras

    from digitedge.train.batchnorm import settle

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.BatchNormalization(momentum=0.9)(inputs))
    images = np.random.default_rng(0).normal(5.0, 2.0, (64, 3)).astype("float32")
    settle(model, images, batch_size=16)
    batches = images.reshape(4, 16, 3)
    layer = model.layers[-1]
    np.testing.assert_allclose(layer.moving_mean.numpy(), batches.mean(axis=1).mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.numpy(), batches.var(axis=1).mean(axis=0), rtol=1e-4)
    assert layer.momentum == 0.9  # restored for training


def trial_results(cfg: TuneConfig, mnist, run_dir) -> list[tuple[float, float]]:
    """(training accuracy, validation accuracy) of every trial of a search run the way `tune` runs it."""
    from digitedge.train.run import make_tuner, search

    tuner = make_tuner(cfg, run_dir)
    search(tuner, cfg, mnist, verbose=0)
    trials = sorted(tuner.oracle.trials.values(), key=lambda t: int(t.trial_id))
    return [(t.metrics.get_last_value("accuracy"), t.score) for t in trials]


def test_a_short_trial_of_a_wide_model_validates_as_well_as_it_trains(mnist, tmp_path):
    """A few dozen steps of 2 blocks of 64 filters, as an equal-compute release trial gives a wide model.

    With the moving statistics it ended with, such a trial validated at chance (11%) after training
    to far above it, so the search never compared wide models fairly.
    """
    from digitedge.train.model import build_model, multiply_adds

    model = ModelConfig(conv_blocks=2, filters=64, dense_units=64, dropout=0.1, learning_rate=1e-3)
    steps = 24
    compute = steps * 128 * multiply_adds(build_model(model)) / 1e9
    cfg = replace(
        PRESETS["release"], max_trials=1, trial_compute=compute,
        train=replace(PRESETS["release"].train, model=model, val_size=2000),
        space=SearchSpace(filters=(64,), dense_units=(64,), learning_rate=(1e-3,), dropout=(0.1,),
                          conv_blocks=(2,)),
    )
    [(trained, validated)] = trial_results(cfg, mnist, tmp_path / "search")
    assert trained > 0.3, f"the trial did not learn ({trained:.1%}): the test proves nothing"
    assert validated > 0.8, f"trained to {trained:.1%}, validated at {validated:.1%}"


def test_every_quick_preset_trial_that_learns_validates_above_chance(mnist, tmp_path):
    results = trial_results(PRESETS["quick"], mnist, tmp_path / "search")
    assert len(results) == PRESETS["quick"].max_trials
    for trained, validated in results:
        if trained > 0.3:
            assert validated > 0.5, f"trained to {trained:.1%}, validated at {validated:.1%}"


def test_the_fused_layer_trains_like_keras_batch_norm_and_saves_as_stock_layers(tmp_path):
    """Issue 17: the fused training step (2.3x faster) gives Keras' outputs and moving statistics,
    and the saved model is made of stock layers, with the same predictions."""
    import keras

    from digitedge.train.batchnorm import FusedBatchNorm
    from digitedge.train.model import build_model, plain_copy

    rng = np.random.default_rng(0)
    for shape in [(32, 6, 6, 4), (32, 4)]:
        x = rng.normal(3.0, 2.0, shape).astype("float32")
        stock, fused = keras.layers.BatchNormalization(momentum=0.9), FusedBatchNorm(momentum=0.9)
        np.testing.assert_allclose(fused(x, training=True), stock(x, training=True), atol=1e-4)
        axes = tuple(range(len(shape) - 1))  # the fused kernel averages in the unbiased variance
        np.testing.assert_allclose(fused.moving_variance.numpy(), 0.9 + 0.1 * x.var(axis=axes, ddof=1), rtol=1e-4)
        np.testing.assert_allclose(stock.moving_variance.numpy(), 0.9 + 0.1 * x.var(axis=axes), rtol=1e-4)
        np.testing.assert_allclose(fused.moving_mean.numpy(), stock.moving_mean.numpy(), rtol=1e-4)

    cfg = ModelConfig(filters=8, dense_units=16)
    trained = build_model(cfg)
    trained.fit(rng.random((64, 28, 28, 1)).astype("float32"), rng.integers(0, 10, 64), epochs=1, verbose=0)
    plain = plain_copy(trained, cfg)
    assert not any(isinstance(layer, FusedBatchNorm) for layer in plain.layers)
    assert sum(type(layer) is keras.layers.BatchNormalization for layer in plain.layers) == 5
    plain.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    probe = rng.random((8, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(loaded.predict(probe, verbose=0), trained.predict(probe, verbose=0), atol=1e-5)
