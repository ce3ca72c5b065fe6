"""The live view: a background thread reads frames from a camera or a video, finds and reads
the digits in each, and keeps the latest annotated JPEG and reading for the page and the API.

No web framework here: the app polls `LiveSource.snapshot()` / `.jpeg`. A source that ends
or drops is reported in its `status` and `error`; a camera or a stream is reopened every
few seconds, a video file ends (or starts again with `loop`). The capture is released by
`stop()`, which the app calls on shutdown.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from digitedge.errors import SourceError

Roi = tuple[int, int, int, int]  # x, y, w, h in the frame's pixels


def parse_roi(text: Optional[str]) -> Optional[Roi]:
    """'x,y,w,h' (pixels) -> a tuple; None stays None."""
    if text is None or text == "":
        return None
    try:
        x, y, w, h = (int(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        raise SourceError(f"--roi {text!r}: expected x,y,w,h in pixels, e.g. 100,80,400,200") from None
    if x < 0 or y < 0 or w < 8 or h < 8:
        raise SourceError(f"--roi {text!r}: x and y must be >= 0, w and h at least 8 pixels")
    return x, y, w, h


def clip_roi(roi: Optional[Roi], shape: tuple[int, ...]) -> Optional[Roi]:
    """The part of the ROI inside a frame of this shape; None when there is no ROI or nothing is left."""
    if roi is None:
        return None
    x, y, w, h = roi
    x1, y1 = min(x + w, shape[1]), min(y + h, shape[0])
    if x1 - x < 8 or y1 - y < 8:
        return None
    return x, y, x1 - x, y1 - y


@dataclass(frozen=True)
class SourceSpec:
    """What to read: a camera index, or a video file / stream URL."""

    camera: Optional[int] = None
    path: Optional[str] = None
    loop: bool = False  # a video file starts again when it ends

    @property
    def is_file(self) -> bool:
        return self.path is not None and "://" not in self.path

    @property
    def name(self) -> str:
        return f"camera {self.camera}" if self.camera is not None else str(self.path)

    @property
    def kind(self) -> str:
        return "camera" if self.camera is not None else "file" if self.is_file else "stream"


def open_capture(spec: SourceSpec):
    """An opened cv2.VideoCapture; SourceError naming the source when it will not open."""
    import cv2

    if spec.is_file and not Path(spec.path).is_file():
        raise SourceError(f"{spec.path}: no such video file")
    cap = cv2.VideoCapture(spec.camera if spec.camera is not None else spec.path)
    if not cap.isOpened():
        cap.release()
        raise SourceError(f"{spec.name}: cannot open it as a video source")
    if not spec.is_file:
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not a queue of stale ones
    return cap


def process_frame(recognizer, frame_bgr: np.ndarray, roi: Optional[Roi]):
    """(Reading, annotated BGR copy) for one frame: digits found in the ROI, boxes in frame pixels."""
    import dataclasses

    import cv2

    from digitedge.edge_runtime import draw
    from digitedge.edge_runtime.recognizer import Reading

    start = time.perf_counter()
    area = clip_roi(roi, frame_bgr.shape)
    x0, y0 = (area[0], area[1]) if area else (0, 0)
    part = frame_bgr[y0 : y0 + area[3], x0 : x0 + area[2]] if area else frame_bgr
    gray = cv2.cvtColor(part, cv2.COLOR_BGR2GRAY) if part.ndim == 3 else part
    found = recognizer.detect(gray)
    if area:
        found = [
            dataclasses.replace(d, box=(d.box[0] + x0, d.box[1] + y0, d.box[2], d.box[3])) if d.box else d
            for d in found
        ]
    reading = Reading("".join(str(d.digit) for d in found), found, time.perf_counter() - start)
    image = frame_bgr.copy() if frame_bgr.ndim == 3 else cv2.cvtColor(frame_bgr, cv2.COLOR_GRAY2BGR)
    if area:
        cv2.rectangle(image, (x0, y0), (x0 + area[2], y0 + area[3]), (255, 160, 0), 1)
    draw.boxes(image, found)
    return reading, image


class LiveSource:
    """The reading thread and its latest results, safe to read from any thread."""

    REOPEN_SECONDS = 2.0
    MAX_STREAM_SIDE = 960  # frames bigger than this are scaled down for the page (not for reading)

    def __init__(
        self,
        spec: SourceSpec,
        recognizer,
        roi: Optional[Roi] = None,
        jpeg_quality: int = 80,
        on_error: Optional[Callable[[str], None]] = None,
        opener: Callable = open_capture,
    ):
        self.spec, self.recognizer, self.roi = spec, recognizer, roi
        self.jpeg_quality = jpeg_quality
        self.on_error = on_error or (lambda message: None)
        self.opener = opener
        self._cap = opener(spec)  # fails now, at start, when the source will not open at all
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._times: deque[float] = deque(maxlen=30)
        self.status = "starting"  # starting, running, reconnecting, ended, stopped
        self.error: Optional[str] = None
        self.frames = 0  # frames read and processed
        self._looped_at = 0
        self.seq = 0  # bumps with every new result (and with every status change)
        self.jpeg: Optional[bytes] = None
        self.last: Optional[dict] = None  # the latest reading, as sent to the page

    # --- control -------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="digitedge-source", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and release the camera; safe to call twice."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._release()
        with self._lock:
            if self.status not in ("ended",):
                self.status = "stopped"
            self.seq += 1

    @property
    def released(self) -> bool:
        return self._cap is None

    def _release(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()

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
                "name": self.spec.name,
                "status": self.status,
                "error": self.error,
                "frames": self.frames,
                "fps": round(self.fps(), 2),
                "roi": list(self.roi) if self.roi else None,
            }

    def snapshot(self) -> tuple[int, Optional[dict], Optional[bytes]]:
        """(seq, the latest event for the page/API, the latest annotated JPEG)."""
        with self._lock:
            seq, last, jpeg = self.seq, self.last, self.jpeg
            status, error = self.status, self.error
        event = dict(last) if last else {"frame": 0, "text": "", "digits": []}
        event["source"] = {"status": status, "error": error}
        return seq, event, jpeg

    # --- the thread ----------------------------------------------------------------------

    def _run(self) -> None:
        import cv2

        fps = self._cap.get(cv2.CAP_PROP_FPS) if self._cap is not None else 0
        period = 1.0 / fps if self.spec.is_file and 1 <= fps <= 240 else 0.0  # a file plays in real time
        self._set_status("running")
        next_at = time.monotonic()
        while not self._stop.is_set():
            ok, frame = (False, None) if self._cap is None else self._cap.read()
            if not ok or frame is None:
                if not self._lost():
                    break
                next_at = time.monotonic()
                continue
            try:
                self._process(frame)
            except Exception as e:  # noqa: BLE001 - a bad frame must not stop the live view
                self._set_status("running", f"{self.spec.name}: frame {self.frames + 1}: {e}")
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
            if self.spec.loop and self.frames > self._looped_at and self._cap is not None:
                import cv2

                self._looped_at = self.frames  # no frame since the last restart: the file is done
                self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                return True
            self._set_status("ended", f"{self.spec.name}: the video ended after {self.frames} frames")
            self._release()
            return False
        self._release()
        self._set_status("reconnecting", f"{self.spec.name}: no frame from the source; reopening it")
        while not self._stop.wait(self.REOPEN_SECONDS):
            try:
                self._cap = self.opener(self.spec)
            except Exception as e:  # noqa: BLE001
                with self._lock:
                    self.error = f"{e}; retrying every {self.REOPEN_SECONDS:.0f} s"
                    self.seq += 1
                continue
            self._set_status("running")
            return True
        return False

    def _process(self, frame: np.ndarray) -> None:
        import cv2

        from digitedge.commands.edge import reading_json
        from digitedge.edge_runtime import draw

        start = time.perf_counter()
        reading, image = process_frame(self.recognizer, frame, self.roi)
        now = time.monotonic()
        self._times.append(now)
        latency = time.perf_counter() - start
        fps = self.fps()
        side = max(image.shape[:2])
        if side > self.MAX_STREAM_SIDE:
            k = self.MAX_STREAM_SIDE / side
            image = cv2.resize(image, (round(image.shape[1] * k), round(image.shape[0] * k)), cv2.INTER_AREA)
        draw.label(image, f"{fps:.1f} FPS  {1000 * latency:.0f} ms", 0, 0)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        event = reading_json(self.spec.name, reading)
        del event["path"]
        event.update(
            frame=self.frames + 1,
            time=round(time.time(), 3),
            fps=round(fps, 2),
            latency_ms=round(1000 * latency, 2),
        )
        with self._lock:
            self.frames += 1
            self.last = event
            if ok:
                self.jpeg = data.tobytes()
            self.seq += 1
