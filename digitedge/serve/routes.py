"""The routes: the page, the JSON API and the live view, as Starlette routes."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from . import live, samples
from .errors import ApiError
from .live import runtime_of
from .uploads import body_limit, read_upload


async def page(request: Request) -> Response:
    return HTMLResponse(request.app.state.page, headers={"Cache-Control": "no-store"})


async def health(request: Request) -> Response:
    return JSONResponse(runtime_of(request).health(), headers={"Cache-Control": "no-store"})


async def model(request: Request) -> Response:
    return JSONResponse(runtime_of(request).model_info)


async def predict(request: Request) -> Response:
    """One upload read in a worker: admitted (or 503 at once) before its body is read."""
    rt = runtime_of(request)
    body_limit(request, rt.config.max_upload)  # 413 from Content-Length alone, before admission
    if not rt.try_admit():
        rt.counts["busy"] += 1
        raise ApiError(503, "busy: too many images are waiting; try again in a moment", headers={"Retry-After": "1"})
    future = None
    try:
        raw, name = await read_upload(request, rt.config.max_upload)
        future = asyncio.get_running_loop().run_in_executor(rt.executor, rt.infer, raw, name)
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


ROUTES = [
    Route("/", page),
    Route("/api/predict", predict, methods=["POST"]),
    Route("/api/sample", samples.sample, methods=["POST"]),
    Route("/api/stream", live.stream),
    Route("/api/video.mjpg", live.video),
    Route("/api/frame.jpg", live.frame),
    Route("/api/health", health),
    Route("/api/model", model),
]
