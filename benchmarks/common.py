"""What every benchmark shares: model names, the recorded command line, versions, sizes, Keras loading.

Standard library only at import time (rich and TensorFlow are imported where used), so
the light scripts (footprint.py) can use it too.
"""

from __future__ import annotations

import importlib.util
import shlex
import sys
from importlib import metadata
from pathlib import Path

from digitedge.errors import ModelError

REPO = Path(__file__).resolve().parents[1]  # the checkout (an installed copy: site-packages/digitedge)
RESULTS = Path(__file__).resolve().parent / "results"  # the committed records; every script's default output
MB = 2**20  # one definition of a megabyte: binary, as VmHWM's kB, the runtime's limits and the records count
KERAS_HINT = "TensorFlow is not installed (pip install digitedge[train])"


# ---- records --------------------------------------------------------------------------------


def size_text(n: int | None, mb_digits: int = 2) -> str:
    """A file size for a table: KB below a megabyte, MB from one."""
    if n is None:
        return "-"
    return f"{n / MB:.{mb_digits}f} MB" if n >= MB else f"{n / 1024:.0f} KB"


def versions(names) -> dict[str, str]:
    """The installed version of each distribution named (read from metadata, never imported)."""
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def command_line() -> str:
    """The command as the user typed it, recorded with the results (`digitedge`, however it was started)."""
    return shlex.join(["digitedge", *sys.argv[1:]])


def shown_path(path: Path) -> str:
    """Relative to the current folder when inside it, so a committed record holds no home folders."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def model_names(paths: list[Path]) -> list[str]:
    """Each file's stem; its name, or its path, where the stem alone would be ambiguous; #n for a repeat."""
    stems, names = [p.stem for p in paths], [p.name for p in paths]
    out = [p.stem if stems.count(p.stem) == 1 else p.name if names.count(p.name) == 1 else str(p) for p in paths]
    if len(set(out)) < len(out):  # the same file twice
        out = [f"{n}#{i + 1}" for i, n in enumerate(out)]
    return out


def progress_bar(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description:<32}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    disable=not enabled, transient=False)


# ---- Keras ----------------------------------------------------------------------------------

_tf_threads: int | str | None = None


def tensorflow_installed() -> bool:
    """Without importing it (seconds, and hundreds of MB)."""
    try:
        return importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):  # a broken install, or blocked in sys.modules
        return False


def import_keras(threads: int):
    """Keras with TensorFlow's thread pools fixed to `threads` (settable once per process)."""
    global _tf_threads
    import tensorflow as tf

    if _tf_threads is None:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
            _tf_threads = threads
        except RuntimeError:  # TensorFlow already ran in this process: its pools are fixed
            _tf_threads = tf.config.threading.get_intra_op_parallelism_threads() or "default"
    import keras

    return keras


def keras_threads() -> int | str | None:
    """TensorFlow's intra-op threads as import_keras set them ("default": fixed before it could)."""
    return _tf_threads


def load_keras_model(keras, path: Path):
    """A .keras file loaded for inference; a ModelError that names the file for anything unusable."""
    import zipfile

    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path}: not a .keras model (not a zip archive)")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:  # Keras raises anything from ValueError to zipfile errors
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"{path}: not a usable Keras model ({first[:200]})") from None


def check_digit_input(model, path: Path) -> None:
    """The models here read one 28x28x1 image; anything else is the wrong model."""
    shape = tuple(model.input_shape)
    if shape[1:] != (28, 28, 1):
        raise ModelError(f"{path}: model input is {shape}, expected (None, 28, 28, 1)")
