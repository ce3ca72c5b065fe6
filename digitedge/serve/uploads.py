"""An uploaded image: its size limits, its body (raw bytes or multipart), its name, its HTTP status.

Uploads live in memory only. The body is read as it streams in and refused with 413 as soon
as it is over the limit, whatever Content-Length said; a multipart body is parsed as it
comes by python-multipart, told to keep files in memory (Starlette's own form parser would
spool anything over 1 MB to a temporary file).
"""

from __future__ import annotations

import io
import warnings
from typing import Optional

from starlette.requests import Request

from digitedge.errors import ImageError, NoDigitError

from .errors import ApiError
from .settings import MB

MULTIPART_SLACK = 64 * 1024  # a multipart body may exceed the image limit by its headers
FILE_FIELDS = (b"file", b"image", b"photo")  # a part with one of these names is the image, even without a filename


def limit_text(limit: int) -> str:
    return f"{limit / MB:g} MB" if limit >= MB else f"{limit} bytes"


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").lower().startswith("multipart/form-data")


def body_limit(request: Request, limit: int) -> int:
    """The most bytes the body may have; 413 at once when its Content-Length says it has more."""
    most = limit + (MULTIPART_SLACK if is_multipart(request) else 0)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > most:
        raise ApiError(413, f"upload is {int(length) / MB:.1f} MB, over the {limit_text(limit)} limit")
    return most


async def read_upload(request: Request, limit: int) -> tuple[bytes, str]:
    """(the image's bytes, a name for messages): a raw body, or the file of a multipart one.

    The name is ?name=, else the multipart file's name, else "upload". ApiError 400 for an
    empty or malformed upload, 413 for one over the limit.
    """
    most = body_limit(request, limit)
    form = MultipartFile(request.headers["content-type"]) if is_multipart(request) else None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > most:
            raise ApiError(413, f"upload is over the {limit_text(most)} limit")
        if form is not None:
            form.write(chunk)
        else:
            chunks.append(chunk)
    raw, filename = form.result() if form is not None else (b"".join(chunks), None)
    if len(raw) > limit:
        raise ApiError(413, f"upload is {len(raw) / MB:.1f} MB, over the {limit_text(limit)} limit")
    name = upload_name(request.query_params.get("name") or filename)
    if not raw:
        raise ApiError(400, f"{name}: empty upload (no image bytes in the request body)", name)
    return raw, name


class MultipartFile:
    """The first file of a multipart/form-data body, fed as it arrives: python-multipart does the parsing."""

    def __init__(self, content_type: str):
        try:
            from python_multipart.multipart import FormParser, parse_options_header
        except ImportError:  # python-multipart before 0.0.13
            from multipart.multipart import FormParser, parse_options_header

        _, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if not boundary:
            raise ApiError(400, "multipart upload without a boundary")
        self.found: Optional[tuple[bytes, Optional[str]]] = None
        config = {"MAX_MEMORY_FILE_SIZE": float("inf")}  # never a temporary file: the body is bounded already
        self.parser = FormParser("multipart/form-data", self._on_field, self._on_file, boundary=boundary, config=config)

    def _on_file(self, file) -> None:
        if self.found is None:
            name = file.file_name.decode("utf-8", "replace") if file.file_name else None
            self.found = file.file_object.getvalue(), name

    def _on_field(self, field) -> None:
        if self.found is None and field.field_name in FILE_FIELDS:
            self.found = field.value or b"", None

    def write(self, chunk: bytes) -> None:
        try:
            self.parser.write(chunk)
        except Exception as e:  # noqa: BLE001 - python-multipart raises its own error types
            raise ApiError(400, f"malformed multipart upload ({e})") from None

    def result(self) -> tuple[bytes, Optional[str]]:
        """(the file's bytes, its file name or None) once the whole body is in."""
        try:
            self.parser.finalize()
        except Exception as e:  # noqa: BLE001
            raise ApiError(400, f"malformed multipart upload ({e})") from None
        if self.found is None:
            raise ApiError(400, "multipart upload without a file (send it as a field named 'file')")
        return self.found


def upload_name(given: Optional[str]) -> str:
    """A file name fit for messages and JSON: its last component, printable, at most 100 characters."""
    name = (given or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable())[:100]
    return name or "upload"


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
