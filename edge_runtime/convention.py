"""A model's input convention: what numbers it wants for a 28x28 digit, and finding that out.

Callers hand the runtime MNIST's own form: floats in [0, 1], white digit on black. Models
made elsewhere want other numbers: 0-255 floats, -1..1, MNIST's mean and std, the raw uint8
pixel, black on white. Our models say which in their digitedge metadata; for any other
model the convention is detected by reading a few labelled digits (bundled with the
package, data/digits100.npz) under each candidate and keeping the one that reads best.
Layout, dtype, scale and zero point always come from the model's tensor details.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Callable, Optional

import numpy as np

DIGITS_FILE = Path(__file__).resolve().parent / "data" / "digits100.npz"
# The float value a [0, 1] pixel becomes, per range; "raw" is the integer pixel itself.
RANGES = {
    "0-1": lambda x: x,
    "0-255": lambda x: x * 255.0,
    "signed": lambda x: x * 2.0 - 1.0,  # -1..1 (a name a command line cannot take for an option)
    "mnist": lambda x: (x - 0.1307) / 0.3081,  # torchvision's MNIST normalization
    "raw": lambda x: np.round(x * 255.0),
}
RANGE_TEXT = {"0-1": "0-1", "0-255": "0-255", "signed": "-1..1", "mnist": "MNIST mean/std (0.1307, 0.3081)",
              "raw": "raw pixel 0-255"}
FLOAT_RANGES = ("0-1", "0-255", "signed", "mnist")
MIN_SHARE = 0.8  # a detected convention must read this share of the bundled digits
SCREEN, SCREEN_MARGIN = 20, 3  # digits every candidate reads first; how far behind the best one may go on


@dataclass(frozen=True)
class Override:
    """What the user said (--input-range, --invert); None leaves that part to the metadata or detection."""

    range: Optional[str] = None
    invert: Optional[bool] = None

    def __post_init__(self):
        if self.range is not None and self.range not in RANGES:
            from digitedge.errors import ModelError

            raise ModelError(f"--input-range {self.range}: choose one of {', '.join(RANGES)}")


@dataclass(frozen=True)
class Convention:
    range: str  # a key of RANGES: the values the model wants before any quantization
    invert: bool  # True: the model wants black digits on white

    def text(self, dtype: np.dtype, quantized: bool) -> str:
        """e.g. "float 0-255, white on black", "uint8 quantized from 0-1, black on white"."""
        kind = f"{np.dtype(dtype).name} quantized from" if quantized else \
            ("float" if np.issubdtype(dtype, np.floating) else np.dtype(dtype).name)
        return f"{kind} {RANGE_TEXT[self.range]}, {'black on white' if self.invert else 'white on black'}"

    def to_dict(self) -> dict:
        return {"range": self.range, "polarity": "black-on-white" if self.invert else "white-on-black"}


@dataclass(frozen=True)
class Detection:
    convention: Convention
    correct: int  # of the bundled digits read right under it
    total: int
    searched: bool  # picked among candidates (False: the user gave the whole convention)
    loss: float = 0.0  # mean cross-entropy on the bundled digits: what the pick minimizes

    @property
    def share_text(self) -> str:
        return f"{self.correct}/{self.total} of the bundled digits"


def from_metadata(meta: dict) -> Convention:
    """Our models (or `convert --describe`d ones) say it; the range defaults to ours, 0-1."""
    info = meta.get("input", {})
    return Convention(info.get("range", "0-1"), info.get("polarity") == "black-on-white")


def candidates(dtype: np.dtype, quantized: bool, override: Override,
               real: tuple[float, float] | None = None) -> list[Convention]:
    """Every convention the input tensor allows, narrowed by what the user gave.

    real: a quantized input's representable values; a range outside them would only be clipped
    (0-255 into scale 1/255 still reads a saturated digit), so only the ranges that fit are tried.
    """
    integer = np.issubdtype(dtype, np.integer)
    ranges = [r for r in FLOAT_RANGES if real is None or fits(r, real)] or list(FLOAT_RANGES)
    if override.range:
        ranges = [override.range]
    elif integer and not quantized:
        ranges = ["raw"]
    polarities = [override.invert] if override.invert is not None else [False, True]
    return [Convention(r, p) for r in ranges for p in polarities]


def fits(name: str, real: tuple[float, float]) -> bool:
    """Whether a range's values lie within real (lo, hi), give or take a tenth of its span."""
    lo, hi = (float(v) for v in RANGES[name](np.array([0.0, 1.0])))
    slack = 0.1 * (real[1] - real[0])
    return real[0] - slack <= lo and hi <= real[1] + slack


def with_override(convention: Convention, override: Override) -> Convention:
    if override.range is not None:
        convention = replace(convention, range=override.range)
    if override.invert is not None:
        convention = replace(convention, invert=override.invert)
    return convention


@lru_cache(maxsize=1)
def bundled_digits() -> tuple[np.ndarray, np.ndarray]:
    """(images as floats (100, 28, 28, 1) in [0, 1], labels): the package's labelled digits."""
    with np.load(DIGITS_FILE) as f:
        return f["images"][..., np.newaxis].astype(np.float32) / 255.0, f["labels"].astype(np.int64)


def detect(read: Callable[[np.ndarray, Convention], np.ndarray], options: list[Convention]) -> Detection:
    """The candidate under which `read` (images, convention -> class probabilities) fits the labels best.

    Best is the lowest mean cross-entropy among the candidates that read MIN_SHARE of the digits, not
    the most digits read: a well-trained CNN reads most digits under several wrong conventions (0-255
    into a 0-1 model saturates the digit, which still reads), but it is surest of the right answers
    under its own. When none reads that many: the one reading most, for the refusal to name.
    Every candidate first reads SCREEN digits; those within SCREEN_MARGIN of the best go on.
    """
    images, labels = bundled_digits()
    searched = len(options) > 1
    if searched:
        screened = [int(np.sum(read(images[:SCREEN], c).argmax(axis=1) == labels[:SCREEN])) for c in options]
        options = [c for c, n in zip(options, screened) if n >= max(screened) - SCREEN_MARGIN]
    found = []
    for convention in options:
        probabilities = read(images, convention)
        loss = float(-np.mean(np.log(np.clip(probabilities[np.arange(len(labels)), labels], 1e-7, 1.0))))
        correct = int(np.sum(probabilities.argmax(axis=1) == labels))
        found.append(Detection(convention, correct, len(labels), searched, loss))
    good = [d for d in found if d.correct >= MIN_SHARE * d.total]
    # min/max keep the first of equals: the candidates' order breaks ties
    return min(good, key=lambda d: d.loss) if good else max(found, key=lambda d: d.correct)
