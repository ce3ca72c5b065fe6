"""Which blobs of ink are digits, grouped and ordered left to right.

Input is a binary ink mask (ink = 255). Connected components are the fragments;
fragments that overlap horizontally belong to one digit (a "5" whose bar is
detached, a broken "4"); specks, and lines along the image border (a paper edge
or the table beyond it), are not digits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass
class Group:
    """One digit's fragments: their component labels and joint bounding box."""

    x: int
    y: int
    w: int
    h: int
    area: int
    labels: list[int] = field(default_factory=list)

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.w, self.h

    def absorb(self, other: Group) -> None:
        x1, y1 = max(self.x + self.w, other.x + other.w), max(self.y + self.h, other.y + other.h)
        self.x, self.y = min(self.x, other.x), min(self.y, other.y)
        self.w, self.h = x1 - self.x, y1 - self.y
        self.area += other.area
        self.labels += other.labels


@dataclass(frozen=True)
class SegmentConfig:
    min_height: float = 0.04  # a digit is at least this part of the image's shorter side
    min_relative_height: float = 0.4  # ... and of the tallest digit's height
    speck_area: float = 0.08  # fragments smaller than this part of the largest are noise unless attached
    overlap: float = 0.5  # horizontal overlap (of the narrower) that makes two fragments one digit


def components(mask: np.ndarray) -> tuple[np.ndarray, list[Group]]:
    """The label image and one Group per connected component that is not border clutter."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    height, width = mask.shape
    groups = []
    for i in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[i])
        if _is_border_clutter(x, y, w, h, area, width, height):
            continue
        groups.append(Group(x, y, w, h, area, [i]))
    return labels, groups


def _is_border_clutter(x, y, w, h, area, width, height) -> bool:
    """A blob touching the border that is long and thin, or huge: a paper edge, a table, a shadow."""
    touches = x == 0 or y == 0 or x + w == width or y + h == height
    if not touches:
        return False
    elongated = max(w, h) > 6 * max(1, min(w, h))
    spans = w > 0.9 * width or h > 0.9 * height
    sparse = area < 0.15 * w * h
    return elongated or spans or sparse and (w > 0.5 * width or h > 0.5 * height)


def _overlap(a: Group, b: Group) -> float:
    inter = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    return inter / max(1, min(a.w, b.w))


def group_digits(mask: np.ndarray, config: SegmentConfig = SegmentConfig()) -> tuple[np.ndarray, list[Group]]:
    """(label image, digits left to right); an empty list when nothing looks like a digit."""
    labels, fragments = components(mask)
    inside = [f for f in fragments if not _touches_border(f, mask.shape)]
    # ink cut by the border is a paper edge, a table, or half a digit, unless it is all there is
    fragments = inside if any(f.h >= config.min_height * min(mask.shape) for f in inside) else fragments
    if not fragments:
        return labels, []
    digits = [_drop_stray(c, config) for c in _columns(fragments, config)]
    largest = max(d.area for d in digits)
    shorter = min(mask.shape)
    tallest = max(d.h for d in digits)
    keep, pieces = [], []
    for d in digits:
        big = d.area >= config.speck_area * largest and d.h >= config.min_relative_height * tallest
        (keep if big and d.h >= config.min_height * shorter else pieces).append(d)
    for piece in pieces:  # a detached bar or half a broken stroke joins the digit it touches
        host = _adjacent(piece, keep)
        if host is not None:
            host.absorb(piece)
    return labels, sorted(keep, key=lambda d: d.x)


def _adjacent(piece: Group, digits: list[Group]) -> Group | None:
    """The digit right beside a piece (a fifth of its height away at most, roughly level), if any."""
    best, best_gap = None, None
    for d in digits:
        gap = max(d.x - (piece.x + piece.w), piece.x - (d.x + d.w), 0)
        level = piece.y >= d.y - 0.4 * d.h and piece.y + piece.h <= d.y + 1.4 * d.h
        substantial = piece.area >= 0.02 * d.area and max(piece.w, piece.h) >= 0.15 * d.h
        if level and substantial and gap <= 0.2 * d.h and (best_gap is None or gap < best_gap):
            best, best_gap = d, gap
    return best


def _columns(fragments: list[Group], config: SegmentConfig) -> list[list[Group]]:
    """Fragments that overlap horizontally, chained left to right: one digit each."""
    columns: list[list[Group]] = []
    right = -1
    span: Group | None = None
    for f in sorted(fragments, key=lambda g: g.x):
        if span is not None and _overlap(span, f) >= config.overlap:
            columns[-1].append(f)
            right = max(right, f.x + f.w)
            span = Group(span.x, 0, right - span.x, 1, 0)
        else:
            columns.append([f])
            right = f.x + f.w
            span = Group(f.x, 0, f.w, 1, 0)
    return columns


def _drop_stray(column: list[Group], config: SegmentConfig) -> Group:
    """The column's digit: its main strokes plus the small pieces that sit within their height."""
    largest = max(f.area for f in column)
    body = [f for f in column if f.area >= 0.3 * largest]
    top, bottom = min(f.y for f in body), max(f.y + f.h for f in body)
    margin = 0.25 * (bottom - top)
    digit = Group(body[0].x, body[0].y, body[0].w, body[0].h, 0, [])
    for f in column:
        if f in body or (f.y >= top - margin and f.y + f.h <= bottom + margin):
            digit.absorb(f)
    return digit


def _touches_border(g: Group, shape: tuple[int, int]) -> bool:
    return g.x == 0 or g.y == 0 or g.x + g.w >= shape[1] or g.y + g.h >= shape[0]
