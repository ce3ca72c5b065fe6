"""Fake live cameras for the capture-thread tests of `digitedge webcam` and `digitedge serve`.

A SlowCamera's read() sleeps, as a real camera's waits for its next exposure, and numbers the
frames it gives, so a test can tell which frame the loop read and which ones it skipped.
"""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
from edge_helpers import clear_digits, recognizer
from helpers import wait_for

from digitedge.benchmarks import synthetic

WAIT = 10.0  # seconds a test waits for the camera to move on before it gives up


def number_frame(mnist, text: str, size: tuple[int, int] = (320, 240)) -> np.ndarray:
    """A BGR frame of paper with `text` written on it, as a webcam sees it."""
    digits = clear_digits(mnist, recognizer(), text)
    photo = synthetic.render_number(digits, [int(c) for c in text], 0, out_side=size[0], base_height=120)
    scene = synthetic.scene(photo.image, size, np.random.default_rng(0))
    return np.ascontiguousarray(scene[..., ::-1])


class SlowCamera:
    """A live camera: each read() sleeps `period` s, then gives a fresh copy of `image` (numbered
    1, 2, ... by the order given); read number `fail_at` raises as a broken driver does."""

    def __init__(self, image: np.ndarray, period: float = 0.005, fail_at: int | None = None):
        self.image, self.period, self.fail_at = image, period, fail_at
        self.given: list[np.ndarray] = []
        self.released = False
        self._cond = threading.Condition()

    def read(self):
        time.sleep(self.period)
        if self.released:
            raise AssertionError("read after release")
        if self.fail_at is not None and len(self.given) + 1 == self.fail_at:
            raise cv2.error("camera driver failed")
        frame = self.image.copy()
        with self._cond:
            self.given.append(frame)
            self._cond.notify_all()
        return True, frame

    def number(self, frame: np.ndarray) -> int:
        return next(i for i, given in enumerate(self.given, 1) if given is frame)

    def wait_until_given(self, count: int) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.given) >= count, WAIT)

    def get(self, prop) -> float:  # serve asks for the size and the frame rate: unknown, as many cameras say
        return 0.0

    def set(self, prop, value) -> bool:
        return True

    def release(self):
        self.released = True


def detect_while_the_camera_moves_on(camera: SlowCamera, detect, seen: list | None = None):
    """webcam.detect that, before reading a frame, waits for the camera to give two more: a loop
    that read the camera itself would wait here forever, since nobody would read it meanwhile."""

    def waiting(reader, image, roi):
        number = camera.number(image)
        moved_on = camera.wait_until_given(number + 2)
        if seen is not None:
            seen.append((number, moved_on))
        return detect(reader, image, roi)

    return waiting


def capture_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "digitedge-capture" and t.is_alive()]


def assert_stopped(camera) -> None:
    """The camera is released and no capture thread is left running."""
    wait_for(lambda: camera.released and not capture_threads(), timeout=5, what="the camera released, the thread ended")
