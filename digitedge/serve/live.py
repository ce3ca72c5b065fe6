"""The live view over HTTP: server-sent events, MJPEG and the latest frame, fed by one poller.

Both streams read the source through `new_snapshots`, which hands out each new snapshot
once. A stream counts as an open live view from its first byte to its end, however it ends:
`LiveView` closes its generator as soon as the client leaves, not when the garbage collector
gets round to it, so the count (and the 503 it guards) is right at once.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Optional

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from .errors import ApiError
from .runtime import Runtime
from .source import LiveSource

STREAM_POLL = 1 / 30  # how often a stream looks for a new frame (s)
KEEPALIVE = 15.0  # an event stream sends a comment when idle this long (s)
RETRY_MS = 3000  # how soon a browser reconnects a dropped event stream
FINAL = ("ended", "stopped")  # source states after which no frame will come


async def new_snapshots(rt: Runtime, source: LiveSource, keepalive: Optional[float] = None) -> AsyncIterator:
    """Each new (event, jpeg) of the source once, until one reports a final state or the server stops.

    With `keepalive`, None is yielded whenever nothing new came for that long.
    """
    last, idle_since = -1, time.monotonic()
    while not rt.stopping.is_set():
        seq, event, jpeg = source.snapshot()
        if seq != last:
            last, idle_since = seq, time.monotonic()
            yield event, jpeg
            if event["source"]["status"] in FINAL:
                return
        elif keepalive is not None and time.monotonic() - idle_since > keepalive:
            idle_since = time.monotonic()
            yield None
        await asyncio.sleep(STREAM_POLL)


class LiveView(StreamingResponse):
    """A stream counted in `rt.streams` while it is sent; its generator is closed the moment it ends."""

    def __init__(self, rt: Runtime, body: AsyncIterator, media_type: str, headers: dict):
        super().__init__(body, media_type=media_type, headers=headers)
        self.rt = rt

    async def __call__(self, scope, receive, send) -> None:
        self.rt.streams += 1
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.rt.streams -= 1
            await self.body_iterator.aclose()


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime


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
    """503 when too many live views are open."""
    if rt.streams >= rt.config.max_streams:
        raise ApiError(503, f"busy: {rt.streams} live views are open already", headers={"Retry-After": "5"})


async def stream(request: Request) -> Response:
    """Server-sent events: one JSON event per processed frame and per change of the source's state.

    The stream ends after the event that reports a final state (a video that `ended`, a server
    that `stopped`), or after ?limit=N events.
    """
    rt, source = runtime_of(request), live(request)
    limit = positive_int(request, "limit")
    check_streams(rt)

    async def events():
        yield f"retry: {RETRY_MS}\n\n"
        sent, snapshots = 0, new_snapshots(rt, source, keepalive=KEEPALIVE)
        try:  # contextlib.aclosing, which Python 3.9 lacks
            async for snapshot in snapshots:
                if snapshot is None:
                    yield ": keepalive\n\n"
                    continue
                yield f"data: {json.dumps(snapshot[0])}\n\n"
                sent += 1
                if limit and sent >= limit:
                    return
        finally:
            await snapshots.aclose()

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return LiveView(rt, events(), "text/event-stream", headers)


async def video(request: Request) -> Response:
    """The annotated live view as MJPEG (multipart/x-mixed-replace), a part per new frame.

    Ends after the last frame of a source that ended (the browser keeps showing it), or after
    ?frames=N frames.
    """
    rt, source = runtime_of(request), live(request)
    limit = positive_int(request, "frames")
    check_streams(rt)

    async def parts():
        sent, snapshots = 0, new_snapshots(rt, source)
        try:  # contextlib.aclosing, which Python 3.9 lacks
            async for _, jpeg in snapshots:
                if jpeg is None:
                    continue
                head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                yield head.encode() + jpeg + b"\r\n"
                sent += 1
                if limit and sent >= limit:
                    return
        finally:
            await snapshots.aclose()

    media_type = "multipart/x-mixed-replace; boundary=frame"
    return LiveView(rt, parts(), media_type, {"Cache-Control": "no-store"})


async def frame(request: Request) -> Response:
    _, _, jpeg = live(request).snapshot()
    if jpeg is None:
        raise ApiError(503, "no frame yet", headers={"Retry-After": "1"})
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
