"""`digitedge serve`: the API through Starlette's test client, and the command.

TensorFlow-free (edge + web extras). Every status the API promises, a decompression bomb,
an empty body, a text file, a burst that gets 503s and no failures, the token. No network:
the test client calls the app in-process. The live view: test_serve_live.py.
"""

from __future__ import annotations

import json
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from cli_helpers import errors
from helpers import blank_png, png_bomb
from serve_helpers import files_fixture  # noqa: F401
from typer.testing import CliRunner

pytest.importorskip("starlette", reason="needs the web extra: pip install 'digitedge[web]'")
pytest.importorskip("httpx", reason="starlette's test client needs httpx (the dev extra)")

with warnings.catch_warnings():  # newer Starlette would rather have httpx2, not on every index yet
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient  # noqa: E402

from digitedge.cli import app as cli  # noqa: E402
from digitedge.serve.app import ServeConfig, create_app  # noqa: E402

pytestmark = pytest.mark.edge
TOKEN = "s3cret-token-for-the-tests"


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(ServeConfig())) as c:
        yield c


def status_of(response) -> tuple[int, str]:
    body = response.json()
    assert set(body) >= {"error", "status"} and body["status"] == response.status_code, body
    assert body["error"] and "\n" not in body["error"]
    return response.status_code, body["error"]


# --- /api/predict ---------------------------------------------------------------------------


def test_predict_answers_what_predict_json_prints(client, files):
    photo = files["photo"]
    printed = CliRunner().invoke(cli, ["predict", "--json", str(photo)])
    assert printed.exit_code == 0, printed.output
    expected = json.loads(printed.stdout.splitlines()[0])
    r = client.post("/api/predict?name=eighty-six.jpg", content=photo.read_bytes())
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["text"] == "86"
    assert set(got) == set(expected)
    for key in ("text", "probability", "digits"):
        assert got[key] == expected[key]
    assert got["path"] == "eighty-six.jpg"


def test_predict_multipart_and_raw(client, files):
    data = files["photo"].read_bytes()
    r = client.post("/api/predict", files={"file": ("../../etc/photo.jpg", data, "image/jpeg")})
    assert r.status_code == 200, r.text
    assert r.json()["text"] == "86" and r.json()["path"] == "photo.jpg"  # the name, never a path
    r = client.post("/api/predict", content=data, headers={"Content-Type": "image/jpeg"})
    assert r.status_code == 200 and r.json()["text"] == "86" and r.json()["path"] == "upload"
    boxes = [d["box"] for d in r.json()["digits"]]
    assert boxes[0][0] < boxes[1][0]  # left to right, in the photo's pixels


def test_empty_body_is_400(client):
    assert status_of(client.post("/api/predict", content=b""))[0] == 400
    code, message = status_of(client.post("/api/predict", files={"file": ("e.jpg", b"", "image/jpeg")}))
    assert code == 400 and "empty" in message


def test_text_file_is_415(client):
    assert status_of(client.post("/api/predict", content=b"hello, I am not a photo\n"))[0] == 415
    r = client.post("/api/predict", files={"file": ("notes.txt", b"just text\n" * 50, "text/plain")})
    code, message = status_of(r)
    assert code == 415 and "notes.txt" in message and "not an image" in message


