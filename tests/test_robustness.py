"""`digitedge evaluate` and `digitedge baselines`: every file written, numbers consistent with the runtime."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from digitedge.benchmarks.bench import shipped_models
from digitedge.benchmarks.robustness import test_indices as subset_of
from digitedge.cli import app

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")

runner = CliRunner()
FILES = ("robustness.json", "robustness.csv", "robustness.md", "robustness.png", "examples.png")
IMAGES = 600


def runtime_accuracy(model_path: Path, images: np.ndarray, labels: np.ndarray) -> float:
    """What the device computes: Recognizer.classify, one 28x28 image at a time."""
    from digitedge.edge_runtime import load_recognizer

    r, _ = load_recognizer(model_path)
    return float(np.mean([r.classify(img)[0] == y for img, y in zip(images, labels)]))


@pytest.fixture(scope="module")
def quick_eval(mnist_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluate") / "out"
    result = runner.invoke(app, ["evaluate", "float32", "int8", "--quick", "--images", str(IMAGES),
                                 "--data-dir", str(mnist_dir), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out, json.loads((out / "robustness.json").read_text()), result.output


def test_quick_evaluation_writes_every_file(quick_eval):
    out, results, output = quick_eval
    for name in FILES:
        assert (out / name).stat().st_size > 0, name
    assert results["images"] == IMAGES and results["quick"]
    assert len(results["corruptions"]) == 15 and set(results["sweeps"]) >= {"noise", "blur", "rotation", "scale",
                                                                             "thickness", "contrast", "polarity"}
    assert "digits_float32" in output and "mCE" in output


def test_numbers_are_consistent_across_files(quick_eval):
    out, results, _ = quick_eval
    acc, summary = results["accuracy"], results["summary"]
    assert list(acc) == ["digits_float32", "digits_int8"]
    rows = list(csv.DictReader((out / "robustness.csv").open()))
    md = (out / "robustness.md").read_text()
    for name, a in acc.items():
        mine = [r for r in rows if r["model"] == name]
        assert len(mine) == 1 + 15 + sum(len(s["values"]) for s in results["sweeps"].values())
        by = {(r["condition"], r["level"]): float(r["accuracy"]) for r in mine}
        assert by[("clean", "")] == pytest.approx(a["clean"], abs=5e-5)
        for c, v in a["corruptions"].items():
            assert by[(c, str(results["corruptions"][c]["severity"]))] == pytest.approx(v, abs=5e-5)
        s = summary[name]
        assert s["mce"] == pytest.approx(np.mean([1 - v for v in a["corruptions"].values()]))
        assert s["relative_mce"] == pytest.approx(s["mce"] / (1 - a["clean"]))
        assert f"**{100 * s['mce']:.2f}**" in md and f"| clean | - | {100 * acc['digits_float32']['clean']:.2f}" in md
        for sweep, info in results["sweeps"].items():  # the identity level is the clean accuracy
            values = info["values"]
            identity = [v for v in values if v in (0, 1.0)][0] if sweep not in ("scale", "contrast") else 1.0
            assert a["sweeps"][sweep][values.index(identity)] == a["clean"], sweep
    (d,) = results["int8_minus_float"]
    assert (d["int8"], d["float"]) == ("digits_int8", "digits_float32")
    assert d["clean"] == pytest.approx(acc["digits_int8"]["clean"] - acc["digits_float32"]["clean"])
    assert d["mce"] == pytest.approx(summary["digits_int8"]["mce"] - summary["digits_float32"]["mce"])


def test_clean_accuracy_is_the_runtimes(quick_eval, mnist):
    _, results, _ = quick_eval
    index = subset_of(IMAGES, results["seed"])
    images, labels = mnist.x_test[index], mnist.y_test[index]
    for path in shipped_models():
        assert results["accuracy"][path.stem]["clean"] == runtime_accuracy(path, images, labels)
        assert results["accuracy"][path.stem]["clean"] > 0.95


def test_keras_model_is_evaluated_like_keras_predicts(mnist, tmp_path):
    pytest.importorskip("tensorflow")
    import keras

    from digitedge.benchmarks.robustness import EvalConfig, evaluate
    from digitedge.edge_runtime.preprocess import normalize
    from digitedge.train.config import ModelConfig
    from digitedge.train.model import build_model

    keras.utils.set_random_seed(0)
    model = build_model(ModelConfig(conv_blocks=1, filters=8, dense_units=16, batch_norm=False))
    model.fit(normalize(mnist.x_train[:3000]), mnist.y_train[:3000].astype(int), epochs=1, batch_size=64, verbose=0)
    model.save(tmp_path / "tiny.keras")
    results = evaluate(EvalConfig(models=[tmp_path / "tiny.keras"], out=tmp_path / "out", images=300, quick=True,
                                  sweeps=False, progress=False), mnist)
    index = subset_of(300, 0)
    expected = np.mean(model.predict(normalize(mnist.x_test[index]), verbose=0).argmax(1) == mnist.y_test[index])
    assert results["accuracy"]["tiny"]["clean"] == pytest.approx(expected)
    assert results["int8_minus_float"] == [] and results["sweeps"] == {}
    assert all((tmp_path / "out" / name).exists() for name in FILES)


@pytest.mark.parametrize("args, message", [
    (["nowhere.tflite"], "nowhere.tflite: model file not found"),
    (["README.md"], "README.md: not a .tflite or .keras model"),
    (["int8", "--images", "20000"], "--images 20000: must be 0 (all) to 10000"),
])
def test_evaluate_errors_are_one_line(args, message, tmp_path):
    result = runner.invoke(app, ["evaluate", *args, "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"error: {message}"]


def test_baselines_on_a_small_subset(mnist_dir, tmp_path):
    out = tmp_path / "baselines"
    result = runner.invoke(app, ["baselines", "--quick", "--svm-train", "1500", "--knn-train", "3000",
                                 "--forest-train", "3000", "--images", "500", "--corruption-images", "200",
                                 "--cnn", "int8", "--data-dir", str(mnist_dir), "-o", str(out)])
    assert result.exit_code == 0, result.output
    results = json.loads((out / "baselines.json").read_text())
    names = [r["name"] for r in results["rows"]]
    assert names == ["SVM (RBF)", "k-NN (k=3)", "random forest (50 trees)", "digits_int8"]
    for r in results["rows"]:
        assert r["accuracy"] > 0.85, r["name"]
        assert len(r["corruptions"]) == 15 and 0 < r["mce"] < 1
        assert r["bytes"] > 0 and r["latency_ms"] > 0
    assert results["rows"][0]["train_seconds"] > 0 and results["rows"][2]["train_seconds"] > 0  # k-NN stores
    md = (out / "baselines.md").read_text()
    assert all(n in md for n in names) and "mCE" in md
    rows = list(csv.DictReader((out / "baselines.csv").open()))
    assert [float(r["accuracy"]) for r in rows] == pytest.approx([r["accuracy"] for r in results["rows"]], abs=5e-5)


def test_robust_augmentation_keeps_the_input_contract(mnist):
    pytest.importorskip("tensorflow")
    from dataclasses import replace

    from digitedge.edge_runtime.preprocess import normalize
    from digitedge.train.config import PRESETS, AugmentConfig
    from digitedge.train.dataset import augmenter

    robust = PRESETS["robust"].train.augment
    assert robust.robust and not AugmentConfig().robust and PRESETS["robust"].train.train_subset == 0
    x = normalize(mnist.x_test[:64])
    y = np.asarray(augmenter(robust, 1)(x, training=True))
    assert y.shape == x.shape and y.dtype == np.float32 and 0 <= y.min() and y.max() <= 1
    assert np.mean(np.any(y != x, axis=(1, 2, 3))) > 0.9
    still = AugmentConfig(rotation=0, shift=0, zoom=0)
    inverted = np.asarray(augmenter(replace(still, invert=1.0), 1)(x, training=True))
    assert np.allclose(inverted, 1 - x, atol=1e-6)
    half = np.asarray(augmenter(replace(still, invert=0.5), 1)(normalize(mnist.x_test[:400]), training=True))
    assert 0.4 < np.mean(half.mean(axis=(1, 2, 3)) > 0.5) < 0.6  # the share asked for, not half of it


@pytest.fixture(scope="module")
def release_model():
    keras = pytest.importorskip("keras")
    return keras.models.load_model(Path(__file__).resolve().parents[1] / "models" / "digits.keras")


@pytest.mark.parametrize("setting", [{"noise": 0.1}, {"blur": 1.0}, {"elastic": 1.0}, {"thickness": 1},
                                     {"contrast": 0.4}, {"lines": 3.0}, {"lighting": 0.8}])
def test_robust_augmentation_keeps_each_image_with_its_label_in_tf_data(mnist, release_model, setting):
    """keras' RandomElasticTransform, inside tf.data, returned other images of the batch: the labels no longer
    matched. The release model, reading the training pipeline's images, shows whether they still do."""
    pytest.importorskip("tensorflow")
    from digitedge.edge_runtime.preprocess import normalize
    from digitedge.train.config import AugmentConfig, TrainConfig
    from digitedge.train.dataset import pipeline

    aug = AugmentConfig(rotation=0, shift=0, zoom=0, robust_share=1.0, **setting)
    cfg = TrainConfig(augment=aug, batch_size=256)
    x, y = normalize(mnist.x_test[:256]), mnist.y_test[:256].astype(np.int32)
    images, labels = next(iter(pipeline(x, y, cfg, training=True)))
    read = release_model.predict(np.asarray(images), verbose=0).argmax(axis=1)
    assert np.mean(read == np.asarray(labels)) > 0.8, setting
