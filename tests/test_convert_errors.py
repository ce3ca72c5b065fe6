"""`digitedge convert` on bad input: one line, exit 1, nothing written."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from convert_helpers import assert_one_error, convert, needs_tensorflow


def tiny_model(path: Path, input_shape, classes: int) -> Path:
    import keras

    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Flatten()(inputs)
    keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(x)).save(path)
    return path


def bad_model(kind: str, tmp: Path) -> tuple[Path, str]:
    """(a model path broken one way, the message after `<path>: `)."""
    p = tmp / "bad.keras"
    if kind == "missing":
        return p, "model file not found"
    if kind == "folder":
        p.mkdir()
        return p, "is a folder, not a Keras model file"
    if kind == "empty":
        p.write_bytes(b"")
        return p, "empty file, not a Keras model"
    if kind == "text":
        p.write_text("not a model\n")
        return p, "not a Keras model file (neither a .keras archive nor HDF5)"
    if kind == "zip-without-config":
        with zipfile.ZipFile(p, "w") as z:
            z.writestr("hello.txt", "hi")
        return p, "not a Keras model file (a zip without config.json)"
    if kind == "truncated":
        whole = tiny_model(tmp / "whole.keras", (28, 28, 1), 10).read_bytes()
        p.write_bytes(whole[: len(whole) // 2])
        return p, "not a Keras model file (truncated or corrupt zip)"
    if kind == "tflite":
        p = tmp / "model.tflite"
        p.write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(100))
        return p, "not a Keras model file (neither a .keras archive nor HDF5)"
    if kind == "wrong-input":
        return tiny_model(p, (32, 32, 3), 10), "input shape (32, 32, 3), expected (28, 28, 1)"
    if kind == "wrong-output":
        return tiny_model(p, (28, 28, 1), 5), "output shape (5,), expected (10,) (scores for the ten digits)"
    raise AssertionError(kind)


BAD_MODELS = ["missing", "folder", "empty", "text", "zip-without-config", "truncated", "tflite",
              "wrong-input", "wrong-output"]


@pytest.mark.parametrize("kind", BAD_MODELS)
def test_bad_model_file(kind, tmp_path, mnist_dir):
    needs_tensorflow()
    model, message = bad_model(kind, tmp_path)
    out = tmp_path / "out"
    result = convert(model, "--out", out, "--data-dir", mnist_dir, ok=False)
    assert_one_error(result, f"{model}: {message}")
    assert not out.exists()


def test_corrupt_keras_archive(tmp_path, mnist_dir):
    needs_tensorflow()
    model = tmp_path / "bad.keras"
    with zipfile.ZipFile(model, "w") as z:
        z.writestr("config.json", "{ this is not json")
        z.writestr("metadata.json", "{}")
    result = convert(model, "--out", tmp_path / "out", "--data-dir", mnist_dir, ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith(f"error: {model}: not a loadable Keras model (")
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, message", [
    (["-f", "int4"], "unknown format 'int4': choose float32, float16, dynamic, int8"),
    (["-f", "float32,fp16"], "unknown format 'fp16': choose float32, float16, dynamic, int8"),
    (["--io", "int16"], "unknown --io 'int16': choose uint8, int8, float32"),
    (["--calibration-samples", "5"], "--calibration-samples 5: must be 10 to 60000"),
    (["--verify-images", "0"], "--verify-images 0: must be at least 1"),
])
def test_bad_flags(args, message, tmp_path):
    model = tmp_path / "model.keras"  # never opened: flags are checked first
    result = convert(model, "--out", tmp_path / "out", *args, ok=False)
    assert_one_error(result, message)
    assert not (tmp_path / "out").exists()
