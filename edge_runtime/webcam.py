"""Digits live from a camera or a video: the loop is in plain sight in `run`.

Like TFLite's Raspberry Pi classify.py: read a frame, find and recognize the digits,
draw or print them, count FPS every few frames, and always release the camera. A camera is
read in its own thread (capture.py): the newest frame wins, and the ones skipped are counted.
Labels are smoothed over the last few frames per digit (matched by box overlap), so
they don't flicker when one frame reads a 7 as a 1.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from digitedge.errors import DigitedgeError, SourceError

from . import draw
from .capture import FrameFeed
from .nativelog import captured_stderr
from .recognizer import UNSURE

QUIT_KEYS = (ord("q"), ord("Q"), 27)  # q or Esc
# FFmpeg's decoder threads log damaged frames on their own time, outside any capture of fd 2:
# quiet them at the source (read when OpenCV first loads FFmpeg; set it yourself to debug).
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


@dataclass(frozen=True)
class WebcamConfig:
    source: int | str = 0  # a camera index, or anything OpenCV opens: a file, a stream URL
    roi: tuple[int, int, int, int] | None = None  # x, y, w, h: only look here
    headless: bool = False  # no window: one JSON line per frame on stdout
    max_frames: int | None = None
    save_dir: Path | None = None  # annotated frames as JPEGs
    samples_dir: Path | None = None  # a digit key saves the digit in view here, as a sample of that digit (GUI only)
    smooth_frames: int = 5
    fps_every: int = 10  # FPS is measured over this many frames
    window: str = "digitedge"


@dataclass
class Detection:
    box: tuple[int, int, int, int]  # x, y, w, h in the frame
    digit: int  # smoothed over recent frames
    probability: float  # smoothed (the frames' confidence in the digit, their probability for the others)
    raw_digit: int  # this frame's own reading
    raw_probability: float
    track: int
    unsure: bool = False  # the smoothed probability is under the recognizer's min_confidence

    @property
    def text(self) -> str:
        """The digit, or "?" when it is unsure (as Prediction.text)."""
        return UNSURE if self.unsure else str(self.digit)


@dataclass
class Summary:
    frames: int  # frames read and shown
    reason: str  # "ended" (a file's end), "max-frames", "quit"
    seconds: float
    dropped: int = 0  # a live source's frames replaced by a newer one before they were read (a file: 0)


@dataclass
class _Track:
    box: tuple[int, int, int, int]
    scores: deque
    missed: int = 0
    id: int = 0


@dataclass
class LabelSmoother:
    """Per digit position, the mean of its last `frames` probability vectors (from the top 3; the digit
    read with its confidence)."""

    frames: int = 5
    min_confidence: float = 0.0  # a smoothed probability under this is unsure
    tracks: list = field(default_factory=list)
    next_id: int = 0

    def update(self, predictions) -> list[Detection]:
        out, used = [], set()
        for p in predictions:
            track = self._match(p.box, used)
            if track is None:
                track = _Track(p.box, deque(maxlen=self.frames), id=self.next_id)
                self.next_id += 1
                self.tracks.append(track)
            used.add(track.id)
            track.box, track.missed = p.box, 0
            scores = np.zeros(10)
            for digit, prob in p.top3:
                scores[digit % 10] = prob
            scores[p.digit % 10] = draw.sureness(p)  # a second look's doubt counts
            track.scores.append(scores)
            mean = np.mean(track.scores, axis=0)
            digit = int(mean.argmax())
            probability = float(mean[digit])
            unsure = probability < self.min_confidence
            out.append(Detection(p.box, digit, probability, p.digit, p.probability, track.id, unsure))
        for t in self.tracks:
            t.missed += t.id not in used
        self.tracks = [t for t in self.tracks if t.missed <= self.frames]
        return out

    def _match(self, box, used):
        best, best_iou = None, 0.3
        for t in self.tracks:
            if t.id not in used and (v := iou(box, t.box)) > best_iou:
                best, best_iou = t, v
        return best


def iou(a, b) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / max(1, a[2] * a[3] + b[2] * b[3] - inter)


def source_name(source: int | str) -> str:
    return f"camera {source}" if isinstance(source, int) else str(source)


def is_file(source: int | str) -> bool:
    return isinstance(source, str) and "://" not in source and not source.startswith("/dev/")


# The first bytes of still images: FFmpeg opens a lone photo as a one-frame "video".
IMAGE_SIGNATURES = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")


def is_still_image(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return False
    return head.startswith(IMAGE_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


class QuietCapture:
    """A cv2.VideoCapture whose reads and release keep the decoders' messages (FFmpeg writes
    to fd 2) off the terminal. A file's first frame is read at open: a file that opens but
    yields no frame is not a video, and says so there, in one line."""

    def __init__(self, cap: cv2.VideoCapture, first: np.ndarray | None = None):
        self._cap, self._first = cap, first

    def read(self):
        if self._first is not None:
            frame, self._first = self._first, None
            return True, frame
        with captured_stderr(keep=lambda line: False):
            return self._cap.read()

    def set(self, prop: int, value) -> bool:
        self._first = None  # a seek (serve --loop rewinds) starts from where it says
        return self._cap.set(prop, value)

    def release(self) -> None:
        with captured_stderr(keep=lambda line: False):
            self._cap.release()

    def __getattr__(self, name):  # get, isOpened, getBackendName...: the capture's own
        return getattr(self._cap, name)


def open_source(source: int | str) -> QuietCapture:
    """An opened capture, or a SourceError saying plainly why not."""
    name = source_name(source)
    sequence = is_file(source) and "%" in source  # img_%04d.png: a sequence of images
    if is_file(source) and not sequence:
        if not Path(source).exists():
            raise SourceError(f"{name}: no such file")
        if is_still_image(source):
            raise SourceError(f"{name}: is a still image, not a video (digitedge predict reads photos)")
    with captured_stderr(keep=lambda line: False):  # OpenCV's and FFmpeg's own warnings
        cap = cv2.VideoCapture(source)
        opened, first = cap.isOpened(), None
        if opened and is_file(source):  # a file that opens but yields no frame is no video
            ok, first = cap.read()
            opened = ok and first is not None
        if not opened:
            cap.release()
    if not opened:
        if isinstance(source, int):
            raise SourceError(f"{name}: cannot open (no such camera, or it is in use)")
        if is_file(source):
            raise SourceError(f"{name}: cannot open (not a video OpenCV can read)")
        raise SourceError(f"{name}: cannot open the stream (unreachable, or not a video)")
    return QuietCapture(cap, first)


def open_window(name: str) -> None:
    try:
        cv2.namedWindow(name, cv2.WINDOW_AUTOSIZE)
    except cv2.error:
        raise DigitedgeError(
            "cannot open a window: this OpenCV has no GUI (opencv-python-headless) or there is no "
            "display; use --headless, or install opencv-python"
        ) from None


def frame_json(n: int, elapsed: float, latency: float, fps: float | None, detections, dropped: int = 0,
               personal: str | None = None) -> str:
    """One frame as JSON; `personal`, the personal head's name, when one corrects the readings."""
    return json.dumps(
        {
            "frame": n,
            "time": round(elapsed, 3),
            "latency_ms": round(1000 * latency, 2),
            "fps": None if fps is None else round(fps, 1),
            "dropped": dropped,  # so far: frames the camera gave while the previous ones were being read
            "text": "".join(d.text for d in detections),
            "detections": [
                {
                    "box": list(d.box),
                    "digit": d.digit,
                    "probability": round(d.probability, 4),
                    "raw_digit": d.raw_digit,
                    "raw_probability": round(d.raw_probability, 4),
                    "track": d.track,
                    "unsure": bool(getattr(d, "unsure", False)),
                }
                for d in detections
            ],
            **({} if personal is None else {"personal": personal}),
        }
    )


