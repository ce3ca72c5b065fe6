"""The model's input contract, defined once: training and the device both call these.

A model input is a 28x28x1 image, white digit on black as in MNIST, float32 in
[0, 1] (pixel / 255). An int8 model takes the uint8 pixel itself: its input
quantization (scale 1/255, zero point 0) makes the two the same number.

A real photo is brought to that contract the way MNIST itself was made: find the
ink, crop the digit, scale it to fit 20x20 keeping its aspect ratio, and place it
in 28x28 with its centre of mass at the centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from digitedge.errors import ImageError, NoDigitError

from .segment import Group, SegmentConfig, group_digits

INPUT_SHAPE = (28, 28, 1)
# Bumped whenever what the model is fed changes; stored in every .tflite's metadata.
PREPROCESSING_VERSION = "mnist-v1"
FIT_SIZE = 20  # MNIST digits fit a 20x20 box inside the 28x28 image
MIN_SIDE = 8  # pixels: smaller arrays cannot hold a digit
# MNIST's stroke width as a part of the digit's longer side (median 0.11 over the
# test set, measured as 2*area/perimeter); photos are brought near it.
STROKE_RANGE = (0.08, 0.2)
STROKE_TARGET = 0.11


def normalize(images: np.ndarray) -> np.ndarray:
    """uint8 MNIST-style images (..., 28, 28) or (..., 28, 28, 1) -> float32 (..., 28, 28, 1) in [0, 1]."""
    images = np.asarray(images)
    if images.shape[-1] != 1:
        images = images[..., np.newaxis]
    return images.astype(np.float32) / 255.0


@dataclass(frozen=True)
class PhotoConfig:
    work_side: int = 400  # the photo is scaled so its shorter side is this (px)
    max_work_side: int = 1600  # ... and its longer side at most this
    min_contrast: int = 40  # ink must differ this much (0-255) from the paper around it (show-through: ~20-37)
    deskew: bool = False  # straighten slanted digits (MNIST itself was not deskewed)
    segment: SegmentConfig = SegmentConfig()


@dataclass(frozen=True)
class DigitCrop:
    box: tuple[int, int, int, int]  # x, y, w, h in the original image's pixels
    image: np.ndarray  # 28x28 uint8, white digit on black


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 grayscale from a grayscale (H, W), RGB (H, W, 3) or RGBA (H, W, 4) array."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        scale = 255.0 if image.dtype.kind == "f" and image.max(initial=0) <= 1.0 else 1.0
        image = np.clip(image * scale, 0, 255).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 4:
        alpha = image[..., 3:].astype(np.float32) / 255.0  # transparent = white paper
        image = (image[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    raise ValueError(f"expected a grayscale, RGB or RGBA image, got an array of shape {image.shape}")


def working_copy(gray: np.ndarray, config: PhotoConfig) -> tuple[np.ndarray, float]:
    """The image at the working resolution, and the factor from original to working pixels."""
    h, w = gray.shape
    scale = config.work_side / min(h, w)
    scale = min(scale, config.max_work_side / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(gray, size, interpolation=interp), scale


def ink_is_dark(gray: np.ndarray) -> bool:
    """Dark ink on light paper? Two votes, each "the ink is the tail further from the paper":
    - levels: the paper is the median of the whole picture with its centre counted twice (a
      table may fill a border, a thick digit cropped tight the centre, but neither both);
    - local: each pixel less its neighbourhood's mean, at ~96 px, so that uneven light, which
      can outweigh faint pencil, cancels out.
    Summed with the local vote at half weight (measured on the photo suite: it rights faint
    pencil under a shadow, and on its own misjudges thick digits that fill the frame)."""
    h, w = gray.shape
    # every other pixel is plenty for percentiles (and four times cheaper to count)
    half = cv2.resize(gray, (w // 2, h // 2), interpolation=cv2.INTER_NEAREST) if min(h, w) >= 64 else gray
    hh, hw = half.shape
    centre = half[hh // 4 : hh - hh // 4, hw // 4 : hw - hw // 4]
    counts = _histogram(half, 256) + _histogram(centre, 256)
    lo, median, hi = _percentiles_of(np.cumsum(counts), (1, 50, 99))
    levels = (median - lo - (hi - median)) / max(1, hi - lo)
    f = max(1, min(h, w) // 96)  # a whole factor: OpenCV's fast path for INTER_AREA
    small = cv2.resize(gray, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    box = min(small.shape) // 3 | 1
    local = small.astype(np.int16) - cv2.blur(small, (box, box), borderType=cv2.BORDER_REFLECT) + 255
    lo, median, hi = (v - 255 for v in _percentiles_of(np.cumsum(np.bincount(local.ravel(), minlength=511)),
                                                        (1, 50, 99)))
    return levels + 0.5 * (median - lo - (hi - median)) / max(1, hi - lo) >= 0


def _histogram(image: np.ndarray, bins: int) -> np.ndarray:
    """Counts of each level of a uint8 image (OpenCV's: several times numpy's speed)."""
    return cv2.calcHist([np.ascontiguousarray(image)], [0], None, [bins], [0, bins]).ravel()


def _percentiles_of(cumulative: np.ndarray, qs) -> list[int]:
    return [int(np.searchsorted(cumulative, q / 100 * (cumulative[-1] - 1) + 1)) for q in qs]


def percentiles(image: np.ndarray, qs) -> list[int]:
    """Percentiles of a uint8 image from its histogram: no sorting, no float copy of the image."""
    return _percentiles_of(np.cumsum(_histogram(image, 256)), qs)


def ink_image(gray: np.ndarray) -> np.ndarray:
    """Ink bright on black, with the paper's uneven light removed.

    The background is the image with every stroke-sized bright thing opened away;
    a flat structuring element leaves gradients and broad shadows intact, so
    subtracting it cancels them.
    """
    ink = cv2.bitwise_not(gray) if ink_is_dark(gray) else gray
    k = max(15, min(gray.shape) // 2, max(gray.shape) // 4) | 1  # wider than any stroke
    background = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    flat = cv2.subtract(ink, background)
    blur = max(3, min(gray.shape) // 150) | 1  # tames sensor noise and JPEG blocks
    return cv2.GaussianBlur(flat, (blur, blur), 0)


def ink_mask(flat: np.ndarray, config: PhotoConfig) -> np.ndarray:
    """Binary ink (255) by hysteresis around Otsu's threshold, never below the minimum contrast.

    Pixels above half the threshold count when they connect to pixels above it: a
    faint ballpoint stroke stays whole without admitting the paper's noise.
    """
    otsu, _ = cv2.threshold(flat, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    high = max(otsu, config.min_contrast)
    weak = (flat > high / 2).astype(np.uint8)
    count, labels = cv2.connectedComponents(weak, connectivity=8)
    strong = np.zeros(count, bool)
    strong[labels[flat > high]] = True
    strong[0] = False
    return (strong[labels] * 255).astype(np.uint8)


def stroke_ratio(mask: np.ndarray) -> float:
    """Stroke width (2 * area / perimeter) as a part of the mask's longer side."""
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(c, True) for c in contours)
    area = float(np.count_nonzero(mask))
    return 2 * area / max(perimeter, 1.0) / max(mask.shape)


