"""`digitedge predict` and `digitedge webcam`: the device side, no TensorFlow.

Imports here stay inside the command bodies: `digitedge --help` must not load OpenCV.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from digitedge.commands import echo_warnings, one_line_errors
from digitedge.commands.options import (
    Backend,
    Camera,
    MinConfidence,
    Model,
    Roi,
    Smooth,
    Source,
    Threads,
    min_confidence,
    parse_roi,
)
from digitedge.errors import DigitedgeError


def expand(paths: list[str]) -> list[tuple[str, Optional[str]]]:
    """Files, folders (their images, sorted) and globs -> [(path, error or None)]."""
    import glob

    from digitedge.edge_runtime.imageio import EXTENSIONS

    out: list[tuple[str, Optional[str]]] = []
    for given in paths:
        p = Path(given)
        if p.is_dir():
            found = sorted(str(f) for f in p.iterdir() if f.suffix.lower() in EXTENSIONS)
            out += [(f, None) for f in found] or [(given, "folder has no images")]
        elif p.exists() or not glob.has_magic(given):
            out.append((given, None))  # a missing file is reported when it is read
        else:
            found = sorted(glob.glob(given, recursive=True))
            out += [(f, None) for f in found if Path(f).is_file()] or [(given, "no files match")]
    return out


def annotated_name(folder: Path, path: str, used: set) -> Path:
    """<folder>/<stem>.jpg, numbered when two inputs share a name."""
    stem, n = Path(path).stem, 1
    target = folder / f"{stem}.jpg"
    while target in used:
        n += 1
        target = folder / f"{stem}-{n}.jpg"
    used.add(target)
    return target


@one_line_errors
def predict(
    paths: list[str] = typer.Argument(..., help="Image files, folders of images, or globs."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per image, per line."),
    annotate: Optional[Path] = typer.Option(
        None, "--annotate", help="Write each image with boxes and labels drawn into this folder."
    ),
    model: Model = None,
    backend: Backend = "auto",
    threads: Threads = None,
    deskew: bool = typer.Option(False, "--deskew", help="Straighten slanted digits first."),
    min_conf: MinConfidence = None,
) -> None:
    """Read the digits in photos: a single digit or a number written in a row (? for an unsure digit)."""
    import json

    from digitedge.edge_runtime import draw, imageio, load_recognizer
    from digitedge.edge_runtime.preprocess import PhotoConfig

    recognizer, warnings = load_recognizer(model, backend, threads, PhotoConfig(deskew=deskew),
                                           min_confidence(min_conf))
    echo_warnings(warnings)
    if annotate is not None:
        annotate.mkdir(parents=True, exist_ok=True)
    results, failed, used = [], 0, set()
    for path, problem in expand(paths):
        try:
            if problem:
                raise DigitedgeError(f"{path}: {problem}")
            # annotated copies are drawn at up to 1600 px; otherwise decode only what is read
            need = None if annotate else (recognizer.photo.work_side, recognizer.photo.max_work_side)
            pixels, scale = imageio.read_image_scaled(path, path, need)
            reading = recognizer.read(pixels, name=path)
        except DigitedgeError as e:
            failed += 1
            typer.echo(f"error: {e}", err=True)
            if as_json:
                typer.echo(json.dumps({"path": path, "error": str(e)}))
            continue
        reading = rescaled(reading, scale)
        if as_json:
            typer.echo(json.dumps(reading.to_dict(path)))
        results.append((path, reading))
        if annotate is not None:
            image = draw.boxes(draw.to_bgr(pixels), reading.digits, scale)
            target = annotated_name(annotate, path, used)
            import cv2

            if not cv2.imwrite(str(target), image):
                raise DigitedgeError(f"{target}: cannot write the annotated image")
    if results and not as_json:
        print_table(results)
    if failed:
        raise typer.Exit(1)


def rescaled(reading, scale: float):
    """A Reading whose boxes are in the original image's pixels."""
    import dataclasses

    if scale == 1.0:
        return reading
    digits = [dataclasses.replace(d, box=tuple(round(v * scale) for v in d.box)) for d in reading.digits]
    return dataclasses.replace(reading, digits=digits)


def print_table(results) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("image", "read", "digits (confidence)", "ms")
    for path, reading in results:
        digits = "  ".join(f"{d.digit}{'?' if d.unsure else ''} {100 * d.probability:.1f}%" for d in reading.digits)
        table.add_row(path, reading.text, digits, f"{1000 * reading.seconds:.1f}")
    Console().print(table)


def quiet_stdout() -> None:
    """Point stdout at /dev/null so Python's final flush into a closed pipe stays silent."""
    import os
    import sys

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


@one_line_errors
def webcam(
    camera: Camera = 0,
    source: Source = None,
    roi: Roi = None,
    headless: bool = typer.Option(
        False, "--headless", help="No window: print one JSON line per frame (for a Pi without a screen)."
    ),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", help="Stop after this many frames."),
    save: Optional[Path] = typer.Option(None, "--save", help="Write every annotated frame into this folder."),
    smooth: Smooth = 5,
    model: Model = None,
    backend: Backend = "auto",
    threads: Threads = None,
    min_conf: MinConfidence = None,
) -> None:
    """Recognize digits live: boxes, labels, confidence, FPS and latency; q or Esc quits."""
    from digitedge.edge_runtime import load_recognizer
    from digitedge.edge_runtime.webcam import WebcamConfig, run, source_name

    if smooth < 1 or (max_frames is not None and max_frames < 1):
        raise DigitedgeError("--smooth and --max-frames must be at least 1")
    chosen = camera if source is None else (int(source) if source.isdigit() else source)
    recognizer, warnings = load_recognizer(model, backend, threads, min_confidence=min_confidence(min_conf))
    echo_warnings(warnings)
    config = WebcamConfig(
        source=chosen,
        roi=parse_roi(roi),
        headless=headless,
        max_frames=max_frames,
        save_dir=save,
        smooth_frames=smooth,
    )
    try:
        summary = run(recognizer, config)
    except BrokenPipeError:  # whoever read the JSON lines went away (`| head`): stop quietly
        quiet_stdout()
        return
    if summary.reason == "ended":
        typer.echo(f"end of {source_name(chosen)} after {summary.frames} frames", err=True)