def test_broken_image_is_400(client, files):
    data = files["photo"].read_bytes()
    code, message = status_of(client.post("/api/predict", content=data[: len(data) // 3]))
    assert code == 400 and "truncated or corrupt" in message
    code, _ = status_of(client.post("/api/predict", content=b"\x89PNG\r\n\x1a\n" + b"\0" * 40))
    assert code in (400, 415)


def test_multipart_without_a_file_is_400(client):
    code, message = status_of(client.post("/api/predict", data={"comment": "no file"}, files={"x": ("", b"")}))
    assert code == 400


def test_no_digit_is_422(client):
    code, message = status_of(client.post("/api/predict", content=blank_png()))
    assert code == 422 and "no digit" in message


def test_decompression_bomb_is_413_and_never_decoded(client):
    bomb = png_bomb()
    assert len(bomb) < 1000
    start = time.perf_counter()
    code, message = status_of(client.post("/api/predict", content=bomb))
    assert code == 413 and "decompression bomb" in message
    assert time.perf_counter() - start < 2  # 900 megapixels were not decoded


def test_too_large_is_413_before_and_while_reading():
    with TestClient(create_app(ServeConfig(max_upload=20_000))) as c:
        big = np.random.default_rng(0).integers(0, 255, 30_000, dtype=np.uint8).tobytes()
        code, message = status_of(c.post("/api/predict", content=big))  # Content-Length says so
        assert code == 413 and "limit" in message

        def chunks():  # no Content-Length: refused while the body streams in
            for _ in range(10):
                yield big[:5000]

        assert status_of(c.post("/api/predict", content=chunks()))[0] == 413
        r = c.post("/api/predict", files={"file": ("big.jpg", big, "image/jpeg")})
        assert status_of(r)[0] == 413
        assert c.get("/api/health").json()["uploads"]["in_flight"] == 0


def test_burst_gets_503s_and_no_failures(files):
    """Capacity 2 (1 worker + 1 waiting): of 10 requests at once, 8 are told 503 at once; none fails."""
    app = create_app(ServeConfig(workers=1, max_waiting=1))
    runtime = app.state.runtime
    gate = threading.Event()
    real = runtime.infer

    def slow_infer(raw, name):
        gate.wait(20)  # hold the admitted ones until every other answer has come back
        return real(raw, name)

    runtime.infer = slow_infer
    data = files["photo"].read_bytes()
    with TestClient(app) as c, ThreadPoolExecutor(10) as pool:
        futures = [pool.submit(c.post, "/api/predict", content=data) for _ in range(10)]
        deadline = time.monotonic() + 20
        while sum(f.done() for f in futures) < 8 and time.monotonic() < deadline:
            time.sleep(0.02)
        early = [f.result() for f in futures if f.done()]
        gate.set()
        answers = [f.result() for f in futures]
        assert len(early) == 8 and all(r.status_code == 503 for r in early)
        for r in early:
            assert r.headers["retry-after"] == "1" and "busy" in r.json()["error"]
        assert sorted(r.status_code for r in answers) == [200, 200] + [503] * 8
        assert all(r.json()["text"] == "86" for r in answers if r.status_code == 200)
        health = c.get("/api/health").json()
        assert health["uploads"] == {"ok": 2, "failed": 0, "busy": 8, "in_flight": 0, "capacity": 2}
        assert c.post("/api/predict", content=data).status_code == 200  # and it serves on


def test_bad_uploads_never_stop_the_server(client, files):
    for bad in (b"", b"text", png_bomb(), blank_png(), files["photo"].read_bytes()[:500]):
        assert client.post("/api/predict", content=bad).status_code in (400, 413, 415, 422)
    assert client.post("/api/predict", content=files["photo"].read_bytes()).json()["text"] == "86"
    last = client.get("/api/health").json()["last_error"]
    assert last["where"] == "upload" and last["message"].startswith("400: ")


def test_uploads_are_saved_only_with_save(files, tmp_path):
    data = files["photo"].read_bytes()
    with TestClient(create_app(ServeConfig(save=tmp_path / "kept"))) as c:
        assert c.post("/api/predict", files={"file": ("a.jpg", data, "image/jpeg")}).status_code == 200
        assert c.post("/api/predict", content=b"text").status_code == 415
    kept = sorted(p.name for p in (tmp_path / "kept").iterdir())
    assert [p.rsplit(".", 1)[1] for p in kept] == ["jpg", "json", "bin", "json"]
    assert (tmp_path / "kept" / kept[0]).read_bytes() == data


def test_a_big_multipart_upload_never_touches_the_disk(files, monkeypatch, tmp_path):
    """Over 1 MB, Starlette's own form parser would spool a file to disk; ours parses in memory."""
    import tempfile

    import cv2

    image = cv2.imread(str(files["photo"]))
    big = cv2.resize(image, (2400, round(2400 * image.shape[0] / image.shape[1])), interpolation=cv2.INTER_CUBIC)
    noisy = np.clip(big + np.random.default_rng(1).normal(0, 6, big.shape), 0, 255).astype(np.uint8)
    data = cv2.imencode(".png", noisy)[1].tobytes()
    assert 2_000_000 < len(data) < 10 * 1024 * 1024

    def no_disk(*args, **kwargs):
        raise AssertionError("an upload was about to be written to disk")

    with TestClient(create_app(ServeConfig())) as c:
        for name in ("TemporaryFile", "NamedTemporaryFile", "SpooledTemporaryFile", "mkstemp"):
            monkeypatch.setattr(tempfile, name, no_disk)
        r = c.post("/api/predict", files={"file": ("big.png", data, "image/png")})
    assert r.status_code == 200 and r.json()["text"] == "86", r.text


def test_too_many_live_views_is_503(files):
    with TestClient(create_app(ServeConfig(source=str(files["video"]), max_streams=0))) as c:
        for path in ("/api/stream", "/api/video.mjpg"):
            code, message = status_of(c.get(path))
            assert code == 503 and "live views" in message


# --- the other routes -----------------------------------------------------------------------


def test_page_health_model_and_json_errors(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for marker in ('id="reading"', 'id="file"', 'capture="environment"', "/api/stream", "/api/predict"):
        assert marker in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    health = client.get("/api/health").json()
    assert {"model", "backend", "uptime_s", "frames_processed", "frames_dropped", "last_error", "source"} <= set(health)
    assert health["model"] == "digits_int8.tflite" and health["source"] is None and health["frames_dropped"] == 0
    model = client.get("/api/model").json()
    assert model["file"] == "digits_int8.tflite" and len(model["sha256"]) == 64
    assert model["labels"] == [str(d) for d in range(10)] and "metadata" in model
    assert status_of(client.get("/nowhere"))[0] == 404
    assert status_of(client.get("/api/predict"))[0] == 405
    for live in ("/api/stream", "/api/video.mjpg", "/api/frame.jpg"):
        code, message = status_of(client.get(live))
        assert code == 404 and "no live source" in message


def test_token_as_header_or_query(files):
    data = files["photo"].read_bytes()
    with TestClient(create_app(ServeConfig(token=TOKEN))) as c:
        for path in ("/", "/api/health", "/api/model"):
            code, message = status_of(c.get(path))
            assert code == 401 and "token" in message
        assert status_of(c.get("/api/health?token=wrong"))[1] == "wrong token"
        assert status_of(c.get("/api/health", headers={"Authorization": "Bearer " + TOKEN[:-1]}))[0] == 401
        assert status_of(c.post("/api/predict", content=data))[0] == 401
        assert c.get("/api/health?token=" + TOKEN).status_code == 200
        assert c.get("/", headers={"Authorization": "Bearer " + TOKEN}).status_code == 200
        r = c.post("/api/predict", content=data, headers={"Authorization": "Bearer " + TOKEN})
        assert r.status_code == 200 and r.json()["text"] == "86"


# --- the command ----------------------------------------------------------------------------


def test_is_loopback():
    from digitedge.commands.serve import is_loopback

    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.168.1.20", "raspberrypi.local"):
        assert not is_loopback(host), host


def test_command_needs_a_token_off_loopback(monkeypatch):
    """Nothing is bound: uvicorn's run is replaced; what the command prints and configures is checked."""
    import uvicorn

    seen = {}

    def fake_run(self, sockets=None):
        seen["token"] = self.config.app.state.runtime.config.token
        seen["host"] = self.config.host
        self.started = True

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    result = CliRunner().invoke(cli, ["serve", "--host", "192.0.2.1", "--port", "8123"])
    assert result.exit_code == 0, result.output
    token = seen["token"]
    assert token and len(token) >= 24 and f"?token={token}" in result.stderr and seen["host"] == "192.0.2.1"
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 0 and seen["token"] is None and "token" not in result.stderr
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--token", TOKEN])
    assert seen["token"] == TOKEN


@pytest.mark.parametrize(
    "args, message",
    [
        (["--camera", "0", "--source", "a.mp4"], "give --camera or --source, not both"),
        (["--source", "missing.mp4"], "missing.mp4: no such file"),
        (["--roi", "1,2,3"], "--roi 1,2,3: expected x,y,width,height"),
        (["--token", "short"], "--token: use at least 16 characters"),
        (["--max-upload-mb", "0"], "--max-upload-mb must be > 0"),
    ],
)
def test_command_errors_are_one_line(args, message):
    result = CliRunner().invoke(cli, ["serve", *args])
    assert result.exit_code == 1
    lines = errors(result)
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr


def test_roi_outside_the_video_is_refused_at_start(files):
    result = CliRunner().invoke(cli, ["serve", "--source", str(files["video"]), "--roi", "300,200,100,100"])
    assert result.exit_code == 1 and "is not inside the 320x240 frame" in result.stderr
