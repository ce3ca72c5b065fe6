"""Options that several commands share, declared once as typer `Annotated` aliases.

A command writes `model: Model = None`: the alias carries the flag and its help, the parameter
its default (so `webcam` can default --camera to 0 while `serve` leaves it unset).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer

from digitedge.errors import DigitedgeError

# --- MNIST ------------------------------------------------------------------------------------
# No envvar= here: data.resolve_dir reads $DIGITEDGE_DATA itself, so its errors say where the
# folder came from ("from DIGITEDGE_DATA", not "from --data-dir").
DataDir = Annotated[
    Optional[Path], typer.Option("--data-dir", help="MNIST folder (else $DIGITEDGE_DATA, else the cache).")
]

# --- one model on the device (predict, webcam, serve) ---------------------------------------------
Model = Annotated[
    Optional[Path], typer.Option("--model", "-m", help="A .tflite model (default: the shipped int8 model).")
]
Backend = Annotated[
    str,
    typer.Option(
        "--backend", help="Interpreter: auto (ai-edge-litert, else tflite-runtime), litert, tflite-runtime."
    ),
]
Threads = Annotated[Optional[int], typer.Option("--threads", help="Interpreter threads (default: its own).")]
# The default lives in edge_runtime (DEFAULT_MIN_CONFIDENCE, chosen by `digitedge calibration`):
# None here means "the runtime's default", so --help needs no import of the runtime.
MinConfidence = Annotated[
    Optional[float],
    typer.Option(
        "--min-confidence",
        help="Mark a digit read under this confidence (its probability, checked by a second look) as unsure: "
        "? in the text, \"unsure\": true in the JSON "
        "(default: the calibrated one, see benchmarks/results/calibration).",
    ),
]
# A head made by `digitedge personalize` for the model: it corrects the model's scores for one writer.
Personal = Annotated[
    Optional[Path],
    typer.Option("--personal", help="Read with your personal head (made by digitedge personalize for this model)."),
]
# A model without digitedge metadata: its input convention is detected unless these say it.
InputRange = Annotated[
    Optional[str],
    typer.Option("--input-range", help="The values a model without digitedge metadata wants: 0-1, 0-255, "
                 "signed (-1..1), mnist (mean/std), raw (the integer pixel); default: detected on bundled digits."),
]
Invert = Annotated[
    Optional[bool],
    typer.Option("--invert/--no-invert", help="A model without digitedge metadata wants black digits on white "
                 "(--invert) or white on black (--no-invert); default: detected."),
]


# --- the live source (webcam, serve) --------------------------------------------------------------
Camera = Annotated[Optional[int], typer.Option("--camera", help="Camera index (0 is the first camera).")]
Source = Annotated[
    Optional[str],
    typer.Option("--source", help="Instead of a camera: a video file or a stream URL OpenCV can open."),
]
Roi = Annotated[Optional[str], typer.Option("--roi", help="Only look in x,y,width,height of the frame.")]
Smooth = Annotated[int, typer.Option("--smooth", help="Frames each label is smoothed over (1: off).")]
# serve also reads uploads, which are never smoothed: only its live labels are.
LiveSmooth = Annotated[int, typer.Option("--smooth", help="Frames each live label is smoothed over (1: off).")]


def parse_roi(text: Optional[str]) -> Optional[tuple]:
    """--roi x,y,width,height -> a tuple of ints (None when not given)."""
    if text is None:
        return None
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise DigitedgeError(f"--roi {text}: expected x,y,width,height in pixels, e.g. 100,80,400,200") from None
    return x, y, w, h


def min_confidence(value: Optional[float]) -> float:
    """--min-confidence as the recognizer takes it: the runtime's default when not given."""
    from digitedge.edge_runtime.recognizer import DEFAULT_MIN_CONFIDENCE

    if value is None:
        return DEFAULT_MIN_CONFIDENCE
    if not 0.0 <= value <= 1.0:
        raise DigitedgeError(f"--min-confidence {value:g}: must be between 0 and 1 (a probability)")
    return value


def override(input_range: Optional[str], invert: Optional[bool]):
    """--input-range and --invert as the runtime takes them (checked there)."""
    from digitedge.edge_runtime.convention import Override

    return Override(input_range, invert)


def default_out(kind: str) -> Path:
    """runs/<kind>-<time>: the results folder of a command run without --out."""
    return Path("runs") / f"{kind}-{datetime.now():%Y%m%d-%H%M%S}"


def shipped_or_path(values: list[str]) -> list[Path]:
    """--model values: paths as given; float32 and int8 are short for the shipped models."""
    from digitedge.benchmarks.bench import shipped_models

    shipped = {p.stem.replace("digits_", ""): p for p in shipped_models()}
    return [shipped.get(v, Path(v)) for v in values]
