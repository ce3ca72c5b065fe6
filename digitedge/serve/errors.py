"""The API's one error shape: JSON {"error": message, "status": code}, and the handlers that give it."""

from __future__ import annotations

import re
from typing import Optional

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response


class ApiError(Exception):
    def __init__(self, status: int, message: str, path: Optional[str] = None, headers: Optional[dict] = None):
        super().__init__(message)
        self.status, self.message, self.path, self.headers = status, message, path, headers


def error_response(status: int, message: str, path: Optional[str] = None, headers: Optional[dict] = None):
    body = {"error": message, "status": status}
    if path is not None:
        body = {"path": path, **body}
    return JSONResponse(body, status, headers={"Cache-Control": "no-store", **(headers or {})})


async def api_error(request: Request, exc: ApiError) -> Response:
    return error_response(exc.status, exc.message, exc.path, exc.headers)


async def http_error(request: Request, exc: HTTPException) -> Response:
    return error_response(exc.status_code, exc.detail or "error", headers=getattr(exc, "headers", None))


# An absolute path in an exception's text: the page and the API show only its last part.
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])(?:/[\w.+-]+)+/([\w.+-]+)")


def without_paths(text: str) -> str:
    """'/home/pi/models/a.tflite: bad' -> 'a.tflite: bad': a client learns nothing of the server's folders."""
    return ABSOLUTE_PATH.sub(r"\1", text)


async def server_error(request: Request, exc: Exception) -> Response:
    message = without_paths(f"internal error: {type(exc).__name__}: {exc}")
    request.app.state.runtime.note_error("server", message)
    return error_response(500, message)


HANDLERS = {ApiError: api_error, HTTPException: http_error, Exception: server_error}
