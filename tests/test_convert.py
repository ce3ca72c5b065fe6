"""`digitedge convert`: every format, verification against Keras, the int8 gate, embedded
metadata read back without TensorFlow, atomic writes, and one clean line for bad input.

One quickly trained model is converted a few times; the whole module takes about a minute
on two cores. The shipped models' own checks are in test_shipped_model.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from convert_helpers import assert_one_error, convert, needs_tensorflow

ALL_FORMATS = ("float32", "float16", "dynamic", "int8")


@pytest.fixture(scope="module")
def quick_model(mnist, tmp_path_factory) -> Path:
    """A model.keras from the quick preset (about 96% accurate), trained once for the module."""
    needs_tensorflow()
    from digitedge.train.config import PRESETS
    from digitedge.train.run import train

    out = tmp_path_factory.mktemp("convert-quick") / "run"
    train(PRESETS["quick"].train, mnist, out, verbose=0)
    return out / "model.keras"


@pytest.fixture(scope="module")
def every_format(quick_model, mnist_dir, tmp_path_factory):
    """All four formats converted once, verified on 1,000 test images: (folder, report, output)."""
    out = tmp_path_factory.mktemp("convert-all") / "models"
    result = convert(quick_model, "--out", out, "-f", "float32,float16", "--format", "dynamic",
                     "-f", "int8", "--data-dir", mnist_dir)
    return out, json.loads((out / "conversion_report.json").read_text()), result.stdout


def test_every_format_is_written_and_verified(every_format, quick_model):
    out, report, stdout = every_format
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["conversion_report.json"] + [f"model_{f}.tflite" for f in ALL_FORMATS])
    assert report["passed"] and list(report["formats"]) == list(ALL_FORMATS)
    assert report["source_model"]["name"] == "model.keras"
    assert report["calibration"]["samples"] == 500
    assert report["calibration"]["per_digit"] == [50] * 10
    assert report["verification"]["images"] == 1000
    assert "int8 calibrated on 500 training images" in stdout
    for fmt, row in report["formats"].items():
        path = out / row["file"]
        assert row["written"] and path.stat().st_size == row["bytes"]
        assert row["keras_accuracy"] > 0.9, fmt
        assert row["agreement"] >= 0.98, fmt
        assert row["images"] == 1000
    assert report["formats"]["float32"]["agreement"] == 1.0
    int8 = report["formats"]["int8"]
    assert int8["gate"] == "passed"
    assert int8["bytes"] <= 0.3 * report["formats"]["float32"]["bytes"]
    assert report["formats"]["float16"]["bytes"] < 0.6 * report["formats"]["float32"]["bytes"]


def test_int8_agrees_with_keras_on_1000_test_images(every_format, quick_model, mnist):
    """Re-measured here, independently of the report: the written int8 file against Keras."""
    import keras

    from digitedge.convert.verify import run_tflite, verification_indices
    from digitedge.edge_runtime.preprocess import normalize

    out, report, _ = every_format
    idx = verification_indices(10000, 1000, seed=0)
    x = normalize(mnist.x_test[idx])
    keras_top1 = keras.models.load_model(quick_model).predict(x, verbose=0).argmax(axis=1)
    tflite_top1 = run_tflite((out / "model_int8.tflite").read_bytes(), x).argmax(axis=1)
    agreement = float(np.mean(keras_top1 == tflite_top1))
    assert agreement >= 0.98
    assert agreement == pytest.approx(report["formats"]["int8"]["agreement"])


def test_int8_is_full_integer_with_raw_pixel_input(every_format):
    from ai_edge_litert.interpreter import Interpreter

    out, _, _ = every_format
    interpreter = Interpreter(model_path=str(out / "model_int8.tflite"))
    interpreter.allocate_tensors()
    inp, outp = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    assert inp["dtype"] == np.uint8 and outp["dtype"] == np.uint8
    scale, zero_point = inp["quantization"]
    assert scale == pytest.approx(1 / 255) and zero_point == 0  # the uint8 pixel is the input
    dtypes = {np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details()}
    assert "float32" not in dtypes and dtypes <= {"uint8", "int8", "int32"}


@pytest.mark.parametrize("io", ["int8", "float32"])
def test_io_flag(quick_model, mnist_dir, tmp_path, io):
    from ai_edge_litert.interpreter import Interpreter

    convert(quick_model, "--out", tmp_path, "-f", "int8", "--io", io, "--calibration-samples", 100,
            "--verify-images", 300, "--max-int8-drop", 100, "--data-dir", mnist_dir)
    report = json.loads((tmp_path / "conversion_report.json").read_text())
    assert report["formats"]["int8"]["agreement"] >= 0.97
    assert report["calibration"]["samples"] == 100
    interpreter = Interpreter(model_path=str(tmp_path / "model_int8.tflite"))
    assert interpreter.get_input_details()[0]["dtype"] == np.dtype(io)
    assert interpreter.get_output_details()[0]["dtype"] == np.dtype(io)


def test_metadata_round_trips_through_the_tensorflow_free_reader(every_format, quick_model):
    from digitedge.convert.source import sha256_file
    from digitedge.edge_runtime.metadata import read_metadata
    from digitedge.edge_runtime.preprocess import PREPROCESSING_VERSION

    out, report, _ = every_format
    for fmt in ALL_FORMATS:
        meta = read_metadata(out / f"model_{fmt}.tflite")
        assert meta["format"] == "digitedge-model/1"
        assert meta["labels"] == [str(d) for d in range(10)]
        assert meta["quantization"] == fmt
        assert meta["input"]["height"] == meta["input"]["width"] == 28 and meta["input"]["channels"] == 1
        assert meta["input"]["polarity"] == "white-on-black"
        assert meta["input"]["preprocessing"] == PREPROCESSING_VERSION
        assert meta["input"]["dtype"] == report["formats"][fmt]["input"]["dtype"]
        assert meta["source_model"] == "model.keras"
        assert meta["source_model_sha256"] == sha256_file(quick_model)
        assert meta["accuracy"]["tflite"] == report["formats"][fmt]["tflite_accuracy"]
        assert meta["accuracy"]["agreement"] == report["formats"][fmt]["agreement"]
        assert meta["accuracy"]["images"] == 1000
    int8 = read_metadata(out / "model_int8.tflite")
    assert (int8["input"]["dtype"], int8["input"]["zero_point"]) == ("uint8", 0)

    # The same, read in a process where TensorFlow cannot even be imported.
    code = ("import sys, json; sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n"
            "from digitedge.edge_runtime.metadata import read_metadata\n"
            f"print(json.dumps(read_metadata({str(out / 'model_int8.tflite')!r})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == int8


def test_embed_replaces_and_bytes_without_metadata_read_as_none(every_format):
    from digitedge.convert import metadata
    from digitedge.edge_runtime.metadata import read_metadata

    out, _, _ = every_format
    original = (out / "model_int8.tflite").read_bytes()
    replaced = metadata.embed(original, {"format": "digitedge-model/1", "note": "ünïcode"})
    assert read_metadata(replaced) == {"format": "digitedge-model/1", "note": "ünïcode"}
    assert metadata.read(replaced) == read_metadata(replaced)
    # A TFLite classifier without our entry: the reader says so rather than guessing.
    stripped = strip_digitedge_metadata(original)
    assert read_metadata(stripped) is None
    assert metadata.read(stripped) is None


def test_a_model_without_metadata_still_runs_with_defaults_and_a_warning(every_format, mnist, tmp_path):
    from digitedge.edge_runtime.recognizer import MetadataWarning, Recognizer

    out, _, _ = every_format
    bare = tmp_path / "bare_int8.tflite"
    bare.write_bytes(strip_digitedge_metadata((out / "model_int8.tflite").read_bytes()))
    with pytest.warns(MetadataWarning, match="no digitedge metadata"):
        recognizer = Recognizer(bare)
    assert recognizer.labels == [str(d) for d in range(10)]
    correct = sum(recognizer.classify(mnist.x_test[i])[0] == mnist.y_test[i] for i in range(100))
    assert correct >= 85


def strip_digitedge_metadata(model_bytes: bytes) -> bytes:
    """The model as one made elsewhere: no digitedge metadata, and one output (the scores)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model_bytes, 0))
    model.metadata = [m for m in model.metadata or [] if m.name not in (b"digitedge", "digitedge")]
    model.subgraphs[0].outputs = model.subgraphs[0].outputs[:1]
    for signature in model.signatureDefs or []:
        signature.outputs = signature.outputs[:1]
    builder = flatbuffers.Builder(len(model_bytes))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_features_are_a_second_output_named_in_the_metadata(every_format, quick_model):
    """Scores first, features second, in every format; the metadata says which is which."""
    import keras
    from ai_edge_litert.interpreter import Interpreter

    from digitedge.edge_runtime.metadata import read_metadata

    out, report, stdout = every_format
    size = keras.models.load_model(quick_model).layers[-1].input.shape[-1]
    for fmt in ALL_FORMATS:
        interpreter = Interpreter(model_path=str(out / f"model_{fmt}.tflite"))
        details = interpreter.get_output_details()
        assert [(d["name"], d["shape"].tolist()) for d in details] == [("scores", [1, 10]), ("features", [1, size])]
        meta = read_metadata(out / f"model_{fmt}.tflite")
        assert meta["outputs"] == {"scores": "scores", "features": "features"}
        assert meta["features"]["layer"] == "digit" and meta["features"]["size"] == size
        assert meta["features"] == report["formats"][fmt]["features"]
        assert meta["features"]["mean_relative_error"] <= meta["features"]["tolerance"] == 0.05
    assert read_metadata(out / "model_int8.tflite")["features"]["dtype"] == "uint8"
    assert "are a second output; largest mean relative error against Keras" in " ".join(stdout.split())


