"""Small helpers every test file may use, written once: waiting, an isolated data environment, image bytes.

No TensorFlow, and nothing from the extras at import time: runs in every environment.
Free ports come from `digitedge.net.free_port`.
"""

from __future__ import annotations

import io
import struct
import time
import zlib

import pytest

from digitedge import data


def wait_for(check, timeout: float = 10.0, what: str = "the condition"):
    """Poll check() until it returns something truthy, and return that; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.01 if timeout <= 10 else 0.2)  # short waits poll fast; long ones spare the CPU


@pytest.fixture
def isolated_env(monkeypatch, tmp_path):
    """No $DIGITEDGE_DATA, and a cache of our own: never the user's real cache.

    Shared through conftest.py; a module turns it on with pytest.mark.usefixtures("isolated_env").
    """
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv(data.CACHE_ENV_VAR, str(tmp_path / "cache"))
    return tmp_path / "cache"


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A tiny PNG whose header claims width x height 8-bit gray pixels (900 megapixels by default):
    a decompression bomb's header, without the bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * 4096, 9)  # the start of the (never decoded) pixel data
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def blank_png(side: int = 200) -> bytes:
    """A plain light-gray square: an image with no digit in it."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (side, side), 235).save(out, "PNG")
    return out.getvalue()


def jpeg_bytes(array) -> bytes:
    """A numpy image (gray or RGB, uint8) as JPEG bytes."""
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(array).save(out, "JPEG", quality=90)
    return out.getvalue()
