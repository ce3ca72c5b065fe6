"""The photo suite's kinds: MNIST test digits photographed the ways users do (issue #17).

Each kind is one generator, (test images, test labels, seed) -> synthetic.Photo, seeded and
deterministic, built on synthetic.py's pen, paper and camera. The digits are MNIST's test
set (the model never trained on them). Clutter kinds hold no digit: their text is "" and
the right reading is nothing at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from . import synthetic
from .synthetic import Photo

GREY_PAPERS = ([178, 178, 175], [196, 194, 188], [212, 210, 204])
BEIGE_PAPERS = ([232, 214, 178], [222, 206, 170], [240, 226, 196])


@dataclass(frozen=True)
class Kind:
    name: str
    about: str
    make: Callable[[np.ndarray, np.ndarray, int], Photo]
    has_digit: bool = True


def _pick(labels: np.ndarray, rng: np.random.Generator, digit: int | None = None) -> int:
    pool = np.arange(len(labels)) if digit is None else np.nonzero(labels == digit)[0]
    return int(rng.choice(pool))


def _frame(cover: np.ndarray, margins) -> np.ndarray:
    """The ink with margins (left, top, right, bottom) of blank paper; a negative margin cuts the ink."""
    left, top, right, bottom = (int(m) for m in margins)
    h, w = cover.shape
    cover = cover[max(0, -top) : h - max(0, -bottom), max(0, -left) : w - max(0, -right)]
    return cv2.copyMakeBorder(cover, max(0, top), max(0, bottom), max(0, left), max(0, right),
                              cv2.BORDER_CONSTANT, value=0)


def _shoot(canvas, rng, side, angle=0.0, colours=None, back=None, table_margins=None) -> np.ndarray:
    image = synthetic.paper_photo(canvas, rng, back, colours=colours)
    if table_margins is not None:
        image = synthetic.with_table(image, table_margins, rng)
    return synthetic.camera(image, side, angle, rng)


def _digit_cover(images, labels, rng, height, digit=None):
    index = _pick(labels, rng, digit)
    return synthetic.stroke(images[index], height, rng), str(int(labels[index])), index


def plain(images, labels, seed):
    """The generator's ordinary photo: the control."""
    return synthetic.digit_photo(images, labels, _pick(labels, np.random.default_rng(seed)), seed=seed)


def _tight(images, labels, seed, both: bool) -> Photo:
    rng = np.random.default_rng(seed)
    height = int(rng.integers(80, 260))
    cover, text, _ = _digit_cover(images, labels, rng, height)
    cut = [round(height * rng.uniform(-0.02, 0.0)) for _ in range(2)]  # the crop may shave the strokes
    margins = [round(height * rng.uniform(0.03, 0.3)) for _ in range(4)]
    if both:
        margins[1], margins[3] = cut
    else:
        margins[int(rng.choice([1, 3]))] = cut[0]
    canvas = _frame(cover, margins)
    side = int(rng.integers(120, 640))
    return Photo(_shoot(canvas, rng, side), text, [])


def tight_one_edge(images, labels, seed):
    """Cropped to the digit: its strokes touch the top or the bottom."""
    return _tight(images, labels, seed, both=False)


def tight_two_edges(images, labels, seed):
    """Cropped to the digit: its strokes touch the top and the bottom."""
    return _tight(images, labels, seed, both=True)


def _grain(shape, rng, sigma: float) -> np.ndarray:
    noise = cv2.GaussianBlur(rng.normal(0, 1, shape).astype(np.float32), (0, 0), sigma)
    return noise / max(1e-6, float(noise.std()))


def _pencil(cover: np.ndarray, rng, rough: float) -> np.ndarray:
    """Graphite on paper's tooth: coverage broken up by a fine grain."""
    return np.clip(cover * (1 - rough + rough * np.clip(0.6 + 0.4 * _grain(cover.shape, rng, 1.0), 0, 1)), 0, 1)


