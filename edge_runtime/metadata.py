"""The digitedge metadata embedded in a .tflite, read with the stdlib only.

A .tflite is a FlatBuffer (TFLite schema). The convert step appends an entry named
"digitedge" to Model.metadata whose buffer holds UTF-8 JSON (labels, input
contract, quantization, accuracy). Parsing it by hand with `struct` keeps the
device free of the flatbuffers package and of TensorFlow.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

METADATA_NAME = "digitedge"
FORMAT = "digitedge-model/1"

# Field indices in the TFLite schema (tensorflow/compiler/mlir/lite/schema/schema.fbs).
MODEL_BUFFERS = 4
MODEL_METADATA = 6
METADATA_NAME_FIELD = 0
METADATA_BUFFER_FIELD = 1
BUFFER_DATA = 0
BUFFER_OFFSET = 1
BUFFER_SIZE = 2


class FlatBufferError(ValueError):
    """The bytes are not a well-formed TFLite FlatBuffer."""


class _Reader:
    """Just enough of the FlatBuffer wire format: tables, vectors, strings, scalars."""

    def __init__(self, buf: bytes):
        self.buf = buf

    def unpack(self, fmt: str, pos: int):
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > len(self.buf):
            raise FlatBufferError(f"offset {pos} out of range")
        return struct.unpack_from(fmt, self.buf, pos)[0]

    def field_pos(self, table: int, field: int) -> int | None:
        """Where a table's field is stored, or None when it is absent (default value)."""
        vtable = table - self.unpack("<i", table)
        vtable_size = self.unpack("<H", vtable)
        slot = 4 + 2 * field
        if slot + 2 > vtable_size:
            return None
        offset = self.unpack("<H", vtable + slot)
        return table + offset if offset else None

    def indirect(self, pos: int) -> int:
        return pos + self.unpack("<I", pos)

    def vector(self, table: int, field: int) -> tuple[int, int]:
        """(start of the elements, length) of a vector field; (0, 0) when absent."""
        pos = self.field_pos(table, field)
        if pos is None:
            return 0, 0
        vec = self.indirect(pos)
        return vec + 4, self.unpack("<I", vec)

    def table_at(self, vector_start: int, index: int) -> int:
        return self.indirect(vector_start + 4 * index)

    def string(self, table: int, field: int) -> str | None:
        pos = self.field_pos(table, field)
        if pos is None:
            return None
        start = self.indirect(pos)
        length = self.unpack("<I", start)
        return self.bytes(start + 4, length).decode("utf-8", "replace")

    def scalar(self, table: int, field: int, fmt: str, default=0):
        pos = self.field_pos(table, field)
        return default if pos is None else self.unpack(fmt, pos)

    def bytes(self, start: int, length: int) -> bytes:
        if start < 0 or start + length > len(self.buf):
            raise FlatBufferError(f"{length} bytes at {start} out of range")
        return self.buf[start : start + length]


def _buffer_bytes(reader: _Reader, model: int, index: int) -> bytes:
    """The content of Model.buffers[index], inline or stored after the FlatBuffer."""
    start, count = reader.vector(model, MODEL_BUFFERS)
    if not 0 <= index < count:
        raise FlatBufferError(f"metadata points at buffer {index} of {count}")
    buffer = reader.table_at(start, index)
    offset = reader.scalar(buffer, BUFFER_OFFSET, "<Q")
    if offset > 1:  # large models keep buffer data outside the FlatBuffer
        return reader.bytes(offset, reader.scalar(buffer, BUFFER_SIZE, "<Q"))
    data_start, length = reader.vector(buffer, BUFFER_DATA)
    return reader.bytes(data_start, length) if length else b""


def metadata_entries(model_bytes: bytes) -> dict[str, bytes]:
    """Every Model.metadata entry: name -> buffer bytes."""
    if len(model_bytes) < 8:
        raise FlatBufferError("too short to be a FlatBuffer")
    reader = _Reader(model_bytes)
    model = reader.indirect(0)
    start, count = reader.vector(model, MODEL_METADATA)
    entries = {}
    for i in range(count):
        entry = reader.table_at(start, i)
        name = reader.string(entry, METADATA_NAME_FIELD) or ""
        index = reader.scalar(entry, METADATA_BUFFER_FIELD, "<I")
        entries[name] = _buffer_bytes(reader, model, index)
    return entries


def read_metadata(model: str | Path | bytes) -> dict | None:
    """The "digitedge" metadata of a .tflite (path or bytes) as a dict; None when it has none.

    Raises FlatBufferError for bytes that are not a FlatBuffer, and ValueError
    when the entry is there but is not a JSON object.
    """
    raw = model if isinstance(model, (bytes, bytearray, memoryview)) else Path(model).read_bytes()
    entry = metadata_entries(bytes(raw)).get(METADATA_NAME)
    if entry is None:
        return None
    try:
        meta = json.loads(entry.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"digitedge metadata is not UTF-8 JSON ({e})") from None
    if not isinstance(meta, dict):
        raise ValueError("digitedge metadata is not a JSON object")
    return meta
