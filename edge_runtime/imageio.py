"""Reading images safely: every failure is one ImageError naming the file.

Pillow reads only the header on open, so the pixel count is checked before any
decoding: a decompression bomb (a small file that expands to gigapixels) is
refused without allocating it. JPEGs are decoded at a reduced scale when they are
far bigger than the recognizer needs, and the EXIF orientation is applied.
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from digitedge.errors import ImageError

# Refuse above this many pixels: ~ a 60-megapixel photo. Pillow's own guard
# (MAX_IMAGE_PIXELS) only warns below twice its limit, so we check ourselves.
MAX_PIXELS = 60_000_000
# No need to decode more than this on the longest side to find and read digits.
WORKING_SIDE = 1600
MIN_SIDE = 8
MAX_FILE_BYTES = 200 * 2**20  # no photo is this big; a video or a disk image passed by mistake is
EXTENSIONS = (
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".gif",
    ".tif",
    ".tiff",
    ".webp",
    ".pgm",
    ".ppm",
    ".pnm",
)


def open_image(
    source: str | Path | bytes, name: str | None = None, need: tuple[int, int] | None = None, gray: bool = False
) -> tuple[Image.Image, float]:
    """A decoded Pillow image (mode L or RGB), upright, at most WORKING_SIDE on its longest side,
    and the factor from its pixels to the original's (1.0 when it was not reduced).

    need=(short, long): only this much is wanted, a shorter side of `short` px unless the longer
    would pass `long`; a JPEG is then decoded at the smallest DCT scale (1/2, 1/4, 1/8) that still
    gives it, which saves most of the memory and time a phone photo costs.

    gray=True, for callers that want only the ink: a colour JPEG is decoded straight to grey, its
    luma (libjpeg skips the chroma and the colour conversion: a third of the time on a phone photo,
    within 2 levels of converting its RGB). Other formats are decoded as ever.
    """
    name = name or ("<bytes>" if isinstance(source, (bytes, bytearray)) else str(source))
    raw = source if isinstance(source, (bytes, bytearray)) else _read_bytes(Path(source), name)
    if not raw:
        raise ImageError(f"{name}: empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw))
            _check_size(image, name)
            full_width = image.size[0]
            # (MPO: a phone's JPEG with a second picture, decoded as a JPEG)
            mode = "L" if image.mode in ("L", "1") or (gray and image.format in ("JPEG", "MPO")) else "RGB"
            image.draft(mode, _draft_size(image.size, need))  # JPEG: decode at 1/2, 1/4, 1/8 scale
            image.load()
            scale = full_width / image.size[0]
            transposed = ImageOps.exif_transpose(image)
            if transposed.size != image.size:
                scale = full_width / transposed.size[1]
            image = _to_l_or_rgb(transposed)
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image (or a format Pillow cannot read)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        # Pillow's own guard fired first; its message holds the pixel count
        pixels = re.search(r"\((\d+) pixels\)", str(e))
        raise _bomb(name, int(pixels.group(1)) if pixels else None) from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"{name}: truncated or corrupt image ({_first_line(e)})") from None
    before = image.size[0]
    image.thumbnail((WORKING_SIDE, WORKING_SIDE), Image.Resampling.LANCZOS)
    return image, scale * before / image.size[0]


def _draft_size(size: tuple[int, int], need: tuple[int, int] | None) -> tuple[int, int]:
    """The smallest size a JPEG may be decoded at (Pillow's draft keeps at least this)."""
    if need is None:
        return WORKING_SIDE, WORKING_SIDE
    w, h = size
    scale = min(1.0, need[0] / min(w, h), need[1] / max(w, h))
    return max(1, int(w * scale + 0.999)), max(1, int(h * scale + 0.999))


def read_image(source: str | Path | bytes, name: str | None = None) -> np.ndarray:
    """An image file as uint8 RGB (H, W, 3) or grayscale (H, W), upright, at most WORKING_SIDE."""
    return np.asarray(open_image(source, name)[0])


def read_image_scaled(
    source: str | Path | bytes, name: str | None = None, need: tuple[int, int] | None = None, gray: bool = False
) -> tuple[np.ndarray, float]:
    """read_image (with open_image's `need` and `gray`), and the factor from its pixels to the original's."""
    image, scale = open_image(source, name, need, gray)
    return np.asarray(image), scale


def _read_bytes(path: Path, name: str) -> bytes:
    if path.is_dir():
        raise ImageError(f"{name}: is a directory, not an image")
    try:
        if path.exists() and not path.is_file():  # a device or a pipe could be read forever
            raise ImageError(f"{name}: not a regular file")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ImageError(
                f"{name}: {size / 2**20:.0f} MB, too large for an image (at most {MAX_FILE_BYTES // 2**20} MB)"
            )
        return path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"{name}: file not found") from None
    except OSError as e:
        raise ImageError(f"{name}: cannot read ({e.strerror or e})") from None


def _check_size(image: Image.Image, name: str) -> None:
    w, h = image.size
    if w * h > MAX_PIXELS:
        raise _bomb(name, w * h, f"{w}x{h}")
    if min(w, h) < MIN_SIDE:
        raise ImageError(f"{name}: image is {w}x{h} pixels, too small to hold a digit (at least {MIN_SIDE}x{MIN_SIDE})")


def _bomb(name: str, pixels: int | None, size: str = "") -> ImageError:
    what = (
        f"{size} ({pixels / 1e6:.0f} megapixels)"
        if size
        else f"{pixels / 1e6:.0f} megapixels"
        if pixels
        else "too large"
    )
    return ImageError(
        f"{name}: image is {what}, over the {MAX_PIXELS / 1e6:.0f}-megapixel limit; "
        "refused as a possible decompression bomb"
    )


def _to_l_or_rgb(image: Image.Image) -> Image.Image:
    """Flatten transparency onto white (how a drawn PNG is seen), keep grayscale as L."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if image.mode in ("L", "RGB"):
        return image
    if image.mode in ("1", "I;16", "I;16B", "I", "F"):
        return _to_l(image)
    return image.convert("RGB")


def _to_l(image: Image.Image) -> Image.Image:
    if image.mode == "1":
        return image.convert("L")
    a = np.asarray(image, dtype=np.float64)
    lo, hi = float(a.min()), float(a.max())
    scaled = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
    return Image.fromarray(scaled.astype(np.uint8), "L")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
