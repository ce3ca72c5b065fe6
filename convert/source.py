"""The Keras model to convert: checked cheaply first (no TensorFlow), then loaded and checked.

A usable source is a Keras 3 archive (.keras: a zip holding config.json) or a legacy
HDF5 file (.h5), with one 28x28x1 input and one output of ten class scores.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from digitedge.convert.errors import SourceModelError

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


@dataclass(frozen=True)
class Source:
    path: Path
    sha256: str
    size: int


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_file(path: str | Path) -> Source:
    """The file is there, readable and looks like a Keras model; no TensorFlow needed."""
    path = Path(path)
    if not path.exists():
        raise SourceModelError(f"{path}: model file not found")
    if path.is_dir():
        raise SourceModelError(f"{path}: is a folder, not a Keras model file")
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except OSError as e:
        raise SourceModelError(f"{path}: cannot read ({e.strerror or e})") from None
    if not head:
        raise SourceModelError(f"{path}: empty file, not a Keras model")
    if head == HDF5_MAGIC:
        if path.suffix.lower() not in (".h5", ".hdf5"):
            raise SourceModelError(f"{path}: a legacy HDF5 Keras model must be named .h5")
    elif zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
        except (zipfile.BadZipFile, OSError) as e:
            raise SourceModelError(f"{path}: not a Keras model file (corrupt zip: {e})") from None
        if "config.json" not in names:
            raise SourceModelError(f"{path}: not a Keras model file (a zip without config.json)")
        if path.suffix.lower() != ".keras":
            raise SourceModelError(f"{path}: a Keras archive must be named .keras")
    elif head.startswith(b"PK"):
        raise SourceModelError(f"{path}: not a Keras model file (truncated or corrupt zip)")
    else:
        raise SourceModelError(f"{path}: not a Keras model file (neither a .keras archive nor HDF5)")
    return Source(path, sha256_file(path), path.stat().st_size)


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    line = text.splitlines()[0].strip() if text else type(e).__name__
    return line if len(line) <= 160 else line[:157] + "..."


def load(source: Source):
    """The keras.Model, checked to be an MNIST classifier; imports TensorFlow."""
    from digitedge.quiet import quiet

    with quiet():  # TensorFlow's start-up logs
        import keras
    try:
        with quiet():
            model = keras.models.load_model(source.path, compile=False)
    except Exception as e:  # Keras raises anything from ValueError to KeyError on a bad archive
        raise SourceModelError(f"{source.path}: not a loadable Keras model ({first_line(e)})") from None
    check_shapes(model, source.path)
    return model


def shape_of(tensor) -> tuple:
    return tuple(None if d is None else int(d) for d in tensor.shape[1:])


def check_shapes(model, path: Path) -> None:
    try:
        inputs, outputs = list(model.inputs or []), list(model.outputs or [])
    except (AttributeError, ValueError):  # a Sequential saved before it was ever built
        raise SourceModelError(f"{path}: the model has no defined input shape") from None
    if len(inputs) != 1 or len(outputs) != 1:
        raise SourceModelError(f"{path}: model has {len(inputs)} inputs and {len(outputs)} outputs, "
                               "expected 1 and 1")
    shape = shape_of(inputs[0])
    if shape != INPUT_SHAPE:
        raise SourceModelError(f"{path}: input shape {shape}, expected {INPUT_SHAPE}")
    shape = shape_of(outputs[0])
    if shape != (NUM_CLASSES,):
        raise SourceModelError(f"{path}: output shape {shape}, expected ({NUM_CLASSES},) "
                               "(scores for the ten digits)")
