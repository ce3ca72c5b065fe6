"""The live view: a background thread reads frames from a camera or a video, finds and reads
the digits in each, and keeps the latest annotated JPEG and reading for the page and the API.

No web framework here: the app polls `LiveSource.snapshot()` / `.jpeg`. A source that ends
or drops is reported in its `status` and `error`; a camera or a stream is reopened every
few seconds, a video file ends (or starts again with `loop`). A camera or a stream is read
in a thread of its own (edge_runtime.capture, as `digitedge webcam` reads it): the newest
frame wins and the ones replaced are counted as dropped; a file is read frame by frame. The
capture is released by `stop()`, which the app calls on shutdown.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Union

import cv2
import numpy as np

from digitedge.edge_runtime import webcam
from digitedge.edge_runtime.capture import FrameFeed

Roi = tuple[int, int, int, int]  # x, y, w, h in the frame's pixels


@dataclass(frozen=True)
class SourceSpec:
    """What to read, as `digitedge webcam` takes it: a camera index, or a file / device / stream URL."""

    source: Union[int, str]
    loop: bool = False  # a video file starts again when it ends

    @property
    def is_file(self) -> bool:
        return webcam.is_file(self.source)

    @property
    def name(self) -> str:
        return webcam.source_name(self.source)

    @property
    def shown(self) -> str:
        """The name the page and the API show: a file by its name only, never the server's path to it."""
        return Path(self.source).name if self.is_file else self.name

    @property
    def kind(self) -> str:
        return "camera" if isinstance(self.source, int) else "file" if self.is_file else "stream"


def open_capture(spec: SourceSpec):
    """An opened cv2.VideoCapture (webcam's opener: plain SourceErrors, OpenCV's noise hidden)."""
    cap = webcam.open_source(spec.source)
    if not spec.is_file:
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not a queue of stale ones
    return cap


