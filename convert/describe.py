"""`digitedge convert --describe`: a model made elsewhere, copied with our metadata appended.

The input convention is detected once here (or given), and written down with the labels, so
the device never detects it again. No TensorFlow: the interpreter and the schema that
ai-edge-litert ships are enough. The model's bytes are otherwise kept as they are.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from digitedge import __version__
from digitedge.convert import metadata, output
from digitedge.convert.errors import ConvertError


@dataclass(frozen=True)
class Described:
    path: Path  # the copy written
    convention: str  # e.g. "float 0-255, white on black"
    how: str  # detected or given
    reading: str  # e.g. "97/100 of the bundled digits"


def document(model, source: Path, data: bytes) -> dict:
    """The metadata of a described model: what we learnt about it, in our format."""
    from digitedge.edge_runtime.preprocess import PREPROCESSING_VERSION

    spec = model.input
    reading = model.bundled_reading()
    return {
        "format": metadata.FORMAT,
        "labels": metadata.LABELS,
        "input": {"height": 28, "width": 28, "channels": 1, **model.convention.to_dict(),
                  "preprocessing": PREPROCESSING_VERSION, "shape": list(spec.shape), "dtype": spec.dtype.name,
                  "scale": spec.scale, "zero_point": spec.zero_point},
        "output": {"kind": "scores", "dtype": model.output.dtype.name},
        "quantization": "int8" if spec.quantized else "none",
        "source_model": source.name,
        "source_model_sha256": hashlib.sha256(data).hexdigest(),
        "accuracy": None,
        "convention": {"how": "detected" if reading.searched else "given", "text": model.convention_text(),
                       "bundled_correct": reading.correct, "bundled_total": reading.total},
        "created": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "digitedge_version": __version__,
    }


def describe(source: Path, out: Path, override) -> Described:
    """Write out/<source name>: source with a "digitedge" metadata entry. Refuses our own models."""
    from digitedge.edge_runtime.interpreter import Model

    output.check_out_dir(out)
    model = Model(source, threads=1, override=override)
    if model.metadata is not None:
        raise ConvertError(f"{source}: already carries digitedge metadata (nothing to describe)")
    data = source.read_bytes()
    meta = document(model, source, data)
    target = out / source.name
    if target.resolve() == source.resolve():
        raise ConvertError(f"{target}: is the model itself; give another --out folder")
    output.make_dir(out)
    output.write_model(target, metadata.embed(data, meta))
    c = meta["convention"]
    return Described(target, c["text"], c["how"], f"{c['bundled_correct']}/{c['bundled_total']} of the bundled digits")
