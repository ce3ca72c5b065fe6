"""The ASGI app behind `digitedge serve`: one page, a small JSON API, the live view.

    GET  /                  the page (plain HTML/JS, works on a phone)
    POST /api/predict       image bytes or multipart -> the JSON of `digitedge predict --json`
    GET  /api/stream        the live readings as server-sent events: per frame the JSON line of
                            `digitedge webcam --headless`, plus the source's state; ends when
                            the source does, or after ?limit=N events
    GET  /api/video.mjpg    the live view, annotated, as MJPEG; ends with the source, or after ?frames=N
    GET  /api/frame.jpg     the latest annotated frame
    GET  /api/health        model, backend, uptime, frames processed, source state, last error
    GET  /api/model         the model file and its embedded metadata

Errors are JSON {"error": message, "status": code}: 400 a bad or empty image, 401 no or a
wrong token, 404, 405, 413 an upload over the limit or a decompression bomb (more pixels
than edge_runtime decodes), 415 not an image, 422 an image with no digit in it, 503 busy.

Inference runs in a small thread pool, never on the event loop. At most `workers +
max_waiting` uploads are admitted at a time (being received, waiting or running); the next
one gets 503 at once, before its body is read, so memory stays bounded by that many
uploads. Uploads live in memory only; they are written to disk only with `save`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import io
import itertools
import json
import queue
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Optional

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from digitedge import __version__
from digitedge.errors import DigitedgeError, ImageError, NoDigitError

from .source import LiveSource, Roi, SourceSpec

MB = 1024 * 1024
MULTIPART_SLACK = 64 * 1024  # a multipart body may exceed the image limit by its headers


@dataclass(frozen=True)
class ServeConfig:
    model: Optional[Path] = None  # default: the shipped int8 model
    backend: str = "auto"
    threads: Optional[int] = None
    deskew: bool = False
    camera: Optional[int] = None  # a camera index, or
    source: Optional[str] = None  # a video file or stream URL; neither: uploads only
    loop: bool = False  # a video file starts again when it ends
    roi: Optional[Roi] = None
    smooth: int = 5  # live labels are smoothed over this many frames (1: off)
    token: Optional[str] = None  # when set, every request must carry it
    max_upload: int = 10 * MB  # bytes of one uploaded image
    max_waiting: int = 4  # uploads that may wait for a worker; more get 503
    workers: int = 1  # inference threads for uploads (each has its own interpreter)
    save: Optional[Path] = None  # keep each upload and its result here
    max_streams: int = 8  # open live views (MJPEG + event streams) at a time


class ApiError(Exception):
    def __init__(self, status: int, message: str, path: Optional[str] = None, headers: Optional[dict] = None):
        super().__init__(message)
        self.status, self.message, self.path, self.headers = status, message, path, headers


def error_response(status: int, message: str, path: Optional[str] = None, headers: Optional[dict] = None):
    body = {"error": message, "status": status}
    if path is not None:
        body = {"path": path, **body}
    return JSONResponse(body, status, headers={"Cache-Control": "no-store", **(headers or {})})


def load_recognizer(config: ServeConfig):
    """(Recognizer, warnings as text): metadata warnings are kept for the page, not raised."""
    from digitedge.edge_runtime.preprocess import PhotoConfig
    from digitedge.edge_runtime.recognizer import Recognizer

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recognizer = Recognizer(config.model, config.backend, config.threads, PhotoConfig(deskew=config.deskew))
    return recognizer, [str(w.message) for w in caught]


def http_status(error: ImageError, raw: bytes) -> int:
    """The status for an image edge_runtime refused: 413 a bomb, 415 not an image, 422 no digit, else 400."""
    from PIL import Image, UnidentifiedImageError

    from digitedge.edge_runtime import imageio

    if isinstance(error, NoDigitError):
        return 422
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            width, height = Image.open(io.BytesIO(raw)).size  # the header only
    except UnidentifiedImageError:
        return 415
    except Image.DecompressionBombError:
        return 413
    except Exception:  # noqa: BLE001 - a header Pillow cannot even parse: a broken image
        return 400
    return 413 if width * height > imageio.MAX_PIXELS else 400


class Runtime:
    """What the routes share: the models, the worker pool, the live source, the counters."""

    def __init__(self, config: ServeConfig):
        self.config = config
        if config.save is not None:
            config.save.mkdir(parents=True, exist_ok=True)
        self.started = time.monotonic()
        self.stopping = threading.Event()
        first, self.model_warnings = load_recognizer(config)
        self.recognizer = first
        self.pool: queue.SimpleQueue = queue.SimpleQueue()
        self.pool.put(first)
        for _ in range(max(1, config.workers) - 1):
            self.pool.put(load_recognizer(config)[0])
        self.capacity = max(1, config.workers) + max(0, config.max_waiting)
        self.in_flight = 0  # touched on the event loop only
        self.streams = 0
        self.counts = {"ok": 0, "failed": 0, "busy": 0}
        self.last_error: Optional[dict] = None
        self._saved = itertools.count(1)
        self._lock = threading.Lock()
        self.executor = ThreadPoolExecutor(max(1, config.workers), thread_name_prefix="digitedge-infer")
        self.model_info = self._model_info()
        self.source: Optional[LiveSource] = None
        self.on_release = lambda name: None  # told when close() has released the source
        if config.camera is not None or config.source:
            chosen = config.camera if config.camera is not None else config.source
            if isinstance(chosen, str) and chosen.isdigit():
                chosen = int(chosen)  # as `webcam --source 1` does
            live_recognizer = load_recognizer(config)[0]  # its own interpreter: they are not thread-safe
            self.source = LiveSource(
                SourceSpec(chosen, config.loop),
                live_recognizer,
                config.roi,
                smooth_frames=config.smooth,
                on_error=self.note_error_from("source"),
            )

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        if self.source is not None:
            self.source.start()

    def close(self) -> None:
        """Stop the live source (releasing the camera) and the workers; safe to call twice."""
        self.stopping.set()
        if self.source is not None:
            held = not self.source.released
            self.source.stop()  # also ends a thread that is waiting to reopen a camera
            if held and self.source.released:
                self.on_release(self.source.spec.name)
        self.executor.shutdown(wait=False, cancel_futures=True)

    # --- state ---------------------------------------------------------------------------

    def note_error(self, where: str, message: str) -> None:
        with self._lock:
            self.last_error = {
                "where": where,
                "message": message,
                "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }

    def note_error_from(self, where: str):
        return lambda message: self.note_error(where, message)

    def _model_info(self) -> dict:
        r = self.recognizer
        path = Path(r.model_path)
        data = path.read_bytes()
        return {
            "file": path.name,
            "path": str(path),
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "backend": r.backend,
            "threads": self.config.threads,
            "labels": r.labels,
            "has_metadata": r.has_metadata,
            "metadata": r.metadata,
            "warnings": self.model_warnings,
        }

    def health(self) -> dict:
        with self._lock:
            last_error = self.last_error
        return {
            "status": "ok",
            "version": __version__,
            "model": self.model_info["file"],
            "backend": self.model_info["backend"],
            "uptime_s": round(time.monotonic() - self.started, 1),
            "frames_processed": self.source.frames if self.source else 0,
            "source": self.source.info() if self.source else None,
            "uploads": {**self.counts, "in_flight": self.in_flight, "capacity": self.capacity},
            "last_error": last_error,
        }

    # --- uploads -------------------------------------------------------------------------

    def try_admit(self) -> bool:
        if self.in_flight >= self.capacity:
            return False
        self.in_flight += 1
        return True

    def release(self, _future=None) -> None:
        self.in_flight -= 1

    def infer(self, raw: bytes, name: str) -> dict:
        """Decode and read one upload (in a worker thread): the predict JSON, or ApiError."""
        from digitedge.commands.edge import reading_json

        recognizer = self.pool.get()
        try:
            # bytes in: edge_runtime decodes them safely (the bomb check comes before any
            # decoding) at the size it reads, and gives the boxes in the upload's own pixels
            reading = recognizer.read(raw, name=name)
        except ImageError as e:
            error = ApiError(http_status(e, raw), str(e), name)
            self._save(raw, name, {"path": name, "error": str(e)})
            raise error from None
        finally:
            self.pool.put(recognizer)
        result = reading_json(name, reading)
        self._save(raw, name, result)
        return result

    def _save(self, raw: bytes, name: str, result: dict) -> None:
        folder = self.config.save
        if folder is None:
            return
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        suffix = Path(name).suffix.lower()
        from digitedge.edge_runtime.imageio import EXTENSIONS

        stem = folder / f"{stamp}-{next(self._saved):05d}"
        try:
            stem.with_suffix(suffix if suffix in EXTENSIONS else ".bin").write_bytes(raw)
            stem.with_suffix(".json").write_text(json.dumps(result) + "\n")
        except OSError as e:
            self.note_error("save", f"{folder}: cannot save the upload ({e.strerror or e})")


# --- request bodies -----------------------------------------------------------------------


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is longer than `limit` (whatever Content-Length said)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"upload is over the {limit_text(limit)} limit")
        chunks.append(chunk)
    return b"".join(chunks)


def limit_text(limit: int) -> str:
    return f"{limit / MB:g} MB" if limit >= MB else f"{limit} bytes"


def multipart_file(body: bytes, content_type: str) -> tuple[bytes, Optional[str]]:
    """The first file of a multipart/form-data body, parsed in memory: (bytes, its file name)."""
    try:
        from python_multipart.multipart import MultipartParser, parse_options_header
    except ImportError:  # python-multipart before 0.0.13
        from multipart.multipart import MultipartParser, parse_options_header

    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise ApiError(400, "multipart upload without a boundary")
    parts: list[dict] = []
    header: dict = {}

    def on_part_begin():
        parts.append({"headers": {}, "data": []})

    def on_header_field(data, start, end):
        header.setdefault("field", []).append(data[start:end])

    def on_header_value(data, start, end):
        header.setdefault("value", []).append(data[start:end])

    def on_header_end():
        field = b"".join(header.pop("field", [])).decode("latin-1").strip().lower()
        parts[-1]["headers"][field] = b"".join(header.pop("value", [])).decode("utf-8", "replace")

    def on_part_data(data, start, end):
        parts[-1]["data"].append(data[start:end])

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except Exception as e:  # noqa: BLE001 - python-multipart raises its own error types
        raise ApiError(400, f"malformed multipart upload ({e})") from None
    for part in parts:
        _, opts = parse_options_header(part["headers"].get("content-disposition", ""))
        filename = opts.get(b"filename")
        if filename is not None or opts.get(b"name") in (b"file", b"image", b"photo"):
            return b"".join(part["data"]), (filename.decode("utf-8", "replace") if filename else None)
    raise ApiError(400, "multipart upload without a file (send it as a field named 'file')")


def upload_name(given: Optional[str]) -> str:
    """A file name fit for messages and JSON: its last component, printable, at most 100 characters."""
    name = (given or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable())[:100]
    return name or "upload"


# --- routes -------------------------------------------------------------------------------


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime


async def page(request: Request) -> Response:
    return HTMLResponse(request.app.state.page, headers={"Cache-Control": "no-store"})


async def health(request: Request) -> Response:
    return JSONResponse(runtime_of(request).health(), headers={"Cache-Control": "no-store"})


async def model(request: Request) -> Response:
    return JSONResponse(runtime_of(request).model_info)


async def predict(request: Request) -> Response:
    rt = runtime_of(request)
    limit = rt.config.max_upload
    content_type = request.headers.get("content-type", "")
    is_multipart = content_type.lower().startswith("multipart/form-data")
    body_limit = limit + (MULTIPART_SLACK if is_multipart else 0)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > body_limit:
        raise ApiError(413, f"upload is {int(length) / MB:.1f} MB, over the {limit_text(limit)} limit")
    if not rt.try_admit():
        rt.counts["busy"] += 1
        raise ApiError(503, "busy: too many images are waiting; try again in a moment", headers={"Retry-After": "1"})
    future = None
    try:
        body = await read_body(request, body_limit)
        name = request.query_params.get("name")
        raw = body
        if is_multipart:
            raw, filename = multipart_file(body, content_type)
            name = name or filename
            if len(raw) > limit:
                raise ApiError(413, f"upload is {len(raw) / MB:.1f} MB, over the {limit_text(limit)} limit")
        name = upload_name(name)
        if not raw:
            raise ApiError(400, f"{name}: empty upload (no image bytes in the request body)", name)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(rt.executor, rt.infer, raw, name)
        future.add_done_callback(rt.release)  # the slot is held until the worker is done
        result = await asyncio.shield(future)
    except ApiError as e:
        rt.counts["failed" if e.status != 503 else "busy"] += 1
        rt.note_error("upload", f"{e.status}: {e.message}")
        raise
    except Exception:
        rt.counts["failed"] += 1
        raise
    finally:
        if future is None:
            rt.release()
    rt.counts["ok"] += 1
    return JSONResponse(result, headers={"Cache-Control": "no-store"})


def live(request: Request) -> LiveSource:
    source = runtime_of(request).source
    if source is None:
        raise ApiError(404, "no live source: the server was started without --camera or --source")
    return source


def positive_int(request: Request, key: str) -> Optional[int]:
    value = request.query_params.get(key)
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ApiError(400, f"{key} must be a positive whole number, not {value!r}")
    return int(value)


def check_streams(rt: Runtime) -> None:
    """503 when too many live views are open (each counts from its first byte to its end)."""
    if rt.streams >= rt.config.max_streams:
        raise ApiError(503, f"busy: {rt.streams} live views are open already", headers={"Retry-After": "5"})


STREAM_POLL = 1 / 30  # how often a stream looks for a new frame (s)
KEEPALIVE = 15.0  # an event stream sends a comment when idle this long (s)
RETRY_MS = 3000  # how soon a browser reconnects a dropped event stream
FINAL = ("ended", "stopped")  # source states after which no frame will come


async def stream(request: Request) -> Response:
    """Server-sent events: one JSON event per processed frame and per change of the source's state.

    The stream ends after the event that reports a final state (a video that `ended`, a server
    that `stopped`), or after ?limit=N events.
    """
    rt = runtime_of(request)
    source = live(request)
    limit = positive_int(request, "limit")
    check_streams(rt)

    async def events():
        rt.streams += 1
        try:
            yield f"retry: {RETRY_MS}\n\n"
            last, sent, idle_since = -1, 0, time.monotonic()
            while not rt.stopping.is_set():
                seq, event, _ = source.snapshot()
                if seq != last:
                    last, idle_since = seq, time.monotonic()
                    yield f"data: {json.dumps(event)}\n\n"
                    sent += 1
                    if (limit and sent >= limit) or event["source"]["status"] in FINAL:
                        return
                elif time.monotonic() - idle_since > KEEPALIVE:
                    idle_since = time.monotonic()
                    yield ": keepalive\n\n"
                await asyncio.sleep(STREAM_POLL)
        finally:
            rt.streams -= 1

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


async def video(request: Request) -> Response:
    """The annotated live view as MJPEG (multipart/x-mixed-replace), a part per new frame.

    Ends after the last frame of a source that ended (the browser keeps showing it), or after
    ?frames=N frames.
    """
    rt = runtime_of(request)
    source = live(request)
    limit = positive_int(request, "frames")
    check_streams(rt)

    async def parts():
        rt.streams += 1
        try:
            last, sent = -1, 0
            while not rt.stopping.is_set():
                seq, event, jpeg = source.snapshot()
                if jpeg is not None and seq != last:
                    last = seq
                    head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                    yield head.encode() + jpeg + b"\r\n"
                    sent += 1
                    if limit and sent >= limit:
                        return
                if event["source"]["status"] in FINAL and seq == last:
                    return
                await asyncio.sleep(STREAM_POLL)
        finally:
            rt.streams -= 1

    return StreamingResponse(
        parts(), media_type="multipart/x-mixed-replace; boundary=frame", headers={"Cache-Control": "no-store"}
    )


async def frame(request: Request) -> Response:
    _, _, jpeg = live(request).snapshot()
    if jpeg is None:
        raise ApiError(503, "no frame yet", headers={"Retry-After": "1"})
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


# --- errors and the token -----------------------------------------------------------------


async def api_error(request: Request, exc: ApiError) -> Response:
    return error_response(exc.status, exc.message, exc.path, exc.headers)


async def http_error(request: Request, exc: HTTPException) -> Response:
    return error_response(exc.status_code, exc.detail or "error", headers=getattr(exc, "headers", None))


async def server_error(request: Request, exc: Exception) -> Response:
    message = f"internal error: {type(exc).__name__}: {exc}"
    runtime_of(request).note_error("server", message)
    return error_response(500, message)


class TokenGuard:
    """Every request must carry the token: `Authorization: Bearer <token>` or `?token=<token>`."""

    def __init__(self, app, token: Optional[str]):
        self.app, self.token = app, token.encode() if token else None

    async def __call__(self, scope, receive, send):
        if self.token is None or scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        given = request.headers.get("authorization", "")
        given = given[7:].strip() if given[:7].lower() == "bearer " else request.query_params.get("token", "")
        if not hmac.compare_digest(given.encode(), self.token):
            message = (
                "a token is required: open the address printed at start (it ends in ?token=...), "
                "or send the header Authorization: Bearer <token>"
                if not given
                else "wrong token"
            )
            response = error_response(401, message, headers={"WWW-Authenticate": "Bearer"})
            return await response(scope, receive, send)
        return await self.app(scope, receive, send)


class SecurityHeaders:
    """No caching of tokens in referrers, no content sniffing, no framing."""

    HEADERS = [
        (b"referrer-policy", b"no-referrer"),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
    ]

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": list(message.get("headers", [])) + self.HEADERS}
            await send(message)

        return await self.app(scope, receive, send_with_headers)


def create_app(config: ServeConfig) -> Starlette:
    """The app, with the model loaded and the source opened (DigitedgeError when either fails).

    The live source starts with the app's lifespan and is released when it ends; use the app
    in `with TestClient(app)` or under uvicorn. `app.state.runtime.close()` also releases it.
    """
    runtime = Runtime(config)
    try:
        page_html = resources.files("digitedge.serve").joinpath("page.html").read_text(encoding="utf-8")
    except OSError as e:
        runtime.close()
        raise DigitedgeError(f"the page is missing from the installation ({e})") from None

    @contextlib.asynccontextmanager
    async def lifespan(app):
        runtime.start()
        try:
            yield
        finally:
            runtime.close()

    from starlette.middleware import Middleware

    app = Starlette(
        routes=[
            Route("/", page),
            Route("/api/predict", predict, methods=["POST"]),
            Route("/api/stream", stream),
            Route("/api/video.mjpg", video),
            Route("/api/frame.jpg", frame),
            Route("/api/health", health),
            Route("/api/model", model),
        ],
        middleware=[Middleware(SecurityHeaders), Middleware(TokenGuard, token=config.token)],
        exception_handlers={ApiError: api_error, HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.page = page_html
    return app
