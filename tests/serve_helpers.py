"""Shared pieces of the `digitedge serve` tests: clear synthetic photos and clips, odd uploads.

No TensorFlow. Needs the web extra (starlette); the tests skip without it.
"""

from __future__ import annotations

import io
import socket
import struct
import zlib
from pathlib import Path

from edge_helpers import clear_digits

from digitedge import synthetic


def number_photo(mnist, reader, text: str, path: Path, seed: int = 7, side: int = 480) -> Path:
    """A clear photo of `text` written on paper, saved at `path` (JPEG or PNG by its extension)."""
    photo = synthetic.render_number(
        clear_digits(mnist, reader, text, skip=seed % 3), [int(c) for c in text], seed, out_side=side
    )
    return synthetic.write_image(path, photo.image)


def clip(mnist, reader, path: Path, numbers: list[str], frames_each: int, size=(320, 240), fps: int = 10):
    """A synthetic video of a camera over paper showing each number in turn; (first, last, text) each."""
    shown = [(clear_digits(mnist, reader, t, skip=i), t) for i, t in enumerate(numbers)]
    return synthetic.write_video(path, shown, frames_each=frames_each, fps=fps, size=size)


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A tiny PNG whose header claims width x height 8-bit gray pixels (900 megapixels by default)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * 4096, 9)  # the start of the (never decoded) pixel data
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def blank_png(side: int = 200) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (side, side), 235).save(out, "PNG")
    return out.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
