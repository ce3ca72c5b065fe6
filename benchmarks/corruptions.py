"""MNIST-C's 15 corruptions and graded sweeps of what a camera meets, as small pure functions.

MNIST-C (Mu & Gilmer, 2019, arXiv:1906.02337) corrupts the MNIST test set 15 ways. The
functions here are written from the paper's descriptions with numpy and OpenCV only (no
TensorFlow, no scikit-image), so they run on the device too. They follow the paper's
recipes, not its code bit for bit: glass blur shuffles each pixel with a random neighbour
at once instead of one swap after another, fog uses summed octaves of smoothed noise
instead of the diamond-square plasma, and motion blur is a line kernel instead of
ImageMagick's. Numbers are therefore close to, not identical with, published MNIST-C ones.

Every function has the form ``f(images, severity, rng) -> images``: uint8 images of
shape (n, 28, 28) in, new uint8 images of the same shape out (the input is never
modified). ``severity`` is 1 (mild) to 5 (strong); 0 returns an unchanged copy. All
randomness comes from ``rng`` (a numpy Generator), so a seed gives the same images.
CORRUPTIONS maps each name to (function, the severity the benchmark uses, description).

SWEEPS are graded versions of the ones a camera meets most (noise, blur, rotation,
scale, stroke thickness, contrast, light-on-dark): ``f(images, value, rng)`` with
``value`` in the sweep's own unit; the sweep's identity value returns an unchanged copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

SIDE = 28
CENTER = (SIDE - 1) / 2.0


def _check(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise ValueError(f"expected uint8 images of shape (n, 28, 28), got {images.dtype} {images.shape}")
    return images


def _to_uint8(x: np.ndarray) -> np.ndarray:
    """Floats in [0, 255] (any range, clipped) -> uint8, rounded."""
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def _level(table, severity: int):
    if not 1 <= severity <= len(table):
        raise ValueError(f"severity {severity}: must be 0 to {len(table)}")
    return table[severity - 1]


def _signs(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(np.array([-1.0, 1.0]), size=n)


def _warp(images: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Each image through its 2x3 affine matrix (destination <- source), black outside."""
    out = np.empty_like(images)
    for i, (img, m) in enumerate(zip(images, matrices)):
        out[i] = cv2.warpAffine(img, m, (SIDE, SIDE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                borderValue=0)
    return out


def _about_center(linear: np.ndarray) -> np.ndarray:
    """A 2x3 affine matrix applying `linear` (2x2) about the image centre."""
    c = np.array([CENTER, CENTER])
    return np.hstack([linear, (c - linear @ c)[:, None]])


# ---- the 15 MNIST-C corruptions -----------------------------------------------------------


def shot_noise(images, severity, rng):
    """Poisson noise: each pixel a photon count with mean pixel * c, scaled back."""
    c = _level([60, 25, 12, 5, 3], severity)
    x = images.astype(np.float64) / 255.0
    return _to_uint8(rng.poisson(x * c) / c * 255.0)


def impulse_noise(images, severity, rng):
    """Salt and pepper: a share of the pixels set to black or white."""
    amount = _level([0.03, 0.06, 0.09, 0.17, 0.27], severity)
    out = images.copy()
    hit = rng.random(images.shape) < amount
    salt = rng.random(images.shape) < 0.5
    out[hit & salt] = 255
    out[hit & ~salt] = 0
    return out


def _gaussian(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_CONSTANT)


def glass_blur(images, severity, rng):
    """Blur, shuffle pixels with random neighbours (frosted glass), blur again."""
    sigma, delta, iterations = _level([(0.7, 1, 2), (0.9, 2, 1), (1.0, 2, 3), (1.1, 3, 2), (1.5, 4, 2)], severity)
    x = np.stack([_gaussian(img.astype(np.float32), sigma) for img in images])
    n = len(images)
    rows, cols = np.meshgrid(np.arange(SIDE), np.arange(SIDE), indexing="ij")
    index = np.arange(n)[:, None, None]
    for _ in range(iterations):
        dy = rng.integers(-delta, delta + 1, size=x.shape)
        dx = rng.integers(-delta, delta + 1, size=x.shape)
        x = x[index, np.clip(rows + dy, 0, SIDE - 1), np.clip(cols + dx, 0, SIDE - 1)]
    return _to_uint8(np.stack([_gaussian(img, sigma) for img in x]))


def _motion_kernel(length: int, angle: float) -> np.ndarray:
    k = np.zeros((length, length), np.float32)
    k[length // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D(((length - 1) / 2.0, (length - 1) / 2.0), angle, 1.0)
    k = cv2.warpAffine(k, rot, (length, length))
    return k / k.sum()


def motion_blur(images, severity, rng):
    """A straight-line motion blur at a random angle."""
    length = _level([3, 5, 7, 9, 11], severity)
    angles = rng.uniform(-45, 45, len(images))
    out = np.empty_like(images)
    for i, (img, a) in enumerate(zip(images, angles)):
        out[i] = cv2.filter2D(img, -1, _motion_kernel(length, a), borderType=cv2.BORDER_CONSTANT)
    return out


def shear(images, severity, rng):
    """Horizontal shear about the centre, either way."""
    s = _level([0.2, 0.4, 0.6, 0.8, 1.0], severity) * _signs(rng, len(images))
    return _warp(images, np.stack([_about_center(np.array([[1.0, k], [0.0, 1.0]])) for k in s]))


def scale(images, severity, rng):
    """Shrink about the centre (MNIST-C scales digits down)."""
    f = _level([0.9, 0.8, 0.7, 0.6, 0.5], severity)
    return _warp(images, np.repeat(_about_center(np.eye(2) * f)[None], len(images), axis=0))


def _rotation_matrices(degrees: np.ndarray) -> np.ndarray:
    return np.stack([cv2.getRotationMatrix2D((CENTER, CENTER), float(a), 1.0) for a in degrees])


def rotate(images, severity, rng):
    """Rotation about the centre, either way."""
    degrees = _level([10, 20, 30, 40, 50], severity) * _signs(rng, len(images))
    return _warp(images, _rotation_matrices(degrees))


def brightness(images, severity, rng):
    """Every pixel brighter by the same amount (MNIST-C adds to HSV's value channel)."""
    c = _level([0.1, 0.2, 0.3, 0.4, 0.5], severity)
    return _to_uint8(images.astype(np.float32) + 255.0 * c)


def translate(images, severity, rng):
    """A shift of fixed length in a random direction; parts may leave the image."""
    d = _level([2, 3, 4, 5, 6], severity)
    angle = rng.uniform(0, 2 * np.pi, len(images))
    m = np.zeros((len(images), 2, 3))
    m[:, 0, 0] = m[:, 1, 1] = 1.0
    m[:, 0, 2], m[:, 1, 2] = d * np.cos(angle), d * np.sin(angle)
    return _warp(images, m)


def stripe(images, severity, rng):
    """A vertical or horizontal band near the middle with its pixels inverted."""
    width = _level([2, 3, 4, 5, 6], severity)
    out = images.copy()
    start = rng.integers(SIDE // 2 - 4, SIDE // 2 + 4 - width + 1, len(images))
    vertical = rng.random(len(images)) < 0.5
    for i, (s, v) in enumerate(zip(start, vertical)):
        band = out[i][:, s : s + width] if v else out[i][s : s + width, :]
        band[...] = 255 - band
    return out


def _fractal(rng: np.random.Generator, n: int, decay: float) -> np.ndarray:
    """Smooth cloudy noise in [0, 1]: octaves of random grids, upsampled and summed."""
    total = np.zeros((n, SIDE, SIDE), np.float32)
    amp = 1.0
    for cells in (2, 4, 8, 16):
        grid = rng.random((n, cells, cells)).astype(np.float32)
        total += amp * np.stack([cv2.resize(g, (SIDE, SIDE), interpolation=cv2.INTER_CUBIC) for g in grid])
        amp /= decay
    total -= total.min(axis=(1, 2), keepdims=True)
    return total / np.maximum(total.max(axis=(1, 2), keepdims=True), 1e-6)


def fog(images, severity, rng):
    """A cloudy haze added, then the contrast brought back into range (ImageNet-C's fog)."""
    strength, decay = _level([(0.2, 3.0), (0.5, 3.0), (0.75, 2.5), (1.0, 2.0), (1.5, 1.75)], severity)
    x = images.astype(np.float32) / 255.0
    peak = x.max(axis=(1, 2), keepdims=True)
    x = (x + strength * _fractal(rng, len(images), decay)) * peak / (peak + strength)
    return _to_uint8(x * 255.0)


def spatter(images, severity, rng):
    """Splashes: blobs from thresholded, blurred noise, added as bright spots."""
    sigma, threshold, opacity = _level([(1.0, 0.75, 0.6), (1.0, 0.7, 0.7), (1.2, 0.68, 0.8), (1.5, 0.66, 0.9),
                                        (1.5, 0.63, 1.0)], severity)
    noise = rng.normal(0.5, 0.3, images.shape).astype(np.float32)
    blobs = np.stack([_gaussian(z, sigma) for z in noise])
    blobs = (blobs - blobs.mean(axis=(1, 2), keepdims=True)) / blobs.std(axis=(1, 2), keepdims=True) * 0.1 + 0.5
    mask = np.clip((blobs - threshold) / 0.05, 0, 1)
    return _to_uint8(np.maximum(images.astype(np.float32), 255.0 * opacity * mask))


def _line_ends(rng: np.random.Generator) -> tuple[tuple[int, int], tuple[int, int]]:
    """Two points on opposite (random) sides of the image: a line across it."""
    a, b = rng.integers(0, SIDE, 2)
    if rng.random() < 0.5:
        return (0, int(a)), (SIDE - 1, int(b))
    return (int(a), 0), (int(b), SIDE - 1)


def dotted_line(images, severity, rng):
    """A white dotted line across the image."""
    lines = _level([1, 1, 2, 2, 3], severity)
    step = _level([4, 3, 4, 3, 3], severity)
    out = images.copy()
    for img in out:
        for _ in range(lines):
            (x0, y0), (x1, y1) = _line_ends(rng)
            for t in np.linspace(0, 1, SIDE)[::step]:
                img[int(round(y0 + t * (y1 - y0))), int(round(x0 + t * (x1 - x0)))] = 255
    return out


def zigzag(images, severity, rng):
    """A white zigzag line across the image."""
    lines = _level([1, 1, 2, 2, 3], severity)
    amplitude = _level([2, 3, 3, 4, 4], severity)
    out = images.copy()
    for img in out:
        for _ in range(lines):
            (x0, y0), (x1, y1) = _line_ends(rng)
            t = np.linspace(0, 1, 8)
            px, py = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
            # zig and zag perpendicular to the line
            nx, ny = -(y1 - y0), x1 - x0
            norm = np.hypot(nx, ny) or 1.0
            off = amplitude * np.where(np.arange(8) % 2, 1.0, -1.0)
            pts = np.stack([px + off * nx / norm, py + off * ny / norm], axis=1)
            cv2.polylines(img, [np.round(pts).astype(np.int32)], False, 255, 1, lineType=cv2.LINE_8)
    return out


def canny_edges(images, severity, rng):
    """Only the digit's outline: Canny edges of the (slightly blurred) image."""
    sigma = _level([0.5, 0.75, 1.0, 1.25, 1.5], severity)
    out = np.empty_like(images)
    for i, img in enumerate(images):
        blurred = cv2.GaussianBlur(img, (0, 0), sigma)
        out[i] = cv2.Canny(blurred, 50, 150)
    return out


Corruption = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


def _identity_at_zero(f: Corruption) -> Corruption:
    def corrupt(images, severity, rng):
        images = _check(images)
        if severity == 0:
            return images.copy()
        return f(images, severity, rng)

    corrupt.__name__, corrupt.__doc__ = f.__name__, f.__doc__
    return corrupt


# name -> (function, the severity of the benchmark, one line for tables). The benchmark's
# severities are chosen as in MNIST-C: strong enough to hurt, mild enough that a person
# still reads every digit.
CORRUPTIONS: dict[str, tuple[Corruption, int, str]] = {
    "shot_noise": (shot_noise, 4, "Poisson noise"),
    "impulse_noise": (impulse_noise, 3, "salt and pepper, 9% of pixels"),
    "glass_blur": (glass_blur, 1, "blur, local pixel shuffle, blur"),
    "motion_blur": (motion_blur, 2, "5-px line blur at a random angle"),
    "shear": (shear, 3, "shear 0.6 either way"),
    "scale": (scale, 4, "shrunk to 60%"),
    "rotate": (rotate, 3, "rotated 30 degrees either way"),
    "brightness": (brightness, 4, "+40% brightness"),
    "translate": (translate, 3, "shifted 4 px"),
    "stripe": (stripe, 2, "an inverted 3-px band"),
    "fog": (fog, 4, "cloudy haze"),
    "spatter": (spatter, 3, "bright splashes"),
    "dotted_line": (dotted_line, 2, "a dotted line across"),
    "zigzag": (zigzag, 2, "a zigzag line across"),
    "canny_edges": (canny_edges, 3, "outline only (Canny)"),
}
CORRUPTIONS = {k: (_identity_at_zero(f), s, d) for k, (f, s, d) in CORRUPTIONS.items()}


def corrupt(name: str, images: np.ndarray, severity: int | None = None, seed: int = 0) -> np.ndarray:
    """One named corruption at the benchmark's severity (or the given one), seeded by name and seed."""
    if name not in CORRUPTIONS:
        raise KeyError(f"unknown corruption {name!r}: choose {', '.join(CORRUPTIONS)}")
    f, default, _ = CORRUPTIONS[name]
    return f(images, default if severity is None else severity, rng_for(name, seed))


def rng_for(name: str, seed: int, value: float = 0.0) -> np.random.Generator:
    """A generator of its own for each (corruption, seed, level): results do not depend on order."""
    key = [seed, *name.encode(), int(round(float(value) * 1000)) & 0xFFFFFFFF]
    return np.random.default_rng(key)


# ---- graded sweeps -------------------------------------------------------------------------


def sweep_noise(images, sigma, rng):
    """Gaussian noise of standard deviation sigma (in units of full white)."""
    return _to_uint8(images.astype(np.float32) + rng.normal(0, 255.0 * sigma, images.shape))


def sweep_blur(images, sigma, rng):
    """Gaussian blur (an out-of-focus camera) of this sigma in pixels."""
    return _to_uint8(np.stack([_gaussian(img.astype(np.float32), sigma) for img in images]))


def sweep_rotation(images, degrees, rng):
    return _warp(images, _rotation_matrices(degrees * _signs(rng, len(images))))


def sweep_scale(images, factor, rng):
    """The digit scaled about the centre: below 1 smaller (far away), above 1 larger (cut at the edges)."""
    return _warp(images, np.repeat(_about_center(np.eye(2) * factor)[None], len(images), axis=0))


def sweep_thickness(images, pixels, rng):
    """Thicker (dilated, > 0) or thinner (eroded, < 0) strokes, by this many 3x3 steps."""
    k = int(round(pixels))
    kernel = np.ones((3, 3), np.uint8) if abs(k) else None
    op = cv2.dilate if k > 0 else cv2.erode
    return np.stack([op(img, kernel, iterations=abs(k)) for img in images])


def sweep_contrast(images, factor, rng):
    """Contrast times factor about each image's mean: faint ink on grey."""
    x = images.astype(np.float32)
    mean = x.mean(axis=(1, 2), keepdims=True)
    return _to_uint8(mean + (x - mean) * factor)


def sweep_polarity(images, level, rng):
    """From white-on-black (0) via a lifted background (1-2) to dark ink on light paper (3-4)."""
    background, ink = {1: (64, 255), 2: (128, 255), 3: (192, 64), 4: (255, 0)}[int(level)]
    x = images.astype(np.float32) / 255.0
    return _to_uint8(background + (ink - background) * x)


@dataclass(frozen=True)
class Sweep:
    function: Callable[[np.ndarray, float, np.random.Generator], np.ndarray]
    unit: str  # the x axis of the plot
    values: tuple  # levels, identity first
    quick_values: tuple
    identity: float

    def apply(self, images: np.ndarray, value: float, rng: np.random.Generator) -> np.ndarray:
        images = _check(images)
        if value == self.identity:
            return images.copy()
        return self.function(images, value, rng)


SWEEPS: dict[str, Sweep] = {
    "noise": Sweep(sweep_noise, "Gaussian noise sigma (of white)", (0, 0.1, 0.2, 0.3, 0.4, 0.5), (0, 0.2, 0.4), 0),
    "blur": Sweep(sweep_blur, "Gaussian blur sigma (px)", (0, 0.5, 1.0, 1.5, 2.0, 2.5), (0, 1.0, 2.0), 0),
    "rotation": Sweep(sweep_rotation, "rotation (degrees, either way)", (0, 15, 30, 45, 60, 75), (0, 30, 60), 0),
    "scale": Sweep(sweep_scale, "scale factor", (0.4, 0.55, 0.7, 0.85, 1.0, 1.15, 1.3), (0.55, 1.0, 1.3), 1.0),
    "thickness": Sweep(sweep_thickness, "stroke change (3x3 erode < 0 < dilate steps)", (-2, -1, 0, 1, 2, 3),
                       (-1, 0, 2), 0),
    "contrast": Sweep(sweep_contrast, "contrast factor", (1.0, 0.5, 0.25, 0.12, 0.06, 0.03), (1.0, 0.25, 0.06),
                      1.0),
    "polarity": Sweep(sweep_polarity, "0 white on black .. 4 black on white", (0, 1, 2, 3, 4), (0, 2, 4), 0),
}


def sweep(name: str, images: np.ndarray, value: float, seed: int = 0) -> np.ndarray:
    return SWEEPS[name].apply(images, value, rng_for(f"sweep:{name}", seed, value))