class LiveSource:
    """The reading thread and its latest results, safe to read from any thread.

    Each frame goes through `digitedge webcam`'s own steps (edge_runtime.webcam: detect,
    LabelSmoother, annotate, frame_json), so the page shows what `webcam` would.
    """

    REOPEN_SECONDS = 2.0
    MAX_STREAM_SIDE = 960  # frames bigger than this are scaled down for the page (not for reading)

    def __init__(
        self,
        spec: SourceSpec,
        recognizer,
        roi: Optional[Roi] = None,
        smooth_frames: int = 5,
        jpeg_quality: int = 80,
        on_error: Optional[Callable[[str], None]] = None,
        opener: Callable = open_capture,
    ):
        self.spec, self.recognizer, self.roi = spec, recognizer, roi
        self.jpeg_quality = jpeg_quality
        self.on_error = on_error or (lambda message: None)
        self.opener = opener
        self.smoother = webcam.LabelSmoother(smooth_frames, getattr(recognizer, "min_confidence", 0.0))
        head = getattr(recognizer, "personal", None)
        self.personal = None if head is None else head.name  # by its name only, as the API names files
        self._dropped_before = 0  # dropped by the feeds of earlier openings
        self._feed: Optional[FrameFeed] = self._open()  # fails now, at start, when the source will not open
        if roi is not None:
            self._check_roi()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._times: deque[float] = deque(maxlen=30)
        self._started = time.perf_counter()
        self.status = "starting"  # starting, running, reconnecting, ended, stopped
        self.error: Optional[str] = None
        self.frames = 0  # frames read and processed
        self._looped_at = 0
        self.seq = 0  # bumps with every new result (and with every status change)
        self.jpeg: Optional[bytes] = None
        self.last: Optional[dict] = None  # the latest frame's JSON, as `webcam --headless` prints it

    def _open(self) -> FrameFeed:
        return FrameFeed(self.opener(self.spec), live=not self.spec.is_file)

    def _check_roi(self) -> None:
        width = int(self._feed.cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(self._feed.cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if width > 0 and height > 0:
            try:
                webcam.check_roi(self.roi, np.empty((height, width), np.uint8))
            except Exception:
                self._release()
                raise

    # --- control -------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="digitedge-source", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and release the camera; safe to call twice."""
        self._stop.set()
        feed = self._feed
        if feed is not None and feed.live:  # wakes the thread if it waits for a camera that hangs
            feed.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._release()
        with self._lock:
            if self.status != "ended":
                self.status = "stopped"
            self.seq += 1

    @property
    def released(self) -> bool:
        return self._feed is None

    @property
    def dropped(self) -> int:
        """Frames a camera gave while earlier ones were being read, never read: the newest wins."""
        feed = self._feed
        return self._dropped_before + (feed.dropped if feed is not None else 0)

    def _release(self) -> None:
        feed, self._feed = self._feed, None
        if feed is not None:
            feed.close()  # stops its capture thread, then releases the camera
            self._dropped_before += feed.dropped

    # --- state ---------------------------------------------------------------------------

    def _set_status(self, status: str, error: Optional[str] = None) -> None:
        with self._lock:
            self.status, self.error = status, error
            self.seq += 1
        if error:
            self.on_error(error)

    def fps(self) -> float:
        t = list(self._times)
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0

    def info(self) -> dict:
        with self._lock:
            return {
                "kind": self.spec.kind,
                "name": self.spec.shown,
                "status": self.status,
                "error": self.error,
                "frames": self.frames,
                "dropped": self.dropped,
                "fps": round(self.fps(), 2),
                "roi": list(self.roi) if self.roi else None,
            }

    def snapshot(self) -> tuple[int, dict, Optional[bytes]]:
        """(seq, the latest event for the page and the API, the latest annotated JPEG)."""
        with self._lock:
            seq, last, jpeg = self.seq, self.last, self.jpeg
            status, error = self.status, self.error
        event = dict(last) if last else {"frame": 0, "text": "", "detections": []}
        event["source"] = {"status": status, "error": error}
        return seq, event, jpeg

    # --- the thread ----------------------------------------------------------------------

    def _run(self) -> None:
        fps = self._feed.cap.get(cv2.CAP_PROP_FPS) if self._feed is not None and self.spec.is_file else 0
        period = 1.0 / fps if self.spec.is_file and 1 <= fps <= 240 else 0.0  # a file plays in real time
        self._set_status("running")
        next_at = time.monotonic()
        while not self._stop.is_set():
            ok, frame = (False, None) if self._feed is None else self._feed.read()
            if not ok or frame is None:
                if self._stop.is_set() or not self._lost():
                    break
                next_at = time.monotonic()
                continue
            try:
                self._process(frame)
            except Exception as e:  # noqa: BLE001 - a bad frame must not stop the live view
                self._set_status("running", f"{self.spec.shown}: frame {self.frames + 1}: {e}")
            if period:
                next_at += period
                delay = next_at - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
                else:
                    next_at = time.monotonic()  # slower than real time: do not try to catch up
        self._release()

    def _lost(self) -> bool:
        """The source gave no frame: loop, end, or reopen it. False when the thread should stop."""
        if self.spec.is_file:
            if self.spec.loop and self.frames > self._looped_at and self._feed is not None:
                self._looped_at = self.frames  # no frame since the last restart: the file is done
                self._feed.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                return True
            self._set_status("ended", f"{self.spec.shown}: the video ended after {self.frames} frames")
            self._release()
            return False
        self._release()  # every frame it gave was read or dropped: the newest is read before the end
        given = self.frames + self.dropped
        message = f"{self.spec.shown}: stopped delivering frames after {given} frames (disconnected?)"
        self._set_status("reconnecting", f"{message}; reopening it every {self.REOPEN_SECONDS:.0f} s")
        while not self._stop.wait(self.REOPEN_SECONDS):
            try:
                self._feed = self._open()
            except Exception as e:  # noqa: BLE001 - keep trying until it is back or we stop
                with self._lock:
                    self.error = f"{message}; reopening it every {self.REOPEN_SECONDS:.0f} s: {e}"
                    self.seq += 1
                continue
            self._set_status("running")
            return True
        return False

    def _process(self, frame: np.ndarray) -> None:
        t0 = time.perf_counter()
        detections = self.smoother.update(webcam.detect(self.recognizer, frame, self.roi))
        latency = time.perf_counter() - t0
        self._times.append(time.monotonic())
        fps = self.fps() if len(self._times) > 1 else None
        dropped = self.dropped
        image = webcam.annotate(frame, detections, self.roi, fps, latency, None if self.spec.is_file else dropped)
        side = max(image.shape[:2])
        if side > self.MAX_STREAM_SIDE:
            k = self.MAX_STREAM_SIDE / side
            size = (round(image.shape[1] * k), round(image.shape[0] * k))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        elapsed = time.perf_counter() - self._started
        event = json.loads(webcam.frame_json(self.frames + 1, elapsed, latency, fps, detections, dropped,
                                             self.personal))
        with self._lock:
            self.frames += 1
            self.last = event
            if ok:
                self.jpeg = data.tobytes()
            self.seq += 1
