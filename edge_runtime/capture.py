"""Frames from an opened capture, as `digitedge webcam` and `digitedge serve` read them.

A live source (a camera, a stream) is read in its own thread, so inference never waits for
the camera and the camera never waits for inference: the newest frame wins, and every frame
that was replaced before anyone took it is counted in `dropped`. A queue would only make the
reading late. A video file is not a live camera: it is read on demand, frame by frame, in
order, none dropped, so a file gives the same frames on every run.
"""

from __future__ import annotations

import threading
from typing import Optional

import numpy as np


class FrameFeed:
    """`read()` the next frame of `cap`: the newest one of a live source, the next one of a file.

    The capture is released exactly once, by `close()` (safe to call twice) or, when a live
    camera is stuck inside its own read, by the thread as soon as that read returns:
    releasing a capture while another thread reads it can crash OpenCV.
    """

    def __init__(self, cap, live: bool, join_seconds: float = 1.0):
        self.cap, self.live, self.join_seconds = cap, live, join_seconds
        self.dropped = 0  # frames the source delivered that were never handed out
        self.delivered = 0  # frames the source delivered
        self._cond = threading.Condition()
        self._frame: Optional[np.ndarray] = None  # the newest frame not handed out yet
        self._ended = False
        self._error: Optional[BaseException] = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._release_lock = threading.Lock()
        self.released = False

    def read(self) -> tuple[bool, Optional[np.ndarray]]:
        """(True, frame), or (False, None) once the source has no more; a live source's own
        error is raised here. Waits only when no frame newer than the last one is there."""
        if not self.live:
            ok, frame = self.cap.read()
            self.delivered += bool(ok and frame is not None)
            return ok, frame
        if self._stop.is_set():
            return False, None
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="digitedge-capture", daemon=True)
            self._thread.start()
        with self._cond:
            self._cond.wait_for(lambda: self._frame is not None or self._ended or self._stop.is_set())
            if self._stop.is_set():
                return False, None
            frame, self._frame = self._frame, None
            if frame is None and self._error is not None:
                raise self._error
        return frame is not None, frame

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                ok, frame = self.cap.read()
                with self._cond:
                    if not ok or frame is None or self._stop.is_set():
                        break
                    self.delivered += 1
                    self.dropped += self._frame is not None  # nobody took the last one: replaced
                    self._frame = frame
                    self._cond.notify_all()
        except BaseException as e:  # noqa: BLE001 - handed to the reader, which raises it
            self._error = e
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()
            if self._stop.is_set():
                self._release()

    def close(self) -> None:
        """Stop the thread and release the capture; safe to call twice and from any exit path."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()  # a reader waiting for a frame gets none, at once
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.join_seconds)
            if thread.is_alive():
                return  # stuck in the camera's read: the thread releases it when that returns
        self._release()

    def _release(self) -> None:
        with self._release_lock:
            if self.released:
                return
            self.released = True
        self.cap.release()
