"""A digit the recognizer read, saved as a labelled sample for `digitedge personalize`.

personalize reads photos through the normal pipeline, so a sample is the digit's cut-out from
the photo (with a margin of background around it), never the 28x28 it became.
It goes to SAMPLES/<digit>/<stem>.png, the layout samples.py reads; the user moves a misread
one to its right folder. Used by `predict --save-crops`, the webcam's digit keys and the
server's "this is a ..." correction.
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from digitedge.errors import DigitedgeError

MARGIN = 0.35  # of the box's larger side, on each side: find_digits needs background round the ink
UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def cutout(pixels: np.ndarray, boxes: list, index: int, margin: float = MARGIN) -> np.ndarray:
    """Digit `index` of `boxes` (x, y, w, h in `pixels`, grayscale or colour) with a margin; the other
    digits' boxes that reach into it are filled with its background, so it reads back as one digit."""
    x, y, w, h = boxes[index]
    pad = round(margin * max(w, h))
    x0, y0 = max(0, x - pad), max(0, y - pad)
    x1, y1 = min(pixels.shape[1], x + w + pad), min(pixels.shape[0], y + h + pad)
    out = pixels[y0:y1, x0:x1].copy()
    ink = np.zeros(out.shape[:2], bool)
    for bx, by, bw, bh in boxes:
        ink[max(0, by - y0) : max(0, by + bh - y0), max(0, bx - x0) : max(0, bx + bw - x0)] = True
    if ink.all():
        return out
    background = np.median(out[~ink], axis=0)
    mine = np.zeros(out.shape[:2], bool)
    mine[y - y0 : y + h - y0, x - x0 : x + w - x0] = True
    out[ink & ~mine] = background
    return out


def check_label(label) -> int:
    """The digit a sample is saved as: one of 0-9 (as an int or a string), else DigitedgeError."""
    text = str(label).strip()
    if len(text) != 1 or not text.isdigit() or not text.isascii():
        raise DigitedgeError(f"{label!r}: a sample's label is one digit, 0 to 9")
    return int(text)


def save_sample(folder: str | Path, label, image: np.ndarray, stem: str) -> Path:
    """`image` (grayscale, or colour as OpenCV's BGR) as folder/<label>/<stem>.png (numbered -2, -3...
    when taken); the stem is reduced to letters, digits, '_', '-' and '.': nothing lands outside folder/<label>."""
    digit = check_label(label)
    target_dir = Path(folder) / str(digit)
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DigitedgeError(f"{target_dir}: cannot make the samples folder ({e.strerror or e})") from None
    safe = UNSAFE.sub("_", stem).strip("._") or "sample"
    _, png = cv2.imencode(".png", image)
    n = 1
    while True:  # "x": two savers (the server's workers) never take the same name
        target = target_dir / (f"{safe}.png" if n == 1 else f"{safe}-{n}.png")
        try:
            with target.open("xb") as f:
                f.write(png.tobytes())
            return target
        except FileExistsError:
            n += 1
        except OSError as e:
            raise DigitedgeError(f"{target}: cannot write the sample ({e.strerror or e})") from None
