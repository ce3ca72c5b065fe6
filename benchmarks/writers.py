"""Synthetic writers whose digits the MNIST model misreads, drawn as pen strokes (issue #20).

A glyph is a few strokes (polylines) in a unit box, x right and y down. A writer picks a
variant of each digit (a flagged 1, a crossed 7, a closed 4, a 9 with a straight stem, a very
round 6...) and keeps a slant, a stroke width and a width-to-height ratio; every sample of a
writer shakes the strokes a little. The photos go through synthetic.py's paper and camera.
Seeded and deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import synthetic
from .synthetic import Photo


def arc(cx, cy, rx, ry, start, stop, n=24) -> list[tuple[float, float]]:
    """Points of an ellipse arc, angles in degrees counter-clockwise from 3 o'clock (y down)."""
    a = np.radians(np.linspace(start, stop, n))
    return list(zip(cx + rx * np.cos(a), cy - ry * np.sin(a)))


# digit -> variant -> strokes
GLYPHS = {
    0: {"oval": [arc(0.5, 0.5, 0.36, 0.48, 100, 460)]},
    1: {"stick": [[(0.55, 0.02), (0.5, 0.98)]],
        "flagged": [[(0.05, 0.3), (0.6, 0.02), (0.6, 0.98)]],
        "flagged-base": [[(0.0, 0.55), (0.6, 0.02), (0.6, 0.98)], [(0.3, 0.98), (0.9, 0.98)]]},
    2: {"plain": [arc(0.5, 0.3, 0.33, 0.27, 160, -35) + [(0.15, 0.97), (0.88, 0.97)]]},
    3: {"plain": [arc(0.47, 0.27, 0.3, 0.25, 150, -90) + arc(0.47, 0.73, 0.33, 0.25, 90, -150)]},
    4: {"open": [[(0.6, 0.02), (0.12, 0.66), (0.9, 0.66)], [(0.66, 0.3), (0.66, 0.98)]],
        "closed": [[(0.72, 0.6), (0.1, 0.6), (0.15, 0.3), (0.72, 0.02), (0.72, 0.98)]]},
    5: {"plain": [[(0.82, 0.03), (0.28, 0.03), (0.24, 0.44)] + arc(0.48, 0.68, 0.33, 0.3, 145, -145)]},
    6: {"plain": [[(0.72, 0.02), (0.42, 0.3)] + arc(0.5, 0.7, 0.28, 0.27, 160, 520)],
        "round": [arc(0.5, 0.52, 0.45, 0.46, 70, 180, 12) + arc(0.5, 0.66, 0.4, 0.32, 180, 520)]},
    7: {"plain": [[(0.1, 0.05), (0.9, 0.05), (0.4, 0.98)]],
        "crossed": [[(0.05, 0.25), (0.08, 0.05), (0.92, 0.05), (0.5, 0.98)], [(0.25, 0.5), (0.98, 0.5)]]},
    8: {"plain": [arc(0.5, 0.26, 0.27, 0.24, 0, 360) + arc(0.5, 0.74, 0.33, 0.25, 0, 360)]},
    9: {"curved": [arc(0.48, 0.3, 0.32, 0.28, 0, 360) + [(0.78, 0.5), (0.55, 0.98)]],
        "straight": [arc(0.45, 0.28, 0.33, 0.26, 0, 360) + [(0.78, 0.28), (0.78, 0.98)]],
        "hooked": [arc(0.45, 0.28, 0.33, 0.26, 0, 360) + [(0.78, 0.28), (0.78, 0.85)]
                   + arc(0.55, 0.85, 0.23, 0.13, 0, -150, 8)]},
}


@dataclass(frozen=True)
class Writer:
    name: str
    about: str
    variants: dict  # digit -> variant name; unnamed digits use the first variant
    slant: float = 0.0  # x shift per unit of height above the baseline (0.2: leaning right)
    width: float = 0.08  # stroke width as a part of the digit's height
    aspect: float = 0.7  # digit width / height
    shake: float = 0.025  # how far each point moves between samples (unit box)

    def strokes(self, digit: int) -> list:
        variants = GLYPHS[digit]
        return variants[self.variants.get(digit, next(iter(variants)))]


WRITERS = [
    Writer("european", "flagged 1, crossed 7, leaning right", {1: "flagged", 7: "crossed"}, slant=0.2, width=0.1),
    Writer("closed-fours", "closed 4, hooked 9, a little left, broad pen", {4: "closed", 9: "hooked"},
           slant=-0.05, width=0.11),
    Writer("round", "very round 6, flagged 1, closed 4, leaning left, thick pen",
           {6: "round", 1: "flagged", 4: "closed"}, slant=-0.15, width=0.12),
    Writer("architect", "straight-stemmed 9, crossed 7, flagged 1, narrow, steep slant",
           {9: "straight", 7: "crossed", 1: "flagged"}, slant=0.3, width=0.1, aspect=0.55),
    Writer("marker", "flagged 1 with a base, closed 4, round 6, crossed 7, hooked 9; marker, wide",
           {1: "flagged-base", 4: "closed", 6: "round", 7: "crossed", 9: "hooked"}, width=0.14, aspect=0.85),
]
BY_NAME = {w.name: w for w in WRITERS}


def cover(writer: Writer, digit: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """The digit as pen coverage in [0, 1], `height` px tall (plus the slant's lean)."""
    slant = writer.slant + rng.normal(0, 0.04)
    aspect = writer.aspect * rng.uniform(0.92, 1.08)
    thick = max(1, round(height * writer.width * rng.uniform(0.85, 1.15)))
    pad = thick + 2
    width = round(height * (aspect + abs(slant))) + 2 * pad
    canvas = np.zeros((height + 2 * pad, width), np.float32)
    for line in writer.strokes(digit):
        pts = np.array(line, np.float64) + rng.normal(0, writer.shake, (len(line), 2))
        x = (pts[:, 0] * aspect + slant * (1 - pts[:, 1]) + max(0.0, -slant)) * height + pad
        y = pts[:, 1] * height + pad
        points = np.round(np.stack([x, y], 1) * 4).astype(np.int32)  # 2 bits of sub-pixel precision
        cv2.polylines(canvas, [points], False, 1.0, thick, cv2.LINE_AA, shift=2)
    return np.clip(cv2.GaussianBlur(canvas, (0, 0), max(0.5, thick / 4)) * 1.2, 0, 1)


def photo(writer: Writer, digit: int, number: int) -> Photo:
    """The `number`-th photo of a writer's digit: the pen's ink on paper, photographed."""
    seed = 1_000_000 * (WRITERS.index(writer) + 1) + 1000 * digit + number
    rng = np.random.default_rng(seed)
    height = int(rng.integers(60, 180))
    ink = cover(writer, digit, height, rng)
    margins = [round(height * rng.uniform(0.3, 0.8)) for _ in range(4)]
    canvas = cv2.copyMakeBorder(ink, margins[1], margins[3], margins[0], margins[2], cv2.BORDER_CONSTANT, value=0)
    image = synthetic.paper_photo(canvas, rng)
    side = int(rng.integers(160, 640))
    return Photo(synthetic.camera(image, side, rng.uniform(-4, 4), rng), str(digit), [])
