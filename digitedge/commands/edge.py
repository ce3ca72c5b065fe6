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
    InputRange,
    Invert,
    MinConfidence,
    Model,
    Roi,
    Smooth,
    Source,
    Threads,
    min_confidence,
    override,
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
    profile: bool = typer.Option(
        False, "--profile", help="After the results, the time each stage took (median and p99 over the images)."
    ),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Read the images on this many processes (output in order)."),
    input_range: InputRange = None,
    invert: Invert = None,
) -> None:
    """Read the digits in photos: a single digit or a number written in a row (? for an unsure digit)."""
    import json

    from digitedge.edge_runtime import load_recognizer
    from digitedge.edge_runtime.batch import Settings, read_files
    from digitedge.edge_runtime.preprocess import PhotoConfig
    from digitedge.edge_runtime.profile import StageTimer

    if jobs < 1:
        raise DigitedgeError("--jobs must be at least 1")
    settings = Settings(model, backend, threads, PhotoConfig(deskew=deskew), min_confidence(min_conf), profile,
                        need_full=annotate is not None, override=override(input_range, invert))
    recognizer, warnings = load_recognizer(model, backend, threads, settings.photo, settings.min_confidence,
                                           settings.override)
    echo_warnings(warnings)
    if profile:
        recognizer.timer = StageTimer()
    if annotate is not None:
        annotate.mkdir(parents=True, exist_ok=True)
    items = expand(paths)
    readable = [path for path, problem in items if not problem]
    done = read_files(readable, settings, jobs, recognizer)
    results, failed, used, timer = [], 0, set(), StageTimer()
    for path, problem in items:
        result = None if problem else next(done)
        error = f"{path}: {problem}" if problem else result.error
        if error:
            failed += 1
            typer.echo(f"error: {error}", err=True)
            if as_json:
                typer.echo(json.dumps({"path": path, "error": error}))
            continue
        reading = rescaled(result.reading, result.scale)
        timer.calls += [result.stages] if result.stages else []
        if as_json:
            typer.echo(json.dumps(reading.to_dict(path)))
        results.append((path, reading))
        if annotate is not None:
            write_annotated(annotated_name(annotate, path, used), result, reading)
    if results and not as_json:
        print_table(results)
    if profile and timer.calls:
        print_stages(timer, err=as_json)
    if failed:
        raise typer.Exit(1)


def write_annotated(target: Path, result, reading) -> None:
    """The image read, with each digit's box and label drawn, as `target`."""
    import cv2

    from digitedge.edge_runtime import draw

    image = draw.boxes(draw.to_bgr(result.pixels), reading.digits, result.scale)
    if not cv2.imwrite(str(target), image):
        raise DigitedgeError(f"{target}: cannot write the annotated image")


def print_stages(timer, err: bool = False) -> None:
    """The --profile table: per stage, median and p99 over the images read (on stderr beside --json)."""
    from rich.console import Console
    from rich.table import Table

    from digitedge.edge_runtime.profile import ABOUT

    summary = timer.summary()
    n = summary["total"]["n"]
    table = Table("stage", "what", "median ms", "p99 ms", title=f"time by stage, {n} image{'s' * (n != 1)}")
    for stage, st in summary.items():
        table.add_row(stage, ABOUT.get(stage, "the whole image"), f"{st['median'] / 1000:.3f}",
                      f"{st['p99'] / 1000:.3f}")
    Console(stderr=err).print(table)


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
    input_range: InputRange = None,
    invert: Invert = None,
) -> None:
    """Recognize digits live: boxes, labels, confidence, FPS and latency; q or Esc quits."""
    from digitedge.edge_runtime import load_recognizer
    from digitedge.edge_runtime.webcam import WebcamConfig, run, source_name

    if smooth < 1 or (max_frames is not None and max_frames < 1):
        raise DigitedgeError("--smooth and --max-frames must be at least 1")
    chosen = camera if source is None else (int(source) if source.isdigit() else source)
    recognizer, warnings = load_recognizer(model, backend, threads, min_confidence=min_confidence(min_conf),
                                           override=override(input_range, invert))
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
