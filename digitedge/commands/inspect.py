"""`digitedge inspect MODEL.tflite`: what a model takes and gives, and how the runtime will feed it.

No TensorFlow: the interpreter's tensor details, our metadata and the flatbuffer's op list.
"""

from __future__ import annotations

from pathlib import Path

import typer

from digitedge.commands import one_line_errors
from digitedge.commands.options import Backend, InputRange, Invert, override


def tensor(spec) -> dict:
    return {"name": spec.name, "shape": list(spec.shape), "dtype": spec.dtype.name, "scale": spec.scale,
            "zero_point": spec.zero_point, "dynamic_batch": spec.dynamic_batch}


def describe(path: Path, backend: str = "auto", given=None) -> dict:
    """Everything `inspect` shows, as JSON-ready data."""
    from digitedge.edge_runtime.convention import Override
    from digitedge.edge_runtime.interpreter import Model
    from digitedge.edge_runtime.modelfile import model_summary

    model = Model(path, backend=backend, threads=1, override=given or Override())
    reading = model.bundled_reading()
    summary = model_summary(path.read_bytes())
    source = "metadata" if model.metadata is not None else ("detected" if reading.searched else "given")
    return {
        "path": str(path),
        "bytes": path.stat().st_size,
        "input": tensor(model.input),
        "output": tensor(model.output),
        "features_output": None if model.features_output is None else tensor(model.features_output),
        "metadata": model.metadata,
        "convention": {**model.convention.to_dict(), "text": model.convention_text(), "from": source,
                       "bundled_correct": reading.correct, "bundled_total": reading.total},
        "ops": summary["ops"],
        "fully_integer": summary["float_tensors"] == 0,
        "float_tensors": summary["float_tensors"],
    }


def tensor_text(t: dict) -> str:
    shape = "x".join(str(d) for d in t["shape"]) + (" (batch open)" if t["dynamic_batch"] else "")
    quant = f", scale {t['scale']:.6g}, zero point {t['zero_point']}" if t["scale"] else ""
    return f"{shape} {t['dtype']}{quant}  [{t['name']}]"


def print_text(info: dict) -> None:
    c = info["convention"]
    lines = [
        ("model", f"{info['path']} ({info['bytes']:,} bytes)"),
        ("input", tensor_text(info["input"])),
        ("scores", tensor_text(info["output"])),
    ]
    if info["features_output"]:
        lines.append(("features", tensor_text(info["features_output"])))
    meta = info["metadata"]
    lines += [
        ("metadata", "none (not a digitedge model)" if meta is None else
         f"digitedge: labels {','.join(meta.get('labels', []))}; quantization {meta.get('quantization', '-')}; "
         f"from {meta.get('source_model', '-')}"),
        ("convention", f"{c['text']} ({c['from']}; reads {c['bundled_correct']}/{c['bundled_total']} "
                       "of the bundled digits)"),
        ("ops", ", ".join(f"{name} x{n}" for name, n in info["ops"].items())),
        ("integer", "fully integer" if info["fully_integer"] else f"no ({info['float_tensors']} float tensors)"),
    ]
    for key, value in lines:
        typer.echo(f"{key:<11}{value}")


@one_line_errors
def inspect(
    model: Path = typer.Argument(..., help="A .tflite model: ours or anyone's."),
    as_json: bool = typer.Option(False, "--json", help="The same as one JSON object."),
    backend: Backend = "auto",
    input_range: InputRange = None,
    invert: Invert = None,
) -> None:
    """A model's input and output, metadata, input convention (read on bundled digits), ops and size."""
    import json

    info = describe(model, backend, override(input_range, invert))
    if as_json:
        typer.echo(json.dumps(info))
    else:
        print_text(info)
