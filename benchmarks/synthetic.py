"""MNIST digits rendered as a phone or webcam would see them on paper, numpy + OpenCV only.

Dark ink on light paper, ballpoint to marker strokes, uneven light and soft
shadows, sometimes the paper's edge and the table beyond it, faint show-through,
small rotations, blur, sensor noise and JPEG artefacts, at sizes from ~40 px to
~3000 px. Realistic, not adversarial: a person reads every image at a glance.
Seeded and deterministic; shared by the tests, the benchmarks, the browser test and
`digitedge data samples`. It needs OpenCV (the edge extra), so it lives here, not in the
numpy-only core.
Images are uint8 RGB arrays; `write_image` saves them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


@dataclass(frozen=True)
class Photo:
    image: np.ndarray  # (H, W, 3) uint8 RGB
    text: str  # the digits shown, left to right
    boxes: list[tuple[int, int, int, int]]  # x, y, w, h of each digit's ink


def ink_crop(digit: np.ndarray) -> np.ndarray:
    """An MNIST digit (white on black 28x28) cropped to its ink."""
    ys, xs = np.nonzero(digit > 30)
    return digit[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def stroke(digit: np.ndarray, height: int, rng: np.random.Generator) -> np.ndarray:
    """A digit as pen coverage in [0, 1] at `height` px: thin ballpoint to thick marker."""
    crop = ink_crop(digit).astype(np.float32) / 255.0
    h, w = crop.shape
    width = max(1, round(w * height / h))
    big = cv2.resize(crop, (width, height), interpolation=cv2.INTER_CUBIC)
    big = cv2.GaussianBlur(big, (0, 0), max(0.5, height / 60))
    pen = rng.choice(["ballpoint", "pen", "marker"], p=[0.3, 0.4, 0.3])
    level = {"ballpoint": 0.62, "pen": 0.45, "marker": 0.3}[pen]
    cover = np.clip((big - level) * 6 + 0.5, 0, 1)  # a threshold with a soft edge
    if pen == "ballpoint" and height > 120:
        r = max(1, height // 120)  # thinner still on big images
        cover = cv2.erode(cover, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
        if cover.max() < 0.5:
            cover = np.clip((big - 0.45) * 6 + 0.5, 0, 1)
    return cover


def place(cover: np.ndarray, canvas: np.ndarray, x: int, y: int) -> None:
    h, w = cover.shape
    canvas[y : y + h, x : x + w] = np.maximum(canvas[y : y + h, x : x + w], cover)


def lighting(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Paper brightness in [0, 1]: a gradient from one side, maybe a soft shadow."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * xx / w + np.sin(angle) * yy / h
    ramp = (ramp - ramp.min()) / max(1e-6, np.ptp(ramp))
    light = 1.0 - rng.uniform(0.05, 0.35) * ramp
    if rng.random() < 0.4:  # the shadow of a hand or a phone, soft-edged
        a2 = rng.uniform(0, 2 * np.pi)
        edge = np.cos(a2) * (xx - w * rng.uniform(0.2, 0.8)) + np.sin(a2) * (yy - h * rng.uniform(0.2, 0.8))
        soft = max(h, w) * rng.uniform(0.05, 0.2)
        light *= 1.0 - rng.uniform(0.15, 0.35) / (1.0 + np.exp(-edge / soft))
    return light


def paper_photo(
    cover: np.ndarray,
    rng: np.random.Generator,
    show_through: np.ndarray | None = None,
    ruling: np.ndarray | None = None,
    colours: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Ink coverage on paper (ruled when `ruling` has the lines' coverage), lit unevenly:
    an RGB float image in [0, 255]. `colours` (paper RGB, ink RGB) replaces the random ones."""
    h, w = cover.shape
    paper = np.array([rng.uniform(200, 245)] * 3) * np.array([1.0, rng.uniform(0.96, 1.0), rng.uniform(0.88, 1.0)])
    ink = np.array(rng.choice([[30, 30, 35], [25, 35, 110], [45, 45, 50], [20, 20, 20]])) + rng.uniform(0, 30)
    if colours is not None:  # drawn above all the same, so every other photo of a seed stays the same
        paper, ink = (np.asarray(c, np.float64) for c in colours)
    texture = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), max(1, min(h, w) / 50))
    texture *= 4.0 / max(1e-6, texture.std())
    cover = cover[..., None]
    if ruling is not None:  # a notebook's pale blue lines, under the ink
        paper = paper * (1 - ruling[..., None]) + np.array([150.0, 175.0, 225.0]) * ruling[..., None]
    image = paper * (1 - cover) + ink * cover + texture[..., None]
    if show_through is not None:  # the back of the sheet, mirrored and faint
        image -= (paper - ink) * rng.uniform(0.05, 0.12) * show_through[..., None]
    return image * lighting(h, w, rng)[..., None]