def small_image(images, labels, seed):
    """A thick, rough pencil digit in a 120-200 px image."""
    rng = np.random.default_rng(seed)
    height = int(rng.integers(90, 160))
    cover, text, _ = _digit_cover(images, labels, rng, height)
    r = max(1, height // 40)
    cover = cv2.dilate(cover, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    cover = _pencil(cover, rng, rough=0.5)
    canvas = _frame(cover, [round(height * rng.uniform(0.1, 0.5)) for _ in range(4)])
    grey = rng.uniform(60, 110)
    paper = np.array([rng.uniform(215, 245)] * 3)
    return Photo(_shoot(canvas, rng, int(rng.integers(120, 201)), rng.uniform(-6, 6), (paper, [grey] * 3)), text, [])


def faint_pencil(images, labels, seed):
    """Faint pencil on grey or beige paper."""
    rng = np.random.default_rng(seed)
    height = int(rng.integers(70, 220))
    cover, text, _ = _digit_cover(images, labels, rng, height)
    cover = _pencil(cover, rng, rough=0.35)
    paper = np.array((GREY_PAPERS if rng.random() < 0.5 else BEIGE_PAPERS)[int(rng.integers(3))], np.float64)
    ink = paper - rng.uniform(45, 80)  # graphite: grey, a little darker than the paper
    canvas = _frame(cover, [round(height * rng.uniform(0.25, 0.8)) for _ in range(4)])
    return Photo(_shoot(canvas, rng, int(rng.integers(200, 900)), rng.uniform(-6, 6), (paper, ink)), text, [])


def _gap(cover: np.ndarray, rng, height: int) -> None:
    """Erase a short gap across the stroke at a random ink point (the pen skipped)."""
    ys, xs = np.nonzero(cover > 0.5)
    i = int(rng.integers(len(ys)))
    y, x, r = ys[i], xs[i], max(3, round(0.12 * height))
    near = (np.abs(ys - y) <= r) & (np.abs(xs - x) <= r)
    pts = np.stack([xs[near], ys[near]], 1).astype(np.float32)
    direction = np.array([1.0, 0.0])
    if len(pts) > 2:  # the stroke's direction there: the main axis of the ink around the point
        _, vecs = np.linalg.eigh(np.cov((pts - pts.mean(0)).T))
        direction = vecs[:, -1]
    across = np.array([-direction[1], direction[0]]) * 0.2 * height
    thick = max(2, round(rng.uniform(0.03, 0.06) * height))
    a, b = (np.array([x, y]) - across).round(), (np.array([x, y]) + across).round()
    cv2.line(cover, tuple(int(v) for v in a), tuple(int(v) for v in b), 0.0, thick)


def broken_strokes(images, labels, seed):
    """Strokes with gaps where the pen skipped."""
    rng = np.random.default_rng(seed)
    height = int(rng.integers(80, 220))
    cover, text, _ = _digit_cover(images, labels, rng, height)
    cover = cover.copy()
    for _ in range(int(rng.integers(2, 4))):
        _gap(cover, rng, height)
    canvas = _frame(cover, [round(height * rng.uniform(0.25, 0.8)) for _ in range(4)])
    return Photo(_shoot(canvas, rng, int(rng.integers(200, 900)), rng.uniform(-6, 6)), text, [])


def crossed_seven(images, labels, seed):
    """A 7 with a bar across its stem, as much of Europe writes it.

    The bar goes across the stem's lower half and must not close a loop: on a thick or slanted 7 a
    bar too close to the top stroke draws a 9 or a 4, which a person would not read as 7 either.
    """
    rng = np.random.default_rng(seed)
    while True:
        digit = images[_pick(labels, rng, 7)].copy()
        ys, _ = np.nonzero(digit > 30)
        y = int(ys.min() + rng.uniform(0.55, 0.68) * (ys.max() - ys.min()))
        xs = np.nonzero(digit[y] > 100)[0]
        if not len(xs):
            continue  # no stem at that height
        crossed = digit.copy()
        cx, half, tilt = int(xs.mean()), int(rng.integers(3, 6)), int(rng.integers(-1, 2))
        cv2.line(crossed, (cx - half, y + tilt), (cx + half, y - tilt), 255, 2)
        if _holes(crossed) == _holes(digit):
            return synthetic.render_number([crossed], [7], seed, out_side=int(rng.integers(200, 900)))


def _holes(digit: np.ndarray) -> int:
    """Closed loops in a digit's ink (contours with a parent)."""
    _, hierarchy = cv2.findContours((digit > 100).astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    return 0 if hierarchy is None else int(np.count_nonzero(hierarchy[0][:, 3] >= 0))


def out_of_focus(images, labels, seed):
    """A digit the camera did not focus on."""
    rng = np.random.default_rng(seed)
    photo = synthetic.digit_photo(images, labels, _pick(labels, rng), seed=seed, out_side=int(rng.integers(200, 900)))
    height = photo.boxes[0][3]
    image = cv2.GaussianBlur(photo.image, (0, 0), max(1.0, rng.uniform(0.03, 0.06) * height))
    return Photo(image, photo.text, photo.boxes)


def small_in_scene(images, labels, seed):
    """A small digit on a sheet on a table, in a large photo."""
    rng = np.random.default_rng(seed)
    height = int(rng.integers(60, 110))
    cover, text, _ = _digit_cover(images, labels, rng, height)
    room = height * rng.uniform(7, 11)  # the frame's shorter side, in digit heights
    h, w = cover.shape
    top, left = round(rng.uniform(0.25, 0.6) * (room - h)), round(rng.uniform(0.2, 0.65) * (room * 1.33 - w))
    margins = [left, top, round(room * 1.33) - w - left, round(room) - h - top]
    canvas = _frame(cover, margins)
    side = int(rng.integers(1000, 1601))
    return Photo(_shoot(canvas, rng, side, rng.uniform(-4, 4), table_margins=margins), text, [])


def _blank(rng) -> np.ndarray:
    w, h = int(rng.integers(240, 800)), int(rng.integers(240, 800))
    return np.zeros((h, w), np.float32)


def edge_or_shadow(images, labels, seed):
    """No digit: a paper edge with the table beyond, or a shadow band, at the border."""
    rng = np.random.default_rng(seed)
    canvas = _blank(rng)
    h, w = canvas.shape
    image = synthetic.paper_photo(canvas, rng)
    if rng.random() < 0.6:
        image = synthetic.with_table(image, [round(0.5 * w), round(0.5 * h)] * 2, rng)
    if rng.random() < 0.6:  # a hand's or the phone's shadow across one side
        side, depth = int(rng.integers(4)), rng.uniform(0.05, 0.3)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        dist = [xx / w, yy / h, 1 - xx / w, 1 - yy / h][side] - depth
        shade = rng.uniform(0.35, 0.65) / (1 + np.exp(np.clip(dist / rng.uniform(0.005, 0.03), -60, 60)))
        image = image * (1 - shade[..., None])
    return Photo(synthetic.camera(image, max(h, w), rng.uniform(-3, 3), rng), "", [])


def show_through(images, labels, seed):
    """No digit: the digit on the back of the sheet, mirrored and faint."""
    rng = np.random.default_rng(seed)
    height = int(rng.integers(80, 220))
    cover, _, _ = _digit_cover(images, labels, rng, height)
    canvas = _frame(cover, [round(height * rng.uniform(0.25, 0.8)) for _ in range(4)])
    back = cv2.flip(cv2.GaussianBlur(canvas, (0, 0), height / 25), 1)
    image = synthetic.paper_photo(np.zeros_like(canvas), rng, back)
    return Photo(synthetic.camera(image, int(rng.integers(200, 900)), rng.uniform(-6, 6), rng), "", [])


KINDS = [
    Kind("plain", "the generator's ordinary photo (control)", plain),
    Kind("tight-one-edge", "cropped tight: the digit touches the top or the bottom", tight_one_edge),
    Kind("tight-two-edges", "cropped tight: the digit touches the top and the bottom", tight_two_edges),
    Kind("small-image", "120-200 px, thick rough pencil", small_image),
    Kind("faint-pencil", "faint pencil on grey or beige paper", faint_pencil),
    Kind("broken-strokes", "gaps where the pen skipped", broken_strokes),
    Kind("crossed-7", "a 7 with a bar across its stem", crossed_seven),
    Kind("out-of-focus", "blurred: the camera focused elsewhere", out_of_focus),
    Kind("small-in-scene", "a small digit on a sheet on a table, 1000-1600 px", small_in_scene),
    Kind("edge-or-shadow", "no digit: a paper edge or a shadow at the border", edge_or_shadow, has_digit=False),
    Kind("show-through", "no digit: the back of the sheet showing through", show_through, has_digit=False),
]
BY_NAME = {k.name: k for k in KINDS}


def photo(kind: str, images: np.ndarray, labels: np.ndarray, number: int) -> Photo:
    """The `number`-th photo of a kind; each kind has its own seeds, so kinds do not share digits."""
    position = [k.name for k in KINDS].index(kind)
    return BY_NAME[kind].make(images, labels, 100_000 * (position + 1) + number)
