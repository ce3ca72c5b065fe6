"""The ASGI app behind `digitedge serve`: one page, a small JSON API, the live view.

    GET  /                  the page (plain HTML/JS, works on a phone)
    POST /api/predict       image bytes or multipart -> the JSON of `digitedge predict --json`
                            (with --personal, "personal": the head's name; with --samples, a "read_id")
    POST /api/sample        {"read_id", "index", "digit"}: that digit of a recent upload saved into
                            --samples as a sample of `digit` (the page's "this is a ..."); samples.py
    GET  /api/stream        the live readings as server-sent events: per frame the JSON line of
                            `digitedge webcam --headless`, plus the source's state; ends when
                            the source does, or after ?limit=N events
    GET  /api/video.mjpg    the live view, annotated, as MJPEG; ends with the source, or after ?frames=N
    GET  /api/frame.jpg     the latest annotated frame
    GET  /api/health        model, backend, uptime, frames processed, source state, last error
    GET  /api/model         the model file (by name) and its embedded metadata

Errors are JSON {"error": message, "status": code}: 400 a bad or empty image, 401 no or a
wrong token, 404, 405, 413 an upload over the limit or a decompression bomb (more pixels
than edge_runtime decodes), 415 not an image, 422 an image with no digit in it, 503 busy.
The page and the API name files (the model, a video, the save folder) by their name, never
by the server's path to them.

Inference runs in a small thread pool, never on the event loop. At most `workers +
max_waiting` uploads are admitted at a time (being received, waiting or running); the next
one gets 503 at once, before its body is read, so memory stays bounded by that many
uploads. Uploads live in memory only; they are written to disk only with `save`.

The parts: settings (ServeConfig), runtime (Runtime: models, pool, source, counters),
uploads (an uploaded image), routes and live (the handlers), errors (the JSON errors).
"""

from __future__ import annotations

import contextlib
import hmac
from importlib import resources
from typing import Optional

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request

from digitedge.errors import DigitedgeError

from .errors import HANDLERS, ApiError, error_response
from .routes import ROUTES
from .runtime import Runtime
from .settings import MB, ServeConfig

__all__ = ["MB", "ApiError", "Runtime", "ServeConfig", "create_app"]


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

    app = Starlette(
        routes=ROUTES,
        middleware=[Middleware(SecurityHeaders), Middleware(TokenGuard, token=config.token)],
        exception_handlers=HANDLERS,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.page = page_html
    return app
