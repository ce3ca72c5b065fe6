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


# OperatorCode fields and the tensor types that are floating point (schema.fbs).
OPCODE_DEPRECATED_BUILTIN, OPCODE_CUSTOM, OPCODE_BUILTIN = 0, 1, 3
TENSOR_TYPE = 1
FLOAT_TYPES = {0: "float32", 1: "float16", 7: "float64"}


def _op_name(code: int) -> str:
    """A builtin operator's name from the schema ai-edge-litert ships; its number where there is none."""
    try:
        from ai_edge_litert.schema_py_generated import BuiltinOperator
    except ImportError:  # tflite-runtime ships no schema
        return f"BUILTIN_{code}"
    names = {v: k for k, v in vars(BuiltinOperator).items() if k.isupper()}
    return names.get(code, f"BUILTIN_{code}")


def model_summary(data: bytes) -> dict:
    """What the main subgraph computes: {"ops": {name: count}, "float_tensors": n} (0: fully integer).

    The bytes must have passed check_model_bytes."""
    r = _Reader(data)
    model = r.indirect(0)
    codes_start, n_codes = r.vector(model, MODEL_OPCODES)
    names = []
    for i in range(n_codes):
        code = r.table_at(codes_start, i)
        builtin = max(r.scalar(code, OPCODE_DEPRECATED_BUILTIN, "<b"), r.scalar(code, OPCODE_BUILTIN, "<i"))
        names.append(r.string(code, OPCODE_CUSTOM) if builtin == 32 else _op_name(builtin))  # 32: CUSTOM
    subgraph = r.table_at(r.vector(model, MODEL_SUBGRAPHS)[0], 0)
    ops: dict[str, int] = {}
    ops_start, n_ops = r.vector(subgraph, SUBGRAPH_OPERATORS)
    for i in range(n_ops):
        name = names[r.scalar(r.table_at(ops_start, i), OPERATOR_OPCODE, "<I")]
        ops[name] = ops.get(name, 0) + 1
    tensors_start, n_tensors = r.vector(subgraph, SUBGRAPH_TENSORS)
    floats = sum(r.scalar(r.table_at(tensors_start, i), TENSOR_TYPE, "<b") in FLOAT_TYPES for i in range(n_tensors))
    return {"ops": ops, "float_tensors": floats}
