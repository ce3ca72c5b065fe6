"""The digitedge metadata: built here, embedded in the .tflite's Model.metadata.

A .tflite is a FlatBuffer (TFLite schema). We add a Model.metadata entry named
"digitedge" pointing at a new buffer that holds UTF-8 JSON. The device reads it back
with edge_runtime.metadata.read_metadata (stdlib only); this module writes it with
the schema's object API from ai-edge-litert and the flatbuffers package.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np

from digitedge import __version__
from digitedge.convert.errors import ConvertError
from digitedge.edge_runtime.preprocess import PREPROCESSING_VERSION

METADATA_NAME = "digitedge"
FORMAT = "digitedge-model/1"
LABELS = [str(d) for d in range(10)]
FILE_IDENTIFIER = b"TFL3"
BUFFER_ALIGNMENT = 16  # the schema's force_align for Buffer.data; the generated Python ignores it


def build(*, quantization: str, tensors: dict, source_name: str, source_sha256: str,
          accuracy: dict | None, extra: dict | None = None) -> dict:
    """The JSON document. tensors: {"input": {dtype, scale, zero_point}, "output": {...}}."""
    meta = {
        "format": FORMAT,
        "labels": LABELS,
        "input": {"height": 28, "width": 28, "channels": 1, "polarity": "white-on-black",
                  "preprocessing": PREPROCESSING_VERSION, **tensors["input"]},
        "output": {"kind": "probabilities", **tensors["output"]},
        "quantization": quantization,
        "source_model": source_name,
        "source_model_sha256": source_sha256,
        "accuracy": accuracy,
        "created": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "digitedge_version": __version__,
    }
    meta.update(extra or {})
    return meta


def _schema():
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:  # pragma: no cover - the train extra installs ai-edge-litert
        raise ConvertError("embedding metadata needs ai-edge-litert (pip install digitedge[train])") from None
    return schema


def _pack_aligned(self, builder):
    """BufferT.Pack with the data vector aligned to 16 bytes, as the TFLite converter writes it."""
    schema = _schema()
    data = None
    if self.data is not None:
        payload = np.asarray(self.data, dtype=np.uint8).tobytes()
        builder.StartVector(1, len(payload), BUFFER_ALIGNMENT)
        builder.head = builder.head - len(payload)
        builder.Bytes[builder.head : builder.head + len(payload)] = payload
        builder.vectorNumElems = len(payload)
        data = builder.EndVector()
    schema.BufferStart(builder)
    if data is not None:
        schema.BufferAddData(builder, data)
    schema.BufferAddOffset(builder, self.offset)
    schema.BufferAddSize(builder, self.size)
    return schema.BufferEnd(builder)


def embed(model_bytes: bytes, meta: dict) -> bytes:
    """model_bytes with meta as its "digitedge" metadata entry (replacing one already there)."""
    schema = _schema()
    model = unpack(model_bytes)
    buffers = model.buffers or []
    payload = np.frombuffer(json.dumps(meta, sort_keys=False).encode("utf-8"), dtype=np.uint8)
    entries = [m for m in (model.metadata or []) if _name(m) == METADATA_NAME]
    if entries:
        buffers[entries[0].buffer].data = payload
    else:
        buffers.append(schema.BufferT(data=payload))
        entry = schema.MetadataT()
        entry.name = METADATA_NAME
        entry.buffer = len(buffers) - 1
        model.metadata = [*(model.metadata or []), entry]
    model.buffers = buffers
    return pack(model, len(model_bytes) + len(payload))


def unpack(model_bytes: bytes):
    """The model as the schema's object API (ModelT), to change and pack() again."""
    schema = _schema()
    if model_bytes[4:8] != FILE_IDENTIFIER:
        raise ConvertError("not a TFLite FlatBuffer (no TFL3 identifier)")
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model_bytes, 0))
    if any(b.offset > 1 for b in model.buffers or []):
        raise ConvertError("models with buffers outside the FlatBuffer (over 2 GB) are not supported")
    return model


def pack(model, size_hint: int) -> bytes:
    """A ModelT back to .tflite bytes, buffers aligned as the converter writes them."""
    import flatbuffers

    aligned = type("AlignedBufferT", (_schema().BufferT,), {"Pack": _pack_aligned})
    for b in model.buffers or []:
        b.__class__ = aligned
    builder = flatbuffers.Builder(size_hint + 1024)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def _name(entry) -> str:
    name = entry.name
    return name.decode("utf-8") if isinstance(name, bytes) else (name or "")


def read(model_bytes: bytes) -> dict | None:
    """The digitedge metadata of model bytes, read with the object API (the converter's own check)."""
    schema = _schema()
    model = schema.Model.GetRootAs(model_bytes, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        name = entry.Name()
        if (name.decode("utf-8") if isinstance(name, bytes) else name) == METADATA_NAME:
            data = model.Buffers(entry.Buffer()).DataAsNumpy()
            return json.loads(bytes(data).decode("utf-8"))
    return None