def with_table(image: np.ndarray, margins: list[int], rng: np.random.Generator) -> np.ndarray:
    """The paper's edge with a darker table beyond it, inside the margin of one side."""
    h, w = image.shape[:2]
    side = int(rng.integers(4))  # left, top, right, bottom
    depth = rng.uniform(0.2, 0.6) * margins[side] / (w if side % 2 == 0 else h)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    tilt = rng.uniform(-0.02, 0.02)
    dist = [
        xx / w + tilt * yy / h,
        yy / h + tilt * xx / w,
        1 - xx / w + tilt * yy / h,
        1 - yy / h + tilt * xx / w,
    ][side]
    table = dist < depth
    colour = np.array(rng.choice([[90, 70, 50], [60, 60, 65], [120, 100, 80]]), np.float32)
    image = image.copy()
    image[table] = colour + rng.normal(0, 4, (int(table.sum()), 3))
    return image


def camera(image: np.ndarray, out_side: int, angle: float, rng: np.random.Generator, jpeg: bool = True) -> np.ndarray:
    """Rotate a little, defocus, resize to the final resolution, add sensor noise, compress."""
    h, w = image.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    image = cv2.warpAffine(image.astype(np.float32), turn, (w, h), borderMode=cv2.BORDER_REPLICATE)
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 1.0) * max(1.0, max(h, w) / 400))
    scale = out_side / max(h, w)
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    image = np.clip(image, 0, 255).astype(np.uint8)  # resizing bytes is several times faster
    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    # Noise at up to 800 px, enlarged: a big sensor's noise is smoothed by its processing anyway.
    k = min(1.0, 800 / max(size))
    shape = (max(1, round(size[1] * k)), max(1, round(size[0] * k)), 3)
    noise = (rng.standard_normal(shape, dtype=np.float32) * np.float32(rng.uniform(2, 7))).astype(np.int16)
    if k < 1.0:
        noise = cv2.resize(noise, size, interpolation=cv2.INTER_NEAREST)
    image = np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    if jpeg:
        quality = int(rng.integers(45, 95))
        ok, data = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]
    return np.ascontiguousarray(image)


def ruling(shape: tuple[int, int], height: int, seed: int) -> np.ndarray:
    """Coverage of a notebook's horizontal lines, about a digit's height apart (own generator,
    so ruled and plain renderings of a seed differ only by the lines)."""
    rng = np.random.default_rng(seed + 7_000_000)
    lines = np.zeros(shape, np.float32)
    pitch = height * rng.uniform(0.7, 1.1)
    thick = max(1, round(height / 70))
    for y in np.arange(rng.uniform(0, pitch), shape[0], pitch):
        lines[int(y) : int(y) + thick] = rng.uniform(0.5, 0.9)
    return lines


def render_number(
    digits: list[np.ndarray],
    labels: list[int],
    seed: int,
    out_side: int | None = None,
    base_height: int | None = None,
    ruled: bool = False,
    gap: tuple[float, float] = (0.12, 0.5),
) -> Photo:
    """Digits written in a row on paper and photographed; one digit when the lists have one."""
    rng = np.random.default_rng(seed)
    height = base_height or int(rng.integers(60, 200))
    covers = [stroke(d, max(12, round(height * rng.uniform(0.9, 1.1))), rng) for d in digits]
    gaps = [round(height * rng.uniform(*gap)) for _ in covers[1:]]
    margin = [round(height * rng.uniform(0.25, 0.9)) for _ in range(4)]  # left, top, right, bottom
    jitter = [round(height * rng.uniform(-0.06, 0.06)) for _ in covers]
    ink_width = sum(c.shape[1] for c in covers) + sum(gaps)
    angle = rng.uniform(-8, 8) if len(digits) == 1 else rng.uniform(-3, 3)
    lift = round(ink_width / 2 * np.sin(np.radians(abs(angle))))  # a turned row's ends rise and fall
    margin[1], margin[3] = margin[1] + lift, margin[3] + lift
    width = margin[0] + margin[2] + ink_width
    total_h = margin[1] + margin[3] + max(c.shape[0] + j for c, j in zip(covers, jitter)) - min(0, *jitter)
    canvas = np.zeros((total_h, width), np.float32)
    boxes, x = [], margin[0]
    for i, c in enumerate(covers):
        y = margin[1] + jitter[i] - min(0, *jitter)
        place(c, canvas, x, y)
        boxes.append((x, y, c.shape[1], c.shape[0]))
        x += c.shape[1] + (gaps[i] if i < len(gaps) else 0)
    back = cv2.flip(cv2.GaussianBlur(canvas, (0, 0), height / 25), 1) if rng.random() < 0.3 else None
    lines = ruling(canvas.shape, height, seed) if ruled else None
    image = paper_photo(canvas, rng, back, lines)
    if rng.random() < 0.3:
        image = with_table(image, margin, rng)
    side = out_side or int(
        rng.choice(
            [rng.integers(40, 120), rng.integers(120, 800), rng.integers(800, 3000)],
            p=[0.15, 0.6, 0.25],
        )
    )
    if len(digits) > 1:
        side = max(side, 36 * len(digits))  # each digit stays at least MNIST-sized
    final = camera(image, side, angle, rng)
    k = final.shape[1] / width
    return Photo(final, "".join(str(v) for v in labels), [tuple(round(v * k) for v in b) for b in boxes])


