"""A model's metadata: read with `struct` only, embedded by convert, missing (the warning, and
`load_recognizer`'s policy: the warnings returned as text, never raised).

Runs with only `.[edge,dev]` installed: no TensorFlow.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from edge_helpers import DATA, foreign_model

from digitedge.edge_runtime import metadata, preprocess
from digitedge.edge_runtime.recognizer import DEFAULT_MODEL, MetadataWarning, Recognizer

pytestmark = pytest.mark.edge
META = {
    "format": "digitedge-model/1",
    "labels": [str(d) for d in range(10)],
    "input": {
        "height": 28,
        "width": 28,
        "channels": 1,
        "polarity": "white-on-black",
        "preprocessing": "mnist-v1",
    },
    "quantization": "int8",
}


def with_metadata(model_bytes: bytes, meta: dict) -> bytes:
    """The model with a "digitedge" Model.metadata entry, as the convert step writes it."""
    schema = pytest.importorskip("ai_edge_litert.schema_py_generated")
    flatbuffers = pytest.importorskip("flatbuffers")
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model_bytes, 0))
    buffer = schema.BufferT()
    buffer.data = list(json.dumps(meta).encode())
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = "digitedge"
    entry.buffer = len(model.buffers) - 1
    model.metadata = (model.metadata or []) + [entry]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_metadata_round_trip(tmp_path):
    path = tmp_path / "with_meta.tflite"
    path.write_bytes(with_metadata(DEFAULT_MODEL.read_bytes(), META))
    assert metadata.read_metadata(path) == META
    assert metadata.read_metadata(path.read_bytes()) == META


def test_model_with_metadata_loads_without_warning(tmp_path):
    path = tmp_path / "with_meta.tflite"
    shipped = metadata.read_metadata(DEFAULT_MODEL)  # which output is which: the shipped model has two
    path.write_bytes(with_metadata(DEFAULT_MODEL.read_bytes(), {**META, "outputs": shipped["outputs"]}))
    with warnings.catch_warnings():
        warnings.simplefilter("error", MetadataWarning)
        r = Recognizer(path)
    assert r.has_metadata and r.labels == META["labels"]


def test_model_without_metadata_warns(tmp_path):
    path = foreign_model(tmp_path)
    assert metadata.read_metadata(path) is None
    with pytest.warns(MetadataWarning, match="no digitedge metadata"):
        r = Recognizer(path)
    assert not r.has_metadata and r.labels == [str(d) for d in range(10)]
    assert r.predict(np.pad(np.full((12, 4), 255, np.uint8), 8)).digit == 1


def test_metadata_of_garbage_is_an_error():
    with pytest.raises(metadata.FlatBufferError):
        metadata.read_metadata(b"\xff\xff\xff\x7fTFL3" + bytes(8))


def test_load_recognizer_returns_the_metadata_warnings(tmp_path):
    from digitedge.edge_runtime import load_recognizer

    path = foreign_model(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # kept and returned, never raised
        r, found = load_recognizer(path, threads=1, photo=preprocess.PhotoConfig(deskew=True))
        shipped, none = load_recognizer()
    assert not r.has_metadata and r.photo.deskew and r.model_path == path
    assert len(found) == 1 and found[0].startswith(f"{path}: no digitedge metadata")
    assert shipped.has_metadata and none == [] and shipped.model_path == DEFAULT_MODEL


# ---- models made elsewhere: their input convention, detected or given (no TensorFlow here) ----------------

FLAT_BOW = DATA / "foreign_flat_bow.tflite"  # scripts/foreign_test_model.py: 1x784, -1..1, black on white, logits


def test_our_models_carry_their_convention_and_detect_nothing():
    from digitedge.edge_runtime.interpreter import Model

    for path in (DEFAULT_MODEL, DEFAULT_MODEL.with_name("digits_float32.tflite")):
        model = Model(path)
        assert model.detection is None and model.convention_note() is None
        assert model.convention.to_dict() == {"range": "0-1", "polarity": "white-on-black"}


def test_our_model_without_metadata_is_detected_as_quantized_from_0_1(tmp_path):
    path = foreign_model(tmp_path)
    with pytest.warns(MetadataWarning) as caught:
        Recognizer(path)
    (message,) = [str(w.message) for w in caught]
    head = f"{path}: no digitedge metadata: input detected as uint8 quantized from 0-1, white on black ("
    assert message.startswith(head) and message.endswith("/100 of the bundled digits)")
    assert int(message[len(head):].split("/")[0]) >= 97


def test_a_flat_black_on_white_model_reads_mnist(edge_mnist):
    """Another layout (1x784), range (-1..1), polarity and output (logits): all detected, and the model
    reads what it read when it was made (95% on the first 20,000 training images' model; >= 93 here)."""
    from digitedge.benchmarks.accuracy import tflite_digits
    from digitedge.benchmarks.targets import Spec

    with pytest.warns(MetadataWarning, match=r"input detected as float -1\.\.1, black on white \(9\d/100 of the"):
        r = Recognizer(FLAT_BOW, threads=1)
    images, labels = edge_mnist.x_test[:1000], edge_mnist.y_test[:1000]
    found = np.array([r.classify(img)[0] for img in images])
    assert np.mean(found == labels) >= 0.93
    # the benchmarks' batched path feeds it the same way
    target = type("T", (), {"recognizer": r, "model": r.model, "spec": Spec("f", FLAT_BOW, "tflite", "auto", 1)})
    assert np.array_equal(tflite_digits(target, images)[0], found)


def test_override_replaces_detection():
    from digitedge.edge_runtime.convention import Override
    from digitedge.edge_runtime.interpreter import Model

    given = Model(FLAT_BOW, override=Override("0-1", False))  # wrong, but the user said so
    assert given.convention_note() == ("no digitedge metadata: input given as float 0-1, white on black "
                                       f"({given.detection.correct}/100 of the bundled digits)")
    assert given.detection.correct < 50
    assert Model(FLAT_BOW, override=Override("signed")).convention.invert  # the polarity still detected


def test_no_convention_that_reads_is_refused():
    from digitedge.edge_runtime.convention import Override
    from digitedge.edge_runtime.interpreter import Model
    from digitedge.errors import ModelError

    with pytest.raises(ModelError) as e:
        Model(FLAT_BOW, override=Override(invert=False))  # its polarity ruled out: no range reads
    best = str(e.value).split("(best: ")[1].split(";")[0]
    assert str(e.value) == (
        f"{FLAT_BOW}: no digitedge metadata, and no input convention reads the bundled digits (best: {best}; "
        "80% needed): give --input-range and --invert if you know them")
    assert best.startswith("float ") and ", white on black, " in best


def test_inspect_text_and_json(tmp_path):
    from cli_helpers import run

    result = run("inspect", FLAT_BOW)
    assert result.exit_code == 0, result.output
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines())
    assert lines["input"].startswith("1x784 (batch open) float32")
    assert lines["metadata"] == "none (not a digitedge model)"
    assert lines["convention"].startswith("float -1..1, black on white (detected; reads 9")
    assert lines["integer"] == "no (12 float tensors)"
    info = json.loads(run("inspect", "--json", DEFAULT_MODEL).stdout)
    assert info["metadata"]["labels"] == [str(d) for d in range(10)] and info["fully_integer"]
    assert info["convention"]["from"] == "metadata" and info["convention"]["bundled_correct"] >= 97
    assert info["input"]["dtype"] == "uint8" and info["bytes"] == DEFAULT_MODEL.stat().st_size
    assert "FULLY_CONNECTED" in info["ops"] or "BUILTIN_9" in info["ops"]  # tflite-runtime has no schema: numbers