def annotate(
    frame: np.ndarray, detections, roi, fps: float | None, latency: float, dropped: int | None = None
) -> np.ndarray:
    """The frame with boxes, the reading, FPS, latency and, for a live source, the frames dropped."""
    image = draw.boxes(frame.copy(), detections)
    if roi is not None:
        x, y, w, h = roi
        cv2.rectangle(image, (x, y), (x + w, y + h), (255, 200, 0), 1)
    text = "".join(d.text for d in detections) or "-"
    fps_text = "--" if fps is None else f"{fps:.1f}"
    dropped_text = "" if dropped is None else f"   {dropped} dropped"
    draw.label(image, f"{text}   {fps_text} FPS   {1000 * latency:.0f} ms{dropped_text}", 4, 24)
    return image


def detect(recognizer, frame: np.ndarray, roi) -> list:
    """The digits in a BGR frame (or its region of interest), boxes in frame pixels."""
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    if roi is None:
        return recognizer.detect(gray)
    x, y, w, h = roi
    found = recognizer.detect(gray[y : y + h, x : x + w])
    return [dataclasses.replace(p, box=(p.box[0] + x, p.box[1] + y, p.box[2], p.box[3])) for p in found]


def check_roi(roi, frame: np.ndarray) -> None:
    h, w = frame.shape[:2]
    x, y, rw, rh = roi
    if x < 0 or y < 0 or rw < 8 or rh < 8 or x + rw > w or y + rh > h:
        raise DigitedgeError(f"--roi {x},{y},{rw},{rh} is not inside the {w}x{h} frame")