def digit_photo(
    images: np.ndarray,
    labels: np.ndarray,
    index: int,
    seed: int | None = None,
    out_side: int | None = None,
    ruled: bool = False,
) -> Photo:
    """One MNIST digit (by index) as a photo; on ruled notebook paper with `ruled`."""
    seed = index if seed is None else seed
    return render_number([images[index]], [int(labels[index])], seed, out_side, ruled=ruled)


def number_photo(
    images: np.ndarray,
    labels: np.ndarray,
    seed: int,
    count: int | None = None,
    out_side: int | None = None,
    ruled: bool = False,
    gap: tuple[float, float] = (0.12, 0.5),
) -> Photo:
    """3 to 6 random MNIST digits written in a row, as a photo; on ruled paper with `ruled`.
    `gap` is the range of the space between digits' ink, in digit heights (negative: touching)."""
    rng = np.random.default_rng(10_000 + seed)
    count = count or int(rng.integers(3, 7))
    picks = rng.choice(len(images), count, replace=False)
    return render_number(
        [images[i] for i in picks], [int(labels[i]) for i in picks], seed, out_side, ruled=ruled, gap=gap
    )


def write_image(path: str | Path, rgb: np.ndarray, quality: int = 92) -> Path:
    """Save an RGB array (the format from the extension)."""
    path = Path(path)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix.lower() in (".jpg", ".jpeg") else []
    bgr = rgb[..., ::-1] if rgb.ndim == 3 else rgb
    if not cv2.imwrite(str(path), np.ascontiguousarray(bgr), params):
        raise OSError(f"{path}: OpenCV could not write this image")
    return path


def scene(photo: np.ndarray, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A photo of paper laid on a table, filling most of a (width, height) frame."""
    width, height = size
    table = np.empty((height, width, 3), np.uint8)
    table[:] = rng.choice([[90, 70, 50], [60, 60, 65], [120, 100, 80]])
    h, w = photo.shape[:2]
    k = min(0.92 * width / w, 0.9 * height / h)
    paper = cv2.resize(photo, (round(w * k), round(h * k)), interpolation=cv2.INTER_AREA)
    y, x = (height - paper.shape[0]) // 2, (width - paper.shape[1]) // 2
    table[y : y + paper.shape[0], x : x + paper.shape[1]] = paper
    return table


def write_video(
    path: str | Path,
    numbers: list[tuple[list[np.ndarray], str]],
    frames_each: int = 12,
    fps: int = 10,
    size: tuple[int, int] = (640, 480),
    seed: int = 0,
) -> list[tuple[int, int, str]]:
    """A clip of a camera held over paper, showing each number (its MNIST digit images and its
    text) for `frames_each` frames, with hand shake and sensor noise; returns (first frame,
    last frame, text) per number, frames counted from 1. Codec from the extension: .mp4 is
    mp4v, .avi is MJPG (both work in opencv-python-headless)."""
    path = Path(path)
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix.lower() == ".avi" else "mp4v"))
    writer = cv2.VideoWriter(str(path), fourcc, fps, size)
    if not writer.isOpened():
        raise OSError(f"{path}: OpenCV cannot write this video")
    rng = np.random.default_rng(seed)
    shown, frame_no = [], 0
    try:
        for i, (digits, text) in enumerate(numbers):
            photo = render_number(digits, [int(c) for c in text], seed * 100 + i, out_side=size[0], base_height=120)
            still = scene(photo.image, size, rng)
            for _ in range(frames_each):
                dx, dy = rng.normal(0, 3, 2)  # the hand holding the camera
                shake = np.float32([[1, 0, dx], [0, 1, dy]])
                frame = cv2.warpAffine(still, shake, size, borderMode=cv2.BORDER_REPLICATE)
                noise = rng.normal(0, 3, frame.shape)
                frame = np.clip(frame + noise, 0, 255).astype(np.uint8)
                writer.write(np.ascontiguousarray(frame[..., ::-1]))
            shown.append((frame_no + 1, frame_no + frames_each, text))
            frame_no += frames_each
    finally:
        writer.release()
    return shown
