"""`digitedge bench` with a Keras baseline: model.predict and the direct call, measured beside TFLite."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from digitedge.cli import app

tf = pytest.importorskip("tensorflow")

IMAGES = 500


@pytest.fixture(scope="module")
def keras_run(tmp_path_factory, mnist_dir):
    import keras

    tmp = tmp_path_factory.mktemp("bench-keras")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.save(tmp / "tiny.keras")
    out = tmp / "results"
    result = CliRunner().invoke(app, ["bench", "--model", "int8", "--model", str(tmp / "tiny.keras"),
                                      "--threads", "1", "--runs", "10", "--keras-runs", "4", "--warmup", "2",
                                      "--images", str(IMAGES), "--data-dir", str(mnist_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return model, json.loads((out / "results.json").read_text())


def test_keras_rows_for_predict_and_direct_call(keras_run):
    _, results = keras_run
    rows = {r["runtime"]: r for r in results["rows"]}
    assert set(rows) == {"litert", "keras-predict", "keras-call"}
    for runtime in ("keras-predict", "keras-call"):
        row = rows[runtime]
        # "default": TensorFlow ran earlier in this pytest process, its thread pools were already fixed
        assert row["status"] == "ok" and row["threads"] == 1 and row["tf_threads"] in (1, "default")
        s = row["invoke_us"]
        assert 0 < s["min"] <= s["median"] <= s["p90"] <= s["p99"] <= s["max"] and s["n"] == 4
        assert row["memory"]["peak_rss_mb"] > rows["litert"]["memory"]["peak_rss_mb"]  # TensorFlow


def test_keras_accuracy_is_model_predict_on_the_test_images(keras_run, mnist):
    from digitedge.edge_runtime.preprocess import normalize

    model, results = keras_run
    scores = model.predict(normalize(mnist.x_test[:IMAGES]), verbose=0)
    expected = float(np.mean(np.argmax(scores, axis=1) == mnist.y_test[:IMAGES]))
    for row in results["rows"]:
        if row["kind"] == "keras":
            assert row["accuracy"] == pytest.approx(expected, abs=1 / IMAGES)  # argmax ties aside


def test_report_states_how_many_times_faster_tflite_is(keras_run):
    _, results = keras_run
    versus = {c["keras_runtime"]: c for c in results["comparisons"]["versus_keras"]}
    assert set(versus) == {"keras-predict", "keras-call"}
    assert all(c["invoke_speedup"] > 1 for c in versus.values())
    goal = next(g for g in results["goals"] if "Keras" in g["goal"])
    assert goal["status"] in ("met", "missed") and goal["value"] == versus["keras-predict"]["invoke_speedup"]