def test_inspect_errors_are_one_line(tmp_path):
    from cli_helpers import assert_one_error, run

    assert_one_error(run("inspect", tmp_path / "gone.tflite"), f"{tmp_path / 'gone.tflite'}: model file not found")
    assert_one_error(run("inspect", FLAT_BOW, "--input-range", "0-25"),
                     "--input-range 0-25: choose one of 0-1, 0-255, signed, mnist, raw")


def test_convert_describe_writes_the_convention_once(tmp_path):
    pytest.importorskip("ai_edge_litert.schema_py_generated")
    from cli_helpers import assert_one_error, run

    result = run("convert", "--describe", FLAT_BOW, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    described = tmp_path / FLAT_BOW.name
    assert result.stdout.startswith(f"wrote {described}: input detected as float -1..1, black on white (9")
    meta = metadata.read_metadata(described)
    assert meta["input"]["range"] == "signed" and meta["input"]["polarity"] == "black-on-white"
    with warnings.catch_warnings():
        warnings.simplefilter("error", MetadataWarning)
        r = Recognizer(described)
    assert r.has_metadata and r.model.detection is None and r.model.convention.invert
    assert_one_error(run("convert", "--describe", described, "--out", tmp_path / "again"),
                     f"{described}: already carries digitedge metadata (nothing to describe)")


def test_predict_takes_the_convention_flags(tmp_path, edge_mnist):
    from cli_helpers import run

    from digitedge.benchmarks import synthetic

    p = synthetic.number_photo(edge_mnist.x_test, edge_mnist.y_test, seed=3, count=4, out_side=600)
    photo = synthetic.write_image(tmp_path / "number.png", p.image)
    detected = run("predict", "--json", "--model", FLAT_BOW, photo)
    given = run("predict", "--json", "--model", FLAT_BOW, "--input-range", "signed", "--invert", photo)
    assert detected.stderr.startswith(f"warning: {FLAT_BOW}: no digitedge metadata: input detected as float -1..1, "
                                      "black on white (9")
    assert given.stderr.startswith(f"warning: {FLAT_BOW}: no digitedge metadata: input given as float -1..1, "
                                   "black on white (9")
    text = json.loads(detected.stdout)["text"]
    assert json.loads(given.stdout)["text"] == text and len(text) == 4
    assert sum(a == b for a, b in zip(text, p.text)) >= 3, (text, p.text)