def even_strokes(mask: np.ndarray) -> np.ndarray:
    """Thicken a ballpoint's hairline or thin a marker's slab towards MNIST's pen."""
    ratio = stroke_ratio(mask)
    if STROKE_RANGE[0] <= ratio <= STROKE_RANGE[1]:
        return mask
    side = max(mask.shape)
    pad = side // 4 + 2
    padded = cv2.copyMakeBorder(mask, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    if ratio < STROKE_RANGE[0]:
        r = max(1, round((STROKE_TARGET - ratio) * side / 2))
        out = cv2.dilate(padded, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    else:
        r = max(1, round((ratio - STROKE_TARGET * 1.4) * side / 2))
        out = cv2.erode(padded, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
        if np.count_nonzero(out) < 0.3 * np.count_nonzero(padded):
            return mask  # thinning would erase the digit
    ys, xs = np.nonzero(out)
    return out[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def mnist_box(mask: np.ndarray, deskew: bool = False) -> np.ndarray:
    """A cropped digit mask -> 28x28 uint8: fit 20x20 keeping aspect, centre of mass at the centre."""
    h, w = mask.shape
    scale = FIT_SIZE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    digit = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    canvas = np.zeros((28, 28), np.float32)
    top, left = (28 - size[1]) // 2, (28 - size[0]) // 2
    canvas[top : top + size[1], left : left + size[0]] = digit
    m = cv2.moments(canvas)
    if m["m00"] > 0:
        dx, dy = 14 - m["m10"] / m["m00"], 14 - m["m01"] / m["m00"]
        shift = np.float32([[1, 0, dx], [0, 1, dy]])
        canvas = cv2.warpAffine(canvas, shift, (28, 28), flags=cv2.INTER_LINEAR)
    if deskew:
        canvas = deskewed(canvas)
    return np.clip(canvas, 0, 255).astype(np.uint8)


def deskewed(image: np.ndarray) -> np.ndarray:
    """Undo a slant by the image's second moments (the classic MNIST deskew)."""
    m = cv2.moments(image)
    if abs(m["mu02"]) < 1e-2:
        return image
    skew = m["mu11"] / m["mu02"]
    warp = np.float32([[1, skew, -0.5 * 28 * skew], [0, 1, 0]])
    return cv2.warpAffine(image, warp, (28, 28), flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR)


def _digit_mask(labels: np.ndarray, group: Group) -> np.ndarray:
    x, y, w, h = group.box
    crop = labels[y : y + h, x : x + w]
    return np.isin(crop, group.labels).astype(np.uint8) * 255


def _original_box(group: Group, scale: float, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    x, y, w, h = group.box
    x0, y0 = int(x / scale), int(y / scale)
    x1, y1 = (
        min(shape[1], int(np.ceil((x + w) / scale))),
        min(shape[0], int(np.ceil((y + h) / scale))),
    )
    return x0, y0, x1 - x0, y1 - y0


def _ink_groups(image: np.ndarray, config: PhotoConfig, name: str | None):
    """(gray, scale, labels, groups) of a photo; with a name, no digit raises NoDigitError."""
    gray = to_gray(image)
    if min(gray.shape) < MIN_SIDE:
        if name is not None:
            h, w = gray.shape
            raise ImageError(f"{name}: image is {w}x{h} pixels, too small to hold a digit")
        return gray, 1.0, None, []
    work, scale = working_copy(gray, config)
    flat = ink_image(work)
    if percentiles(flat, (99.9,))[0] < config.min_contrast:  # a blank page, a uniform colour, noise
        if name is not None:
            raise NoDigitError(f"{name}: no digit found (blank or uniform image)")
        return gray, scale, None, []
    labels, groups = group_digits(ink_mask(flat, config), config.segment)
    if not groups and name is not None:
        raise NoDigitError(f"{name}: no digit found")
    return gray, scale, labels, groups


def _crop(labels: np.ndarray, group: Group, scale: float, shape, config: PhotoConfig) -> DigitCrop:
    digit = mnist_box(even_strokes(_digit_mask(labels, group)), config.deskew)
    return DigitCrop(_original_box(group, scale, shape), digit)


def find_digits(image: np.ndarray, config: PhotoConfig = PhotoConfig(), name: str | None = None) -> list[DigitCrop]:
    """Every digit in a photo, left to right, each as an MNIST-like 28x28.

    When there is none: [] without a name (a video frame), NoDigitError naming `name` with one.
    """
    gray, scale, labels, groups = _ink_groups(image, config, name)
    return [_crop(labels, g, scale, gray.shape, config) for g in groups]


def prepare(image: np.ndarray, config: PhotoConfig = PhotoConfig(), name: str = "image") -> DigitCrop:
    """A photo of one digit -> its MNIST-like 28x28; raises NoDigitError when there is none.

    All the digit-like ink is taken together, so a digit in broken strokes stays one.
    """
    gray, scale, labels, groups = _ink_groups(image, config, name)
    whole = groups[0]
    for g in groups[1:]:
        whole.absorb(g)
    return _crop(labels, whole, scale, gray.shape, config)
