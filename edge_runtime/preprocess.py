"""The model's input contract, defined once: training and the device both call these.

A model input is a 28x28x1 image, white digit on black as in MNIST, float32 in
[0, 1] (pixel / 255). An int8 model takes the uint8 pixel itself: its input
quantization (scale 1/255, zero point 0) makes the two the same number.

A real photo is brought to that contract the way MNIST itself was made: find the
ink, crop the digit, scale it to fit 20x20 keeping its aspect ratio, and place it
in 28x28 with its centre of mass at the centre.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from digitedge.errors import ImageError, NoDigitError

from .polarity import ink_is_dark
from .profile import OFF
from .segment import Group, SegmentConfig, group_labelled, label, members

INPUT_SHAPE = (28, 28, 1)
# Bumped whenever what the model is fed changes; stored in every .tflite's metadata.
PREPROCESSING_VERSION = "mnist-v1"
FIT_SIZE = 20  # MNIST digits fit a 20x20 box inside the 28x28 image
MIN_SIDE = 8  # pixels: smaller arrays cannot hold a digit
# MNIST's stroke width as a part of the digit's longer side (median 0.11 over the
# test set, measured as 2*area/perimeter); photos are brought near it.
STROKE_RANGE = (0.08, 0.2)
STROKE_TARGET = 0.11
FINE_HEIGHT = 40  # px on the small copy: a shorter digit is cut again at work_side
BRIDGE = 0.1  # a broken digit's gaps this wide (part of its height) are closed (photo suite: 0.06-0.1)
MAX_PIECES = 12  # a digit in more pieces than this is not bridged


def normalize(images: np.ndarray) -> np.ndarray:
    """uint8 MNIST-style images (..., 28, 28) or (..., 28, 28, 1) -> float32 (..., 28, 28, 1) in [0, 1]."""
    images = np.asarray(images)
    if images.shape[-1] != 1:
        images = images[..., np.newaxis]
    return images.astype(np.float32) / 255.0


@dataclass(frozen=True)
class PhotoConfig:
    work_side: int = 400  # digits are cut at this shorter side (px; what a file is decoded at) ...
    max_work_side: int = 1600  # ... and its longer side at most this
    find_side: int = 160  # the ink is found and segmented on a copy this small (shorter side, px)
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


def working_copy(gray: np.ndarray, config: PhotoConfig, side: int | None = None) -> tuple[np.ndarray, float]:
    """The image at the working resolution (shorter side `side`, else work_side), and the factor
    from original to working pixels."""
    h, w = gray.shape
    scale = work_scale(gray.shape, config, side)
    if side is not None and scale < 1:  # reduced by a whole factor: OpenCV's fast INTER_AREA
        f = max(1, int(1 / scale))     # (up to twice `side`: the rest of the frame is dropped)
        size = (w // f, h // f)
        return cv2.resize(gray[: size[1] * f, : size[0] * f], size, interpolation=cv2.INTER_AREA), 1 / f
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(gray, size, interpolation=interp), scale


def work_scale(shape: tuple[int, int], config: PhotoConfig, side: int | None = None) -> float:
    h, w = shape[:2]
    return min((side or config.work_side) / min(h, w), config.max_work_side / max(h, w))


def _blank(flat: np.ndarray, contrast: int) -> bool:
    """Is the 99.9th percentile under `contrast`? Counted, not read from a histogram."""
    below = flat.size - cv2.countNonZero(cv2.compare(flat, contrast, cv2.CMP_GE))
    return below >= 99.9 / 100 * (flat.size - 1) + 1  # polarity._percentiles_of's very rank


def _flatten(gray: np.ndarray, photo: np.ndarray | None = None) -> tuple[np.ndarray, bool, np.ndarray]:
    """(ink bright on black with the paper's uneven light removed, dark ink?, the background that
    was subtracted) of `gray`, a reduced copy of `photo` when given (whose own pixels judge the
    polarity). The background is the image with every stroke-sized bright thing opened away."""
    dark = ink_is_dark(gray) if photo is None else ink_is_dark(photo, gray)
    ink = cv2.bitwise_not(gray) if dark else gray
    light = background(ink)
    return _blurred(cv2.subtract(ink, light), min(gray.shape)), dark, light


def _blurred(flat: np.ndarray, side: int) -> np.ndarray:
    blur = max(3, side // 150) | 1  # tames sensor noise and JPEG blocks
    return cv2.GaussianBlur(flat, (blur, blur), 0)


def background(ink: np.ndarray) -> np.ndarray:
    """The paper's light: `ink` opened by a square wider than any stroke (a flat element leaves
    gradients and broad shadows intact). It runs on the small copy (on a copy halved again, or
    min-pooled, faint pencil is lost: measured on the photo suite)."""
    h, w = ink.shape
    k = max(15, min(h, w) // 2, max(h, w) // 4) | 1
    eroded = _running(_running(ink, k, 1, cv2.min, 255), k, 0, cv2.min, 255)
    return _running(_running(eroded, k, 1, cv2.max, 0), k, 0, cv2.max, 0)


def _running(image: np.ndarray, k: int, axis: int, op, neutral: int) -> np.ndarray:
    """The min (or max) of each centred run of k pixels along an axis, the frame counted as
    `neutral`: cv2.erode/dilate by a k-long line, but in log2(k) passes of `op` over the image
    shifted by 1, 2, 4, ... (OpenCV's filter costs k per pixel: 1.5x the time at k ~ 90)."""
    r = k // 2
    runs = cv2.copyMakeBorder(image, *((0, 0, r, r) if axis else (r, r, 0, 0)), cv2.BORDER_CONSTANT, value=neutral)
    n = image.shape[axis]
    whole = (slice(None),) * axis  # the axes before `axis`, taken whole
    span = 1  # runs holds each run of `span` pixels from there on
    while 2 * span <= k:
        runs = op(runs[whole + (slice(None, -span),)], runs[whole + (slice(span, None),)])
        span *= 2
    # a k-run is two overlapping span-runs: from its start and from k - span on
    return op(runs[whole + (slice(0, n),)], runs[whole + (slice(k - span, k - span + n),)])


def ink_threshold(flat: np.ndarray, config: PhotoConfig) -> float:
    """Binary ink is found by hysteresis around Otsu's threshold, never below the minimum contrast:
    pixels above half the threshold count when they connect to pixels above it, so a faint
    ballpoint stroke stays whole without admitting the paper's noise."""
    otsu, _ = cv2.threshold(flat, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return max(otsu, config.min_contrast)


def _hysteresis(flat: np.ndarray, high: float, seed: np.ndarray | None = None) -> np.ndarray:
    """The weak ink (over high/2) connected to strong ink (over high, and within `seed` if given)."""
    labels, _, keep = _ink_components(flat, high, seed)
    return (keep * np.uint8(255))[labels]


def _ink_components(flat: np.ndarray, high: float, seed: np.ndarray | None = None):
    """(labels, stats, keep): the weak ink's components, and which of them hold strong ink."""
    labels, stats = label(cv2.compare(flat, high / 2, cv2.CMP_GT))
    strong = cv2.compare(flat, high, cv2.CMP_GT)
    if seed is not None:
        strong &= seed
    keep = np.zeros(len(stats), bool)
    x0, y0, x1, y1 = stats.box  # strong ink is weak ink too: it lies in the region labelled
    keep[labels[y0:y1, x0:x1][strong[y0:y1, x0:x1] > 0]] = True
    keep[0] = False
    return labels, stats, keep


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


@dataclass
class _Found:
    """A photo's ink, found on the small copy: what cutting each digit needs."""

    gray: np.ndarray  # the whole photo, grey
    scale: float  # original -> small copy pixels
    labels: np.ndarray | None = None  # the small copy's components
    groups: list[Group] = field(default_factory=list)
    dark: bool = True
    light: np.ndarray | None = None  # the small copy's background (ink bright)
    high: float = 0.0  # the ink threshold


def _digit_mask(labels: np.ndarray, group: Group) -> np.ndarray:
    x, y, w, h = group.box
    return members(labels[y : y + h, x : x + w], group.labels)


def _original_box(group: Group, scale: float, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    x, y, w, h = group.box
    x0, y0 = int(x / scale), int(y / scale)
    x1, y1 = (
        min(shape[1], int(np.ceil((x + w) / scale))),
        min(shape[0], int(np.ceil((y + h) / scale))),
    )
    return x0, y0, x1 - x0, y1 - y0


def _ink_groups(image: np.ndarray, config: PhotoConfig, name: str | None, timer=OFF) -> _Found:
    """The photo's ink and digits, found on a copy find_side small; with a name, no digit raises
    NoDigitError."""
    gray = to_gray(image)
    if min(gray.shape) < MIN_SIDE:
        if name is not None:
            h, w = gray.shape
            raise ImageError(f"{name}: image is {w}x{h} pixels, too small to hold a digit")
        return _Found(gray, 1.0)
    # A photo smaller than the small copy is scaled up to work_side as before: scaled up only to
    # find_side, a tiny noisy photo's noise joins the digit to the frame (the arm64 check's 64 px)
    small = min(gray.shape) < config.find_side
    work, scale = working_copy(gray, config, None if small else config.find_side)
    flat, dark, light = _flatten(work, gray)
    timer.mark("grey")
    if _blank(flat, config.min_contrast):  # a blank page, a uniform colour, noise
        if name is not None:
            raise NoDigitError(f"{name}: no digit found (blank or uniform image)")
        return _Found(gray, scale)
    high = ink_threshold(flat, config)
    labels, stats, ink = _ink_components(flat, high)  # labelled once: segmentation takes them as they are
    timer.mark("ink")
    groups = group_labelled(labels, stats, ink, config.segment)
    timer.mark("segment")
    if not groups and name is not None:
        raise NoDigitError(f"{name}: no digit found")
    return _Found(gray, scale, labels, groups, dark, light, high)


def _crop(found: _Found, group: Group, config: PhotoConfig) -> DigitCrop:
    mask = _fine_mask(found, group, config)
    if mask is None:
        mask = _digit_mask(found.labels, group)
    if len(group.labels) > 1:
        mask = _bridged(mask)
    digit = mnist_box(even_strokes(mask), config.deskew)
    return DigitCrop(_original_box(group, found.scale, found.gray.shape), digit)


def _bridged(mask: np.ndarray) -> np.ndarray:
    """A digit of several pieces with the pen's skips between them closed (up to BRIDGE of its
    height): the model never saw a gap in a stroke, and reads a broken 9 as 5. Only the gaps
    between two pieces are filled, never a piece's own curves (a closed 5 reads less like a 5)."""
    count, pieces = cv2.connectedComponents(mask, connectivity=8)
    if count <= 2 or count > MAX_PIECES:  # one piece (label 0 is the paper), or ink in crumbs
        return mask
    d = max(3, round(BRIDGE * mask.shape[0])) | 1
    padded = cv2.copyMakeBorder(mask, d, d, d, d, cv2.BORDER_CONSTANT, value=0)
    closed = cv2.morphologyEx(padded, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (d, d)))[d:-d, d:-d]
    reach = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * d + 1, 2 * d + 1))  # a whole gap from either side
    near = np.zeros(mask.shape, np.uint8)
    for i in range(1, count):
        near += cv2.dilate(cv2.compare(pieces, i, cv2.CMP_EQ), reach) // 255
    out = cv2.bitwise_or(mask, cv2.bitwise_and(closed, cv2.compare(near, 2, cv2.CMP_GE)))
    count, joined = cv2.connectedComponents(out, connectivity=8)
    touching = np.zeros(count, bool)  # a bridge that reaches no piece (an island) is not ink
    touching[joined[mask > 0]] = True
    return touching[joined].astype(np.uint8) * np.uint8(255)


