"""The page's "this is a ..." correction: a digit of an upload saved as a sample (`serve --samples DIR`).

With a samples folder, each upload read keeps its decoded pixels and boxes in memory, under a
random id the predict JSON gives as "read_id" (the last KEPT uploads only). The correction
POSTs {"read_id": ..., "index": i, "digit": d} to /api/sample, and the digit's cut-out is
saved as DIR/<d>/<upload name>-<i+1>.png (edge_runtime/crops.py), for `digitedge personalize`.
The client names the digit only by the id and its index: nothing it sends becomes a path
outside DIR/<d>. Without a samples folder the endpoint answers 404.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from collections import OrderedDict
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from digitedge.edge_runtime.crops import check_label, cutout, save_sample
from digitedge.errors import DigitedgeError

from .errors import ApiError, without_paths

KEPT = 16  # uploads whose digits can still be corrected
MAX_BODY = 4096


class Kept:
    """The last KEPT uploads' pixels (at the size they were read) and their digits' boxes in those pixels."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._reads: OrderedDict[str, tuple] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, name: str, pixels, reading) -> str:
        """An id for this upload's reading (boxes in `pixels`); the oldest kept one is forgotten."""
        read_id = secrets.token_urlsafe(12)
        with self._lock:
            self._reads[read_id] = (name, pixels, [d.box for d in reading.digits])
            while len(self._reads) > KEPT:
                self._reads.popitem(last=False)
        return read_id

    def save(self, read_id: str, index: int, digit: int) -> Path:
        """Digit `index` of a kept upload as a sample of `digit`: its path under the folder."""
        with self._lock:
            kept = self._reads.get(read_id)
        if kept is None:
            raise ApiError(404, "that upload is no longer kept (only the last 16 are): read the photo again")
        name, pixels, boxes = kept
        if not 0 <= index < len(boxes):
            raise ApiError(400, f"index {index}: that upload has {len(boxes)} digits")
        image = pixels if pixels.ndim == 2 else pixels[..., ::-1]  # RGB -> OpenCV's BGR
        path = save_sample(self.folder, digit, cutout(image, boxes, index), f"{Path(name).stem}-{index + 1}")
        return path.relative_to(self.folder)


def parse(body: bytes) -> tuple[str, int, int]:
    """(read_id, index, digit) from the correction's JSON, or ApiError 400."""
    try:
        data = json.loads(body)
        read_id, index, digit = data["read_id"], data["index"], data["digit"]
    except (ValueError, KeyError, TypeError):
        raise ApiError(400, 'send JSON {"read_id": ..., "index": <digit number, from 0>, "digit": <0-9>}') from None
    if not isinstance(read_id, str) or not isinstance(index, int) or isinstance(index, bool):
        raise ApiError(400, "read_id must be a string and index a whole number")
    try:
        return read_id, index, check_label(digit)
    except DigitedgeError:
        raise ApiError(400, f"digit {json.dumps(digit)}: must be one digit, 0 to 9") from None


async def sample(request: Request) -> Response:
    """POST /api/sample: one digit of a recent upload saved as a sample of the digit the user says it is."""
    kept = request.app.state.runtime.kept
    if kept is None:
        raise ApiError(404, "this server keeps no samples (start it with --samples DIR)")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise ApiError(413, f"a correction is a small JSON object (at most {MAX_BODY} bytes)")
    read_id, index, digit = parse(body)
    try:
        saved = await asyncio.get_running_loop().run_in_executor(None, kept.save, read_id, index, digit)
    except DigitedgeError as e:
        raise ApiError(500, without_paths(str(e))) from None
    return JSONResponse({"saved": saved.as_posix(), "digit": digit}, headers={"Cache-Control": "no-store"})