def test_int8_features_are_within_the_tolerance_of_keras(every_format, quick_model, mnist):
    """Re-measured here: the written int8 file's features against the Keras layer's activations."""
    import keras

    from digitedge.convert.features import MAX_FEATURE_ERROR
    from digitedge.convert.verify import run_outputs, verification_indices
    from digitedge.edge_runtime.preprocess import normalize

    out, report, _ = every_format
    model = keras.models.load_model(quick_model)
    x = normalize(mnist.x_test[verification_indices(10000, 1000, seed=0)])
    keras_features = keras.Model(model.inputs, model.layers[-1].input).predict(x, verbose=0)
    scores, features = run_outputs((out / "model_int8.tflite").read_bytes(), x)
    rel = np.linalg.norm(features - keras_features, axis=1) / np.linalg.norm(keras_features, axis=1)
    assert 0 < rel.mean() <= MAX_FEATURE_ERROR
    assert rel.mean() == pytest.approx(report["formats"]["int8"]["features"]["mean_relative_error"], abs=1e-5)


def test_a_model_without_a_dense_output_layer_converts_with_one_output(tmp_path, mnist_dir):
    import keras
    from ai_edge_litert.interpreter import Interpreter

    from digitedge.edge_runtime.metadata import read_metadata

    inputs = keras.Input(shape=(28, 28, 1))
    scores = keras.layers.Dense(10)(keras.layers.Flatten()(inputs))
    keras.Model(inputs, keras.layers.Softmax()(scores)).save(tmp_path / "softmax.keras")
    result = convert(tmp_path / "softmax.keras", "--out", tmp_path / "out", "-f", "float32,int8",
                     "--verify-images", 100, "--calibration-samples", 100, "--max-int8-drop", 100,
                     "--data-dir", mnist_dir)
    assert "; no feature output" in result.stdout
    for fmt in ("float32", "int8"):
        interpreter = Interpreter(model_path=str(tmp_path / "out" / f"softmax_{fmt}.tflite"))
        assert len(interpreter.get_output_details()) == 1
        meta = read_metadata(tmp_path / "out" / f"softmax_{fmt}.tflite")
        assert "outputs" not in meta and "features" not in meta
    report = json.loads((tmp_path / "out" / "conversion_report.json").read_text())
    assert report["formats"]["int8"]["features"] is None


