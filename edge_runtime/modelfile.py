"""A structural check of a .tflite before any interpreter sees it.

ai-edge-litert verifies the FlatBuffer itself, but tflite-runtime 2.14 does not: a
truncated or corrupted model crashes the process (a segmentation fault) instead of
raising. Walking the model's tables here, every offset and vector bounds-checked,
turns that into a clear ModelError. Stdlib only, like the metadata reader.
"""

from __future__ import annotations

from .metadata import FlatBufferError, _Reader

# Field indices in the TFLite schema.
MODEL_OPCODES, MODEL_SUBGRAPHS, MODEL_BUFFERS = 1, 2, 4
SUBGRAPH_TENSORS, SUBGRAPH_INPUTS, SUBGRAPH_OUTPUTS, SUBGRAPH_OPERATORS = 0, 1, 2, 3
TENSOR_SHAPE, TENSOR_BUFFER = 0, 2
OPERATOR_OPCODE, OPERATOR_INPUTS, OPERATOR_OUTPUTS = 0, 1, 2
BUFFER_DATA, BUFFER_OFFSET, BUFFER_SIZE = 0, 1, 2


def _vector(r: _Reader, table: int, field: int, item_size: int) -> tuple[int, int]:
    start, count = r.vector(table, field)
    if count:
        r.bytes(start, count * item_size)  # raises when the vector runs past the end
    return start, count


def _indices(r: _Reader, table: int, field: int, limit: int, what: str) -> None:
    start, count = _vector(r, table, field, 4)
    for i in range(count):
        index = r.unpack("<i", start + 4 * i)
        if not -1 <= index < limit:
            raise FlatBufferError(f"{what} refers to tensor {index} of {limit}")


def _check_buffers(r: _Reader, model: int, size: int) -> int:
    start, count = _vector(r, model, MODEL_BUFFERS, 4)
    for i in range(count):
        buffer = r.table_at(start, i)
        offset = r.scalar(buffer, BUFFER_OFFSET, "<Q")
        if offset > 1:  # data stored after the FlatBuffer
            if offset + r.scalar(buffer, BUFFER_SIZE, "<Q") > size:
                raise FlatBufferError(f"buffer {i} runs past the end of the file")
        else:
            _vector(r, buffer, BUFFER_DATA, 1)
    return count


def _check_subgraph(r: _Reader, subgraph: int, buffers: int, opcodes: int) -> None:
    tensors_start, tensors = _vector(r, subgraph, SUBGRAPH_TENSORS, 4)
    for i in range(tensors):
        tensor = r.table_at(tensors_start, i)
        _vector(r, tensor, TENSOR_SHAPE, 4)
        if r.scalar(tensor, TENSOR_BUFFER, "<I") >= max(buffers, 1):
            raise FlatBufferError(f"tensor {i} refers to a missing buffer")
    _indices(r, subgraph, SUBGRAPH_INPUTS, tensors, "the model's input")
    _indices(r, subgraph, SUBGRAPH_OUTPUTS, tensors, "the model's output")
    ops_start, ops = _vector(r, subgraph, SUBGRAPH_OPERATORS, 4)
    for i in range(ops):
        op = r.table_at(ops_start, i)
        if r.scalar(op, OPERATOR_OPCODE, "<I") >= opcodes:
            raise FlatBufferError(f"operator {i} has an unknown operator code")
        _indices(r, op, OPERATOR_INPUTS, tensors, f"operator {i}")
        _indices(r, op, OPERATOR_OUTPUTS, tensors, f"operator {i}")


def check_model_bytes(data: bytes) -> None:
    """Raise FlatBufferError unless every table, vector and index of the model is in bounds."""
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise FlatBufferError("no TFL3 identifier")
    r = _Reader(data)
    model = r.indirect(0)
    _, opcodes = _vector(r, model, MODEL_OPCODES, 4)
    buffers = _check_buffers(r, model, len(data))
    sub_start, subgraphs = _vector(r, model, MODEL_SUBGRAPHS, 4)
    if subgraphs == 0:
        raise FlatBufferError("no subgraph")
    for i in range(subgraphs):
        _check_subgraph(r, r.table_at(sub_start, i), buffers, opcodes)