def run(recognizer, config: WebcamConfig, out=None) -> Summary:
    """The camera loop. Raises SourceError when the source won't open or a live one drops.

    A camera or a stream is read in its own thread (capture.FrameFeed): each pass takes the
    newest frame, and the ones it replaced are counted as dropped. A file is read frame by frame.
    """
    out = out or sys.stdout
    name = source_name(config.source)
    if config.save_dir is not None:
        config.save_dir.mkdir(parents=True, exist_ok=True)
    live = not is_file(config.source)
    feed = FrameFeed(open_source(config.source), live)
    smoother = LabelSmoother(config.smooth_frames, getattr(recognizer, "min_confidence", 0.0))
    head = getattr(recognizer, "personal", None)
    personal = None if head is None else str(head)
    n, fps, reason = 0, None, "max-frames"
    start = tick = time.perf_counter()
    window = False
    try:
        if not config.headless:
            open_window(config.window)
            window = True
        while config.max_frames is None or n < config.max_frames:
            ok, frame = feed.read()
            if not ok or frame is None:
                if not live:
                    reason = "ended"
                    break
                raise SourceError(f"{name}: stopped delivering frames after {feed.delivered} frames (disconnected?)")
            n += 1
            if n == 1 and config.roi is not None:
                check_roi(config.roi, frame)
            t0 = time.perf_counter()
            detections = smoother.update(detect(recognizer, frame, config.roi))
            latency = time.perf_counter() - t0
            if n % config.fps_every == 0:  # averaged over the last fps_every frames
                now = time.perf_counter()
                fps, tick = config.fps_every / (now - tick), now
            shown = Shown(n, time.perf_counter() - start, latency, fps, feed.dropped if live else None, personal)
            if show(config, frame, detections, shown, out):
                reason = "quit"
                break
    finally:
        feed.close()  # always, and the thread with it: a camera left open stays locked for other programs
        if window:
            cv2.destroyAllWindows()
    return Summary(n, reason, time.perf_counter() - start, feed.dropped)


@dataclass(frozen=True)
class Shown:
    """What a frame's output says besides its digits."""

    frame: int
    elapsed: float
    latency: float
    fps: float | None
    dropped: int | None  # None for a file, which drops nothing
    personal: str | None = None  # the personal head the digits were read with


def show(config: WebcamConfig, frame: np.ndarray, detections, shown: Shown, out) -> bool:
    """A frame's JSON line, saved image and window; True when q or Esc was pressed."""
    if config.headless:
        line = frame_json(shown.frame, shown.elapsed, shown.latency, shown.fps, detections, shown.dropped or 0,
                          shown.personal)
        out.write(line + "\n")
        out.flush()
    if config.headless and config.save_dir is None:
        return False
    image = annotate(frame, detections, config.roi, shown.fps, shown.latency, shown.dropped)
    if config.save_dir is not None:
        cv2.imwrite(str(config.save_dir / f"frame_{shown.frame:06d}.jpg"), image)
    if config.headless:
        return False
    cv2.imshow(config.window, image)
    key = cv2.waitKey(1) & 0xFF
    if config.samples_dir is not None and ord("0") <= key <= ord("9"):
        print(save_typed(config.samples_dir, chr(key), frame, detections), file=sys.stderr, flush=True)
    return key in QUIT_KEYS


def save_typed(folder: Path, digit: str, frame: np.ndarray, detections) -> str:
    """The digit key typed while one digit is in view: that digit's cut-out saved as a sample of `digit`."""
    from .crops import cutout, save_sample

    if len(detections) != 1:
        return f"not saved: {len(detections)} digits in view; type a digit key with one digit in view"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        path = save_sample(folder, digit, cutout(frame, [d.box for d in detections], 0), f"webcam-{stamp}")
    except DigitedgeError as e:  # a full disk: said, and the camera goes on
        return f"not saved: {e}"
    return f"saved {path} as a sample of {digit}"
