"""A model's metadata: read with `struct` only, embedded by convert, missing (the warning, and
`load_recognizer`'s policy: the warnings returned as text, never raised).

Runs with only `.[edge,dev]` installed: no TensorFlow.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from edge_helpers import foreign_model

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
    path.write_bytes(with_metadata(DEFAULT_MODEL.read_bytes(), META))
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