def _fine_mask(found: _Found, group: Group, config: PhotoConfig) -> np.ndarray | None:
    """A digit too small on the small copy is cut again from the grey photo at work_side, with the
    same background and threshold; None when the small copy's mask is fine enough."""
    fine = work_scale(found.gray.shape, config) / found.scale  # small copy -> fine pixels
    if group.h >= FINE_HEIGHT or fine < 1.5:
        return None
    rows, cols = found.labels.shape
    m = max(2, group.h // 4)  # a margin for strokes too faint to show on the small copy
    x0, y0 = max(0, group.x - m), max(0, group.y - m)
    x1, y1 = min(cols, group.x + group.w + m), min(rows, group.y + group.h + m)
    size = (round((x1 - x0) * fine), round((y1 - y0) * fine))
    h, w = found.gray.shape
    top, left = int(y0 * h / rows), int(x0 * w / cols)
    region = found.gray[top : int(np.ceil(y1 * h / rows)), left : int(np.ceil(x1 * w / cols))]
    region = cv2.resize(region, size, interpolation=cv2.INTER_AREA if region.shape[1] > size[0] else cv2.INTER_CUBIC)
    ink = cv2.bitwise_not(region) if found.dark else region
    light = cv2.resize(found.light[y0:y1, x0:x1], size, interpolation=cv2.INTER_LINEAR)
    flat = _blurred(cv2.subtract(ink, light), round(min(found.gray.shape) * fine * found.scale))
    seed = members(found.labels[y0:y1, x0:x1], group.labels)
    seed = cv2.dilate(cv2.resize(seed, size, interpolation=cv2.INTER_NEAREST), np.ones((3, 3), np.uint8))
    mask = _hysteresis(flat, found.high, seed)
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return None
    return mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def find_digits(
    image: np.ndarray, config: PhotoConfig = PhotoConfig(), name: str | None = None, timer=OFF
) -> list[DigitCrop]:
    """Every digit in a photo, left to right, each as an MNIST-like 28x28.

    When there is none: [] without a name (a video frame), NoDigitError naming `name` with one.
    `timer` (edge_runtime.profile) is told when each stage ends.
    """
    found = _ink_groups(image, config, name, timer)
    crops = [_crop(found, g, config) for g in found.groups]
    timer.mark("crop")
    return crops


def prepare(image: np.ndarray, config: PhotoConfig = PhotoConfig(), name: str = "image", timer=OFF) -> DigitCrop:
    """A photo of one digit -> its MNIST-like 28x28; raises NoDigitError when there is none.

    All the digit-like ink is taken together, so a digit in broken strokes stays one.
    """
    found = _ink_groups(image, config, name, timer)
    whole = found.groups[0]
    for g in found.groups[1:]:
        whole.absorb(g)
    crop = _crop(found, whole, config)
    timer.mark("crop")
    return crop