def test_features_too_far_from_keras_stop_the_conversion(quick_model, mnist_dir, tmp_path, monkeypatch):
    from digitedge.convert import features

    monkeypatch.setattr(features, "MAX_FEATURE_ERROR", -1.0)
    out = tmp_path / "models"
    result = convert(quick_model, "--out", out, "-f", "float32", "--verify-images", 100, "--data-dir", mnist_dir,
                     ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith("error: float32: the features differ from Keras' by 0.000 (mean relative error), "
                                    "more than -1; no model written")
    assert result.stderr.count("\n") == 1
    assert not out.exists()


def test_gate_refuses_and_leaves_the_previous_model_intact(quick_model, mnist_dir, tmp_path):
    out = tmp_path / "models"
    out.mkdir()
    previous = out / "model_int8.tflite"
    previous.write_bytes(b"the previous int8 model")
    result = convert(quick_model, "--out", out, "--max-int8-drop", -100, "--verify-images", 200,
                     "--calibration-samples", 100, "--data-dir", mnist_dir, ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith("error: int8 loses ")
    assert result.stderr.endswith("more than --max-int8-drop -100; no model written\n")
    assert result.stderr.count("\n") == 1
    assert previous.read_bytes() == b"the previous int8 model"
    # Nothing written at all: a refused int8 holds back every format and the report.
    assert [p.name for p in out.iterdir()] == ["model_int8.tflite"]
    assert "no: gate" in result.stdout and "nothing written to" in result.stdout


def test_an_interrupted_write_leaves_the_previous_file(tmp_path, monkeypatch):
    from digitedge.convert import output, verify

    target = tmp_path / "digits_int8.tflite"
    target.write_bytes(b"previous")

    def interrupted(data):
        raise KeyboardInterrupt

    monkeypatch.setattr(verify, "interpreter_for", interrupted)
    with pytest.raises(KeyboardInterrupt):
        output.write_model(target, b"TFL3 new model bytes")
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no partial file left behind


def test_calibration_is_balanced_and_seeded(mnist):
    from digitedge.convert.calibration import balanced_indices

    a = balanced_indices(mnist.y_train, 305, seed=3)
    assert len(set(a.tolist())) == 305
    assert sorted(np.bincount(mnist.y_train[a], minlength=10).tolist()) == [30] * 5 + [31] * 5
    assert np.array_equal(a, balanced_indices(mnist.y_train, 305, seed=3))
    assert not np.array_equal(a, balanced_indices(mnist.y_train, 305, seed=4))


def test_format_names():
    from digitedge.convert.errors import FormatError
    from digitedge.convert.tflite import parse_formats

    assert parse_formats(None) == ["float32", "int8"]
    assert parse_formats(["INT8, dynamic", "float32"]) == ["float32", "dynamic", "int8"]
    with pytest.raises(FormatError, match="unknown format 'int4'"):
        parse_formats(["int4"])


def test_output_folder_is_a_file(tmp_path, quick_model):
    out = tmp_path / "taken"
    out.write_text("a file")
    assert_one_error(convert(quick_model, "--out", out, ok=False), f"{out}: exists and is not a folder")
    nested = out / "models"
    assert_one_error(convert(quick_model, "--out", nested, ok=False),
                     f"{nested}: cannot create the folder ({out} is not a folder)")
    assert out.read_text() == "a file"


def test_unwritable_output_folder(tmp_path, quick_model):
    import os

    if os.geteuid() == 0:  # root writes anywhere chmod allows; sysfs refuses even root
        if not Path("/sys").is_dir():
            pytest.skip("running as root without /sys: no unwritable folder to try")
        out, message = Path("/sys/digitedge-out"), "/sys/digitedge-out: cannot write here (in /sys): "
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        out, message = locked, f"{locked}: cannot write here: "
    result = convert(quick_model, "--out", out, ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith(f"error: {message}") and result.stderr.count("\n") == 1
    assert "Permission denied" in result.stderr or "Read-only" in result.stderr
