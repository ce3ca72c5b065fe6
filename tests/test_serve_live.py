"""`digitedge serve`'s live view: the stream of readings, MJPEG, a video that ends, a camera that
drops, a client that leaves, and what the page and the API show of files (names, never paths).

TensorFlow-free (edge + web extras). No network: the test client calls the app in-process.
"""

from __future__ import annotations

import asyncio
import json
import threading
import warnings

import numpy as np
import pytest
from camera_helpers import WAIT, SlowCamera, assert_stopped, detect_while_the_camera_moves_on, number_frame
from edge_helpers import foreign_model, recognizer
from helpers import wait_for
from serve_helpers import files_fixture  # noqa: F401

pytest.importorskip("starlette", reason="needs the web extra: pip install 'digitedge[web]'")
pytest.importorskip("httpx", reason="starlette's test client needs httpx (the dev extra)")

with warnings.catch_warnings():  # newer Starlette would rather have httpx2, not on every index yet
    warnings.simplefilter("ignore")
    from starlette.requests import ClientDisconnect  # noqa: E402
    from starlette.testclient import TestClient  # noqa: E402

from digitedge.edge_runtime import webcam  # noqa: E402
from digitedge.serve.app import ServeConfig, create_app  # noqa: E402
from digitedge.serve.source import LiveSource, SourceSpec  # noqa: E402

pytestmark = pytest.mark.edge


def events(response) -> list[dict]:
    return [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]


def test_live_stream_reads_the_video_then_reports_its_end(files):
    app = create_app(ServeConfig(source=str(files["video"])))
    runtime = app.state.runtime
    with TestClient(app) as c:
        r = c.get("/api/stream")  # ends with the video
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        seen = events(r)
        assert seen[-1]["source"]["status"] == "ended" and "ended after 16 frames" in seen[-1]["source"]["error"]
        texts = {e["text"] for e in seen if e["frame"]}
        assert {"4025", "317"} <= texts, texts
        frame = [e for e in seen if e["frame"]][-1]
        assert {"frame", "time", "latency_ms", "fps", "text", "detections"} <= set(frame)
        health = c.get("/api/health").json()
        assert health["frames_processed"] == 16 and health["source"]["status"] == "ended"
        assert health["frames_dropped"] == 0 and {e.get("dropped", 0) for e in seen} == {0}  # a file drops none
        assert health["last_error"]["where"] == "source"
        jpeg = c.get("/api/frame.jpg")
        assert jpeg.headers["content-type"] == "image/jpeg" and jpeg.content[:2] == b"\xff\xd8"
        mjpeg = c.get("/api/video.mjpg?frames=1")
        assert mjpeg.headers["content-type"].startswith("multipart/x-mixed-replace")
        assert mjpeg.content.startswith(b"--frame\r\nContent-Type: image/jpeg")
        photo = files["photo"].read_bytes()
        assert c.post("/api/predict", content=photo).json()["text"] == "86"  # uploads go on
    assert runtime.source.released


def test_camera_is_released_on_shutdown(files):
    app = create_app(ServeConfig(source=str(files["video"]), loop=True))
    runtime = app.state.runtime
    with TestClient(app) as c:
        assert len(events(c.get("/api/stream?limit=3"))) == 3
        assert not runtime.source.released
    assert runtime.source.released and runtime.source.status == "stopped"


class FakeCapture:
    """A camera that gives `frames` frames, then nothing (unplugged)."""

    def __init__(self, frames: int, frame: np.ndarray):
        self.left, self.frame, self.released = frames, frame, False

    def read(self):
        if self.left <= 0:
            return False, None
        self.left -= 1
        return True, self.frame.copy()

    def get(self, prop):
        return 0

    def set(self, prop, value):
        return True

    def release(self):
        self.released = True


def test_a_camera_that_drops_is_reported_and_reopened(monkeypatch):
    frame = np.full((120, 160, 3), 230, np.uint8)
    opened: list[FakeCapture] = []
    fail = {"next": False}

    def opener(spec):
        if fail["next"]:
            fail["next"] = False
            raise OSError("camera 0: cannot open (no such camera, or it is in use)")
        opened.append(FakeCapture(3, frame))
        return opened[-1]

    monkeypatch.setattr(LiveSource, "REOPEN_SECONDS", 0.05)
    errors: list[str] = []
    source = LiveSource(SourceSpec(0), recognizer(), opener=opener, on_error=errors.append)
    fail["next"] = True  # the first reopening fails, the second works
    source.start()
    try:
        wait_for(lambda: len(opened) >= 2 and source.frames >= 6, what="the camera reopened")
        assert opened[0].released
        assert any("stopped delivering frames after 3 frames" in e for e in errors)
        assert source.info()["kind"] == "camera"
    finally:
        source.stop()
    assert all(c.released for c in opened) and source.status == "stopped"


