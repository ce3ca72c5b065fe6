"""The capture thread of `digitedge webcam` (edge_runtime.capture): a live camera is read while
the digits are read, the newest frame wins, the frames skipped are counted, and the camera is
released and the thread stopped on every way out.

TensorFlow-free: runs in the edge-only environments. No camera: fake ones whose read() sleeps.
No assertion of speed: the fake detection waits for the camera to move on, which only a camera
read in a thread of its own can do.
"""

from __future__ import annotations

import json
import threading

import cv2
import numpy as np
import pytest
from camera_helpers import (
    WAIT,
    SlowCamera,
    assert_stopped,
    capture_threads,
    detect_while_the_camera_moves_on,
    number_frame,
)
from edge_helpers import recognizer

from digitedge.edge_runtime import webcam
from digitedge.edge_runtime.capture import FrameFeed
from digitedge.errors import SourceError

pytestmark = pytest.mark.edge
TEXT = "4025"


@pytest.fixture(scope="module")
def frame(edge_mnist) -> np.ndarray:
    return number_frame(edge_mnist, TEXT)


def lines_out(lines: list[str]):
    return type("Out", (), {"write": lambda self, text: lines.append(text), "flush": lambda self: None})()


def test_a_slow_camera_drops_frames_counts_them_and_never_holds_up_inference(monkeypatch, frame):
    camera = SlowCamera(frame)
    seen: list[tuple[int, bool]] = []  # (the frame's number, whether the camera moved on during its reading)
    monkeypatch.setattr(webcam, "open_source", lambda source: camera)
    monkeypatch.setattr(webcam, "detect", detect_while_the_camera_moves_on(camera, webcam.detect, seen))
    lines: list[str] = []
    summary = webcam.run(recognizer(), webcam.WebcamConfig(source=0, headless=True, max_frames=4), lines_out(lines))
    assert camera.released  # by the time run() returns
    assert_stopped(camera)

    assert all(moved_on for _, moved_on in seen), seen
    numbers = [number for number, _ in seen]
    assert all(b >= a + 2 for a, b in zip(numbers, numbers[1:])), numbers  # the newest, never a stale one
    shown = [json.loads(line) for line in lines]
    assert [f["frame"] for f in shown] == [1, 2, 3, 4]
    assert all(f["text"] == TEXT for f in shown), [f["text"] for f in shown]
    dropped = [f["dropped"] for f in shown]
    assert dropped == sorted(dropped)
    for f, number in zip(shown, numbers):  # every frame given before the one read, and not read, was dropped
        assert f["dropped"] >= number - f["frame"]
    assert summary.frames == 4 and summary.dropped >= dropped[-1] >= numbers[-1] - 4 >= 3
    # every frame the camera gave was read or dropped, but the one left waiting and the one being
    # read when the loop stopped
    assert len(camera.given) - 2 <= summary.frames + summary.dropped <= len(camera.given)


def test_a_file_is_read_frame_by_frame_without_a_thread(frame):
    camera = SlowCamera(frame, period=0.0)
    feed = FrameFeed(camera, live=False)
    got = [feed.read()[1] for _ in range(5)]
    assert [camera.number(f) for f in got] == [1, 2, 3, 4, 5]
    assert feed.dropped == 0 and feed.delivered == 5 and not capture_threads()
    feed.close()
    feed.close()  # twice is fine
    assert camera.released


class Interrupt(KeyboardInterrupt):
    pass


@pytest.mark.parametrize("way_out", ["camera error", "inference error", "ctrl-c", "max-frames"])
def test_every_way_out_releases_the_camera_and_stops_the_thread(monkeypatch, frame, way_out):
    camera = SlowCamera(frame, period=0.002, fail_at=3 if way_out == "camera error" else None)
    real_detect = webcam.detect

    def detect(reader, image, roi):
        if camera.number(image) >= 2 and way_out in ("inference error", "ctrl-c"):
            raise (Interrupt() if way_out == "ctrl-c" else RuntimeError("the interpreter failed"))
        return real_detect(reader, image, roi)

    monkeypatch.setattr(webcam, "open_source", lambda source: camera)
    monkeypatch.setattr(webcam, "detect", detect)
    config = webcam.WebcamConfig(source=0, headless=True, max_frames=None if way_out == "camera error" else 3)
    raises = {"camera error": cv2.error, "inference error": RuntimeError, "ctrl-c": Interrupt}.get(way_out)
    if raises is None:
        assert webcam.run(recognizer(), config, lines_out([])).reason == "max-frames"
    else:
        with pytest.raises(raises):
            webcam.run(recognizer(), config, lines_out([]))
    assert_stopped(camera)


def test_a_camera_stuck_in_its_read_is_released_only_when_the_read_returns(frame):
    """Releasing a capture while another thread is inside its read can crash OpenCV: close()
    gives up waiting, and the thread releases the camera as soon as its read comes back."""
    unstuck = threading.Event()

    class StuckCamera(SlowCamera):
        def read(self):
            if self.given:
                unstuck.wait(WAIT)
            return super().read()

    camera = StuckCamera(frame, period=0.0)
    feed = FrameFeed(camera, live=True, join_seconds=0.05)
    ok, first = feed.read()
    assert ok and camera.number(first) == 1
    feed.close()
    assert not camera.released  # still inside read()
    unstuck.set()
    assert_stopped(camera)
    assert not feed.read()[0]  # a closed feed gives no more frames


def test_a_camera_that_stops_is_an_error_that_counts_what_it_gave(monkeypatch, frame):
    class Unplugged(SlowCamera):
        def read(self):
            return (False, None) if len(self.given) == 6 else super().read()

    camera = Unplugged(frame, period=0.0)
    monkeypatch.setattr(webcam, "open_source", lambda source: camera)
    lines: list[str] = []
    with pytest.raises(SourceError, match=r"^camera 0: stopped delivering frames after 6 frames \(disconnected\?\)$"):
        webcam.run(recognizer(), webcam.WebcamConfig(source=0, headless=True), lines_out(lines))
    assert_stopped(camera)
    last = json.loads(lines[-1])
    assert last["frame"] + last["dropped"] == 6  # the newest frame is read before the end is
