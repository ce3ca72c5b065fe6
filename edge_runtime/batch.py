"""Reading many image files, on one process or several, results in input order.

`digitedge predict --jobs N` and the photo-speed benchmark use it. Each worker process loads its
own Recognizer once (a TFLite interpreter is not shared across processes) and reads whole
files: decoding is part of the work, as it is for a user.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from digitedge.errors import DigitedgeError

from . import imageio
from .profile import StageTimer
from .recognizer import Reading, load_recognizer


@dataclass(frozen=True)
class Settings:
    """What a worker needs to build the same Recognizer as the parent (all picklable)."""

    model: str | Path | None = None
    backend: str = "auto"
    threads: int | None = None
    photo: object = None  # a PhotoConfig (None: the default)
    min_confidence: float | None = None
    profile: bool = False  # time every stage (edge_runtime.profile)
    need_full: bool = False  # decode at up to 1600 px (to draw on), not only what is read
    override: object = None  # convention.Override: --input-range, --invert (a model without metadata)
    personal: str | Path | None = None  # a personal head file (--personal)


@dataclass
class Result:
    path: str
    reading: Reading | None = None
    pixels: object = None  # the decoded image, kept only when need_full (for drawing)
    scale: float = 1.0  # pixels -> original image pixels
    error: str | None = None
    stages: dict = field(default_factory=dict)  # seconds per stage, when profiling


def build(settings: Settings):
    kwargs = {} if settings.min_confidence is None else {"min_confidence": settings.min_confidence}
    recognizer, warnings = load_recognizer(settings.model, settings.backend, settings.threads, settings.photo,
                                           override=settings.override, personal=settings.personal, **kwargs)
    if settings.profile:
        recognizer.timer = StageTimer()
    return recognizer, warnings


def read_one(recognizer, path: str, need_full: bool = False) -> Result:
    """One file through decode and Recognizer.read; a bad file is an error Result, never a raise."""
    timer = recognizer.timer
    try:
        start = time.perf_counter()
        need = None if need_full else (recognizer.photo.work_side, recognizer.photo.max_work_side)
        pixels, scale = imageio.read_image_scaled(path, path, need, gray=not need_full)  # colour to annotate
        decoded = time.perf_counter() - start
        reading = recognizer.read(pixels, name=path)
    except DigitedgeError as e:
        return Result(path, error=str(e))
    stages = {}
    if isinstance(timer, StageTimer) and timer.calls:
        timer.calls[-1]["decode"] += decoded
        stages = timer.calls.pop()
    return Result(path, reading, pixels if need_full else None, scale, stages=stages)


_worker = None  # (recognizer, need_full) in a worker process


def _start_worker(settings: Settings) -> None:
    import cv2

    global _worker
    cv2.setNumThreads(1)  # one process per core: OpenCV's own pool would only fight the others
    _worker = (build(settings)[0], settings.need_full)


def _read_in_worker(path: str) -> Result:
    recognizer, need_full = _worker
    return read_one(recognizer, path, need_full)


def read_files(paths: Iterable[str], settings: Settings, jobs: int = 1, recognizer=None) -> Iterator[Result]:
    """Results in the order of `paths`; with jobs > 1 the files are read by `jobs` processes."""
    paths = list(paths)
    if jobs <= 1 or len(paths) <= 1:
        recognizer = recognizer or build(settings)[0]
        yield from (read_one(recognizer, p, settings.need_full) for p in paths)
        return
    # spawned, never forked: a fork of a process whose OpenCV or interpreter threads ran can deadlock
    context = multiprocessing.get_context("spawn")
    with context.Pool(min(jobs, len(paths)), initializer=_start_worker, initargs=(settings,)) as pool:
        yield from pool.imap(_read_in_worker, paths, chunksize=max(1, min(16, len(paths) // (8 * jobs))))
