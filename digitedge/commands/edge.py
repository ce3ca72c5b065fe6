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
    Personal,
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
    save_crops: Optional[Path] = typer.Option(
        None, "--save-crops", help="Save every digit read as a sample for digitedge personalize: DIR/<digit read>/"
        "<photo>-<n>.png (move a misread one to its right folder)."),
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
    personal: Personal = None,
) -> None:
    """Read the digits in photos: a single digit or a number written in a row (? for an unsure digit)."""
    from digitedge.edge_runtime.batch import Settings, read_files
    from digitedge.edge_runtime.preprocess import PhotoConfig
    from digitedge.edge_runtime.profile import StageTimer

    if jobs < 1:
        raise DigitedgeError("--jobs must be at least 1")
    settings = Settings(model, backend, threads, PhotoConfig(deskew=deskew), min_confidence(min_conf), profile,
                        need_full=annotate is not None or save_crops is not None,
                        override=override(input_range, invert), personal=personal)
    recognizer = loaded(settings)
    out = Outputs(as_json, annotate, save_crops, personal)
    items = expand(paths)
    done = read_files([path for path, problem in items if not problem], settings, jobs, recognizer)
    results, failed, timer = [], 0, StageTimer()
    for path, problem in items:
        result = None if problem else next(done)
        error = f"{path}: {problem}" if problem else result.error
        if error:
            failed += 1
            out.error(path, error)
            continue
        reading = result.reading.scaled(result.scale)  # boxes in the original image's pixels
        timer.calls += [result.stages] if result.stages else []
        results.append((path, reading))
        out.write(path, result, reading)
    if results and not as_json:
        print_table(results)
    if profile and timer.calls:
        print_stages(timer, err=as_json)
    if failed:
        raise typer.Exit(1)


def loaded(settings):
    """The Recognizer the settings describe, its warnings shown, timing its stages with --profile."""
    from digitedge.edge_runtime import load_recognizer
    from digitedge.edge_runtime.profile import StageTimer

    recognizer, warnings = load_recognizer(settings.model, settings.backend, settings.threads, settings.photo,
                                           settings.min_confidence, settings.override, settings.personal)
    echo_warnings(warnings)
    if settings.profile:
        recognizer.timer = StageTimer()
    return recognizer


class Outputs:
    """Where each image's reading goes besides the table: --json lines, --annotate images, --save-crops samples."""

    def __init__(self, as_json: bool, annotate: Optional[Path], save_crops: Optional[Path], personal: Optional[Path]):
        self.as_json, self.annotate, self.save_crops = as_json, annotate, save_crops
        self.extra = {} if personal is None else {"personal": str(personal)}
        self.used: set = set()
        for folder in (annotate, save_crops):
            if folder is not None:
                folder.mkdir(parents=True, exist_ok=True)

    def error(self, path: str, error: str) -> None:
        import json

        typer.echo(f"error: {error}", err=True)
        if self.as_json:
            typer.echo(json.dumps({"path": path, "error": error}))

    def write(self, path: str, result, reading) -> None:
        import json

        if self.as_json:
            typer.echo(json.dumps({**reading.to_dict(path), **self.extra}))
        if self.annotate is not None:
            write_annotated(annotated_name(self.annotate, path, self.used), result, reading)
        if self.save_crops is not None:
            save_crops_of(self.save_crops, path, result)


def save_crops_of(folder: Path, path: str, result) -> None:
    """Each digit of the image, cut out of it, as folder/<digit read>/<image stem>-<n>.png."""
    import cv2

    from digitedge.edge_runtime.crops import cutout, save_sample

    pixels = result.pixels if result.pixels.ndim == 2 else cv2.cvtColor(result.pixels, cv2.COLOR_RGB2BGR)
    boxes = [d.box for d in result.reading.digits]  # in result.pixels, as read
    for i, digit in enumerate(result.reading.digits, 1):
        save_sample(folder, digit.digit, cutout(pixels, boxes, i - 1), f"{Path(path).stem}-{i}")


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


def print_table(results) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("image", "read", "digits (confidence)", "ms")
    for path, reading in results:
        digits = "  ".join(f"{d.digit}{'?' if d.unsure else ''} {100 * d.confidence:.1f}%" for d in reading.digits)
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
    samples: Optional[Path] = typer.Option(
        None, "--samples", help="With one digit in view, type its digit (0-9) to save it into this SAMPLES folder "
        "for digitedge personalize (window only, not --headless)."),
    smooth: Smooth = 5,
    model: Model = None,
    backend: Backend = "auto",
    threads: Threads = None,
    min_conf: MinConfidence = None,
    input_range: InputRange = None,
    invert: Invert = None,
    personal: Personal = None,
) -> None:
    """Recognize digits live: boxes, labels, confidence, FPS and latency; q or Esc quits, 0-9 save a
    sample with --samples."""
    from digitedge.edge_runtime import load_recognizer
    from digitedge.edge_runtime.webcam import WebcamConfig, run, source_name

    if smooth < 1 or (max_frames is not None and max_frames < 1):
        raise DigitedgeError("--smooth and --max-frames must be at least 1")
    if samples is not None and headless:
        raise DigitedgeError("--samples needs the window (a digit key saves a sample): leave out --headless")
    chosen = camera if source is None else (int(source) if source.isdigit() else source)
    recognizer, warnings = load_recognizer(model, backend, threads, min_confidence=min_confidence(min_conf),
                                           override=override(input_range, invert), personal=personal)
    echo_warnings(warnings)
    config = WebcamConfig(
        source=chosen,
        roi=parse_roi(roi),
        headless=headless,
        max_frames=max_frames,
        save_dir=save,
        samples_dir=samples,
        smooth_frames=smooth,
    )
    try:
        summary = run(recognizer, config)
    except BrokenPipeError:  # whoever read the JSON lines went away (`| head`): stop quietly
        quiet_stdout()
        return
    if summary.reason == "ended":
        typer.echo(f"end of {source_name(chosen)} after {summary.frames} frames", err=True)