def test_a_live_camera_drops_frames_and_health_counts_them(monkeypatch, edge_mnist):
    """The live view reads a camera as `digitedge webcam` does: in a thread of its own, the newest
    frame wins, and the frames dropped are in every event, on the overlay and in /api/health."""
    camera = SlowCamera(number_frame(edge_mnist, "4025"))
    monkeypatch.setattr(webcam, "open_source", lambda source: camera)
    monkeypatch.setattr(webcam, "detect", detect_while_the_camera_moves_on(camera, webcam.detect))
    app = create_app(ServeConfig(camera=0))
    runtime = app.state.runtime
    with TestClient(app) as c:
        shown = [e for e in events(c.get("/api/stream?limit=5")) if e["frame"]]
        health = c.get("/api/health").json()
    assert shown and all(e["text"] == "4025" for e in shown), shown
    dropped = [e["dropped"] for e in shown]
    assert dropped == sorted(dropped) and dropped[-1] >= shown[-1]["frame"] - 1 >= 1
    assert health["frames_dropped"] >= dropped[-1] and health["source"]["dropped"] >= dropped[-1]
    assert health["source"]["kind"] == "camera" and health["last_error"] is None
    assert runtime.source.released
    assert_stopped(camera)
    final = runtime.health()  # stopped: the counts stand still and agree
    assert final["frames_dropped"] == final["source"]["dropped"] >= health["frames_dropped"]


def test_a_camera_that_hangs_does_not_hold_up_shutdown(edge_mnist):
    """A camera stuck in its read (unplugged mid-frame): stop() ends the live thread at once and
    leaves the camera to the capture thread, which releases it when the read comes back."""
    unstuck = threading.Event()

    class Hanging(SlowCamera):
        def read(self):
            if len(self.given) >= 3:
                unstuck.wait(WAIT)
            return super().read()

    camera = Hanging(number_frame(edge_mnist, "317"), period=0.0)
    source = LiveSource(SourceSpec(0), recognizer(), opener=lambda spec: camera)
    earlier = set(threading.enumerate())  # an earlier test's source may still be winding down
    source.start()
    try:
        wait_for(lambda: len(camera.given) == 3 and source.frames >= 1, what="three frames given, one read")
        source.stop()
        assert source.status == "stopped" and source.released
        assert not [t for t in threading.enumerate() if t.name == "digitedge-source" and t not in earlier]
        assert not camera.released  # never released while inside its read
    finally:
        unstuck.set()
    assert_stopped(camera)


def test_no_server_paths_on_the_page_or_the_api(files, tmp_path):
    """A model without metadata and a video, both given by absolute paths: the page and the API
    name them by file name only (warnings, errors, /api/model); the terminal still gets the path."""
    from digitedge.edge_runtime.recognizer import DEFAULT_MODEL

    model = foreign_model(tmp_path)
    video = files["video"].resolve()
    app = create_app(ServeConfig(model=model, source=str(video)))
    with TestClient(app) as c:
        info = c.get("/api/model").json()
        assert info["file"] == "foreign.tflite" and "path" not in info
        assert len(info["warnings"]) == 1 and info["warnings"][0].startswith("foreign.tflite: no digitedge metadata")
        assert events(c.get("/api/stream"))[-1]["source"]["status"] == "ended"
        health = c.get("/api/health").json()
        assert health["source"]["name"] == "clip.mp4"
        assert health["last_error"]["message"].startswith("clip.mp4: the video ended")
        shown = [c.get(path).text for path in ("/", "/api/model", "/api/health", "/api/stream?limit=1")]
    assert app.state.runtime.model_warnings[0].startswith(f"{model}: no digitedge metadata")
    for text in shown:
        for folder in (tmp_path, video.parent, DEFAULT_MODEL.parent):
            assert str(folder) not in text


def test_a_live_view_is_freed_the_moment_its_client_leaves(files):
    """The open-views count drops as soon as the client goes, not when the garbage collector finds its stream."""
    app = create_app(ServeConfig(source=str(files["video"]), loop=True))
    runtime = app.state.runtime

    async def leave_after_two_parts(path: str) -> tuple[int, int]:
        parts: list[bytes] = []

        async def send(message):
            if message["type"] == "http.response.body" and message["body"]:
                parts.append(message["body"])
                if len(parts) == 2:
                    raise OSError("the client went away")

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},  # a leaving client makes `send` raise
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [],
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 80),
        }
        with pytest.raises(ClientDisconnect):
            await app(scope, receive, send)
        return len(parts), runtime.streams

    with TestClient(app):
        for path in ("/api/video.mjpg", "/api/stream"):
            assert asyncio.run(leave_after_two_parts(path)) == (2, 0), path


def test_an_internal_error_names_files_not_the_servers_folders():
    from digitedge.serve.errors import without_paths

    assert (without_paths("internal error: OSError: [Errno 5] /home/pi/models/a.tflite: bad, not /tmp/x")
            == "internal error: OSError: [Errno 5] a.tflite: bad, not x")
    assert without_paths("rtsp://cam.local/live/1 and 3/4") == "rtsp://cam.local/live/1 and 3/4"
