"""`digitedge webcam`: a synthetic clip through --headless, sources that fail, the loop's exits.

TensorFlow-free: runs in the edge-only environments. No camera or display is needed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter

import cv2
import numpy as np
import pytest
from camera_helpers import SlowCamera, assert_stopped
from cli_helpers import errors, run
from edge_helpers import clear_digits, recognizer

from digitedge.benchmarks import synthetic
from digitedge.edge_runtime import webcam
from digitedge.errors import DigitedgeError, SourceError

pytestmark = pytest.mark.edge
NUMBERS = ["4025", "317", "86"]
FRAMES_EACH = 12


@pytest.fixture(scope="module")
def clip(tmp_path_factory, edge_mnist):
    reader = recognizer()
    numbers = [(clear_digits(edge_mnist, reader, t, skip=i), t) for i, t in enumerate(NUMBERS)]
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    shown = synthetic.write_video(path, numbers, frames_each=FRAMES_EACH)
    return path, shown


def frames(result) -> list[dict]:
    return [json.loads(ln) for ln in result.stdout.splitlines()]


def test_headless_reads_the_numbers_shown(clip):
    path, shown = clip
    result = run("webcam", "--source", path, "--headless")
    assert result.exit_code == 0, result.output
    lines = frames(result)
    assert [f["frame"] for f in lines] == list(range(1, FRAMES_EACH * len(NUMBERS) + 1))
    assert {f["dropped"] for f in lines} == {0}  # a file is read frame by frame: none dropped
    for first, last, text in shown:
        texts = Counter(f["text"] for f in lines[first - 1 : last])
        assert texts.most_common(1)[0][0] == text, texts
    f = lines[-1]
    assert f["fps"] > 0 and f["latency_ms"] > 0
    d = f["detections"][0]
    assert set(d) == {"box", "digit", "probability", "raw_digit", "raw_probability", "track", "unsure"}
    assert errors(result) == [f"end of {path} after {FRAMES_EACH * len(NUMBERS)} frames"]


def test_max_frames_roi_and_save(clip, tmp_path):
    path, shown = clip
    result = run(
        "webcam", "--source", path, "--headless", "--max-frames", 5, "--roi", "0,0,330,480", "--save", tmp_path / "rec"
    )
    assert result.exit_code == 0, result.output
    lines = frames(result)
    assert len(lines) == 5
    for f in lines:  # only the left part of "4025" is inside the region
        assert all(d["box"][0] + d["box"][2] <= 330 for d in f["detections"])
        assert f["text"] and "4025".startswith(f["text"])
    saved = sorted(p.name for p in (tmp_path / "rec").iterdir())
    assert saved == [f"frame_{n:06d}.jpg" for n in range(1, 6)]
    assert cv2.imread(str(tmp_path / "rec" / saved[0])).shape == (480, 640, 3)


def test_avi_clip(tmp_path, edge_mnist):
    reader = recognizer()
    path = tmp_path / "clip.avi"
    synthetic.write_video(path, [(clear_digits(edge_mnist, reader, "59"), "59")], frames_each=4)
    result = run("webcam", "--source", path, "--headless")
    assert result.exit_code == 0, result.output
    assert Counter(f["text"] for f in frames(result)).most_common(1)[0][0] == "59"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--camera", 97], "camera 97: cannot open (no such camera, or it is in use)"),
        (["--source", "nope.mp4"], "nope.mp4: no such file"),
        (
            ["--source", "http://127.0.0.1:9/cam.mjpg"],
            "http://127.0.0.1:9/cam.mjpg: cannot open the stream (unreachable, or not a video)",
        ),
        (["--source", "{text}"], "{text}: cannot open (not a video OpenCV can read)"),
        (["--roi", "1,2,3"], "--roi 1,2,3: expected x,y,width,height in pixels, e.g. 100,80,400,200"),
    ],
)
def test_sources_that_fail_are_one_line(tmp_path, args, message):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    args = [str(a).format(text=text) for a in args]
    result = run("webcam", "--headless", *args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.stdout == ""
    assert errors(result) == ["error: " + message.format(text=text)]


def test_window_without_gui_is_one_line(clip):
    """opencv-python-headless (installed by the edge extra) has no windows: say so, exit 1."""
    if not re.search(r"GUI:\s+NONE", cv2.getBuildInformation()):
        pytest.skip("this OpenCV has a GUI")
    path, _ = clip
    result = run("webcam", "--source", path)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert errors(result) == [
        "error: cannot open a window: this OpenCV has no GUI (opencv-python-headless) or there is no "
        "display; use --headless, or install opencv-python"
    ]


def test_roi_outside_the_frame(clip):
    path, _ = clip
    result = run("webcam", "--source", path, "--headless", "--roi", "600,400,200,200")
    assert result.exit_code == 1
    assert errors(result) == ["error: --roi 600,400,200,200 is not inside the 640x480 frame"]


class FakeCapture:
    """A camera that delivers `frames` frames, then fails as an unplugged one does."""

    def __init__(self, frames: int):
        self.left, self.released = frames, False

    def read(self):
        if self.left == 0:
            return False, None
        self.left -= 1
        return True, np.full((240, 320, 3), 220, np.uint8)

    def release(self):
        self.released = True


def test_camera_that_drops_is_released(monkeypatch):
    cap = FakeCapture(3)
    monkeypatch.setattr(webcam, "open_source", lambda source: cap)
    config = webcam.WebcamConfig(source=0, headless=True)
    lines = []
    with pytest.raises(SourceError, match=r"^camera 0: stopped delivering frames after 3 frames"):
        webcam.run(recognizer(), config, out=type("Out", (), {"write": lines.append, "flush": lambda s: None})())
    last = json.loads(lines[-1])
    assert cap.released and last["frame"] == len(lines) and last["frame"] + last["dropped"] == 3


def test_q_quits_and_releases(monkeypatch):
    cap = SlowCamera(np.full((240, 320, 3), 220, np.uint8))  # a live camera, never ending
    keys = iter([-1, -1, ord("q")])
    shown, labels = [], []
    label = webcam.draw.label
    monkeypatch.setattr(webcam, "open_source", lambda source: cap)
    monkeypatch.setattr(cv2, "namedWindow", lambda *a: None)
    monkeypatch.setattr(cv2, "imshow", lambda name, image: shown.append(image.shape))
    monkeypatch.setattr(cv2, "waitKey", lambda delay: next(keys))
    monkeypatch.setattr(cv2, "destroyAllWindows", lambda: None)
    monkeypatch.setattr(webcam.draw, "label", lambda image, text, *a: labels.append(text) or label(image, text, *a))
    summary = webcam.run(recognizer(), webcam.WebcamConfig(source=0))
    assert summary.reason == "quit" and summary.frames == 3
    assert_stopped(cap)
    assert shown == [(240, 320, 3)] * 3
    assert len(labels) == 3 and all(re.fullmatch(r"-   -- FPS   \d+ ms   \d+ dropped", t) for t in labels), labels


def test_a_digit_key_saves_a_sample_in_the_window(monkeypatch, tmp_path, edge_mnist, capsys):
    """webcam --samples: typing 3 with one digit in view saves its cut-out as a sample of 3 (issue #20)."""
    from camera_helpers import number_frame

    cap = SlowCamera(number_frame(edge_mnist, "8"))
    keys = iter([-1, ord("3"), ord("q")])
    monkeypatch.setattr(webcam, "open_source", lambda source: cap)
    monkeypatch.setattr(cv2, "namedWindow", lambda *a: None)
    monkeypatch.setattr(cv2, "imshow", lambda name, image: None)
    monkeypatch.setattr(cv2, "waitKey", lambda delay: next(keys))
    monkeypatch.setattr(cv2, "destroyAllWindows", lambda: None)
    summary = webcam.run(recognizer(), webcam.WebcamConfig(source=0, samples_dir=tmp_path / "mine"))
    assert summary.reason == "quit"
    (saved,) = (tmp_path / "mine").rglob("*.png")
    assert saved.parent == tmp_path / "mine" / "3" and saved.name.startswith("webcam-")
    assert capsys.readouterr().err == f"saved {saved} as a sample of 3\n"


def test_no_gui_is_a_clear_error(monkeypatch):
    cap = FakeCapture(5)

    def no_gui(*args):
        raise cv2.error("The function is not implemented")

    monkeypatch.setattr(webcam, "open_source", lambda source: cap)
    monkeypatch.setattr(cv2, "namedWindow", no_gui)  # as opencv-python-headless, or no display
    with pytest.raises(DigitedgeError, match="use --headless"):
        webcam.run(recognizer(), webcam.WebcamConfig(source=0))
    assert cap.released


def test_smoothing_holds_the_label_through_a_bad_frame():
    from digitedge.edge_runtime.recognizer import Prediction

    def seen(digit, p):
        return [
            Prediction(
                digit, p, [(digit, p), ((digit + 1) % 10, 1 - p), ((digit + 2) % 10, 0.0)], 0.0, (100, 100, 40, 60)
            )
        ]

    smoother = webcam.LabelSmoother(frames=5)
    for _ in range(4):
        smoother.update(seen(7, 0.95))
    (d,) = smoother.update(seen(1, 0.6))  # one frame misreads it
    assert d.digit == 7 and d.raw_digit == 1
    assert smoother.update([]) == []
    (moved,) = smoother.update([Prediction(7, 0.9, [(7, 0.9)], 0.0, (400, 100, 40, 60))])
    assert moved.track != d.track  # somewhere else: a new digit


def webcam_process(source, *args) -> subprocess.CompletedProcess:
    """`digitedge webcam` in its own process: what native code writes to fd 2 is seen too."""
    return subprocess.run(
        [sys.executable, "-m", "digitedge", "webcam", "--source", str(source), "--headless", *args],
        capture_output=True, text=True, timeout=120,
    )


def damaged_clip(folder, mnist) -> bytes:
    """An mp4 clip with a stretch of its frames overwritten by noise: it opens, then fails to decode."""
    path = folder / "whole.mp4"
    synthetic.write_video(path, [(clear_digits(mnist, recognizer(), "17"), "17")], frames_each=6, size=(160, 120))
    data = bytearray(path.read_bytes())
    n = len(data) // 4
    data[n : 2 * n] = np.random.default_rng(0).integers(0, 256, n, np.uint8).tobytes()
    return bytes(data)


NOT_VIDEOS = {
    "notes.txt": lambda folder, mnist: b"not a video\n",
    "noise.mp4": lambda folder, mnist: np.random.default_rng(1).integers(0, 256, 20_000, np.uint8).tobytes(),
    "empty.avi": lambda folder, mnist: b"",
    "digit.png": lambda folder, mnist: synthetic.write_image(
        folder / "d.png", synthetic.digit_photo(mnist.x_test, mnist.y_test, 0).image).read_bytes(),
    "photo.mp4": lambda folder, mnist: synthetic.write_image(  # a JPEG, named like a video
        folder / "d.jpg", synthetic.digit_photo(mnist.x_test, mnist.y_test, 1).image).read_bytes(),
}
# The arm64 check's QEMU root has no /sys, so the interpreter's cpuinfo says so on stderr
# (scripts/arm64-check explains why): those lines are the emulator's, not a decoder's.
EMULATION = "Error in cpuinfo:"


def stderr_lines(done) -> list[str]:
    return [line for line in done.stderr.splitlines() if not line.startswith(EMULATION)]


NOT_A_VIDEO = "cannot open (not a video OpenCV can read)"
STILL = "is a still image, not a video (digitedge predict reads photos)"


@pytest.mark.parametrize(
    "name, message",
    [("notes.txt", NOT_A_VIDEO), ("noise.mp4", NOT_A_VIDEO), ("empty.avi", NOT_A_VIDEO),
     ("digit.png", STILL), ("photo.mp4", STILL)],
)
def test_a_file_that_is_not_a_video_is_one_line_without_decoder_noise(tmp_path, edge_mnist, name, message):
    source = tmp_path / name
    source.write_bytes(NOT_VIDEOS[name](tmp_path, edge_mnist))
    done = webcam_process(source)
    assert done.returncode == 1
    assert done.stdout == ""
    assert stderr_lines(done) == [f"error: {source}: {message}"]  # no FFmpeg or OpenCV line


def test_a_damaged_video_plays_what_it_can_without_decoder_noise(tmp_path, edge_mnist):
    source = tmp_path / "damaged.mp4"
    source.write_bytes(damaged_clip(tmp_path, edge_mnist))
    done = webcam_process(source)
    assert done.returncode == 0, done.stderr
    frames = len(done.stdout.splitlines())
    assert 1 <= frames < 12
    assert stderr_lines(done) == [f"end of {source} after {frames} frames"]
