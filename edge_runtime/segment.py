"""Which blobs of ink are digits, grouped and ordered left to right.

Input is the ink's connected components (label() of a binary mask): they are the fragments;
fragments that overlap horizontally belong to one digit (a "5" whose bar is
detached, a broken "4"), and so does a shorter piece right against a digit.
Specks are not digits, but a chain of them can be (a thin 1 written in dashes). Touching
the border does not make a blob clutter (a digit cropped tight fills the frame): what lies
along the border (a table, the paper's edge, a shadow band) or is a line is dropped, and so
is a smaller piece the border cuts beside whole digits (half a digit at the frame's edge).
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

    def joined_box(self, other: Group) -> Group:
        """The box of both together (no labels, no area): what absorbing `other` would make."""
        union = Group(self.x, self.y, self.w, self.h, 0)
        union.absorb(other)
        return union

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
    # pieces whose ink comes this close (a part of their joint height: a pen skip) are one digit,
    # when together they are no wider than broken_width of their height (digits in a row are
    # further apart: the number photos' gaps start at 0.12)
    skip: float = 0.07
    broken_width: float = 1.2
    # pieces one above the other (overlapping columns) reach further: digits in a row are never
    # stacked, and a 9's stem that came off sits a tenth of the digit's height below its loop
    stacked_skip: float = 0.12
    stacked_overlap: float = 0.3  # columns overlapping this much (of the narrower) are stacked (a slanted 1)


def label(mask: np.ndarray) -> tuple[np.ndarray, Stats]:
    """(labels, stats) of a mask's 8-connected components; stats' row 0, the background, is the
    whole frame (x, y, w, h) and the background's area."""
    labels = np.zeros(mask.shape, np.int32)
    x, y, w, h = cv2.boundingRect(mask)
    if w == 0:
        return labels, Stats(labels, 1, mask, (0, 0, 0, 0))
    # Only the ink's extent is labelled (often a small part of the frame), from an even corner:
    # Grana's 2x2 blocks, and with them the order of the labels, fall as on the whole mask.
    x0, y0 = x - x % 2, y - y % 2
    count, labels[y0 : y + h, x0 : x + w] = cv2.connectedComponentsWithAlgorithm(
        mask[y0 : y + h, x0 : x + w], 8, cv2.CV_32S, cv2.CCL_GRANA)
    return labels, Stats(labels, count, mask, (x0, y0, x + w, y + h))


class Stats:
    """label()'s statistics, as OpenCV gives them (x, y, w, h, area per label), worked out when
    asked: OpenCV's cost 5 ns a pixel of the ink's extent (40 µs on a one-digit photo), one
    component's alone a few µs, and segmentation asks for the ink's only, most often one or two."""

    FEW = 4  # rows worked out one by one; asked for more, the whole table at once

    def __init__(self, labels: np.ndarray, count: int, mask: np.ndarray, box: tuple[int, int, int, int]):
        self._labels, self._count, self._mask = labels, count, mask
        self.box = box  # x0, y0, x1, y1: the region labelled; no ink outside it
        self._rows: dict[int, np.ndarray] = {}
        self._table: np.ndarray | None = None

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index):
        if self._table is None and isinstance(index, (int, np.integer)) and 0 < index < self._count:
            i = int(index)
            if i not in self._rows and len(self._rows) < self.FEW:
                x0, y0, x1, y1 = self.box
                one = cv2.compare(self._labels[y0:y1, x0:x1], i, cv2.CMP_EQ)
                x, y, w, h = cv2.boundingRect(one)
                self._rows[i] = np.array([x + x0, y + y0, w, h, cv2.countNonZero(one)], np.int32)
            if i in self._rows:
                return self._rows[i]
        return self.table()[index]

    def table(self) -> np.ndarray:
        """Every row (Grana's algorithm: its statistics twice as fast as the default's here)."""
        if self._table is None:
            x0, y0, x1, y1 = self.box
            table = np.zeros((1, 5), np.int32)  # no ink: the background alone
            if x1 > x0:
                _, _, table, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
                    self._mask[y0:y1, x0:x1], 8, cv2.CV_32S, cv2.CCL_GRANA)
                table[1:, 0] += x0
                table[1:, 1] += y0
            rows, cols = self._mask.shape
            table[0] = (0, 0, cols, rows, self._mask.size - table[1:, 4].sum())
            self._table = table
        return self._table


def _groups(labels: np.ndarray, stats: Stats, wanted: np.ndarray) -> list[Group]:
    """A Group per wanted component (label 0, the background, never) that is not border clutter."""
    contact = _border_contact(labels, stats)
    groups = []
    for i in np.flatnonzero(wanted[1:]) + 1:
        x, y, w, h, area = (int(v) for v in stats[i])
        if contact[i] and _is_border_clutter(labels, i, stats[i], int(contact[i])):
            continue
        groups.append(Group(x, y, w, h, area, [int(i)]))
    return groups


def _border_contact(labels: np.ndarray, stats: Stats) -> np.ndarray:
    """Per component, how many of its pixels lie on the image's outermost rows and columns."""
    rows, cols = labels.shape
    x0, y0, x1, y1 = stats.box
    if x0 > 0 and y0 > 0 and x1 < cols and y1 < rows:  # the ink's extent is off the rim: none
        return np.zeros(len(stats), np.int64)
    rim = np.concatenate([labels[0], labels[-1], labels[1:-1, 0], labels[1:-1, -1]])
    return np.bincount(rim.ravel(), minlength=len(stats))


def _is_border_clutter(labels: np.ndarray, i: int, stat: np.ndarray, contact: int) -> bool:
    """A blob at the border that lies along it (a table, the paper's edge, a shadow band) or is a
    line. A digit cut by a tight crop only crosses the border: its contact is a few stroke widths."""
    x, y, w, h, area = (int(v) for v in stat)
    if max(w, h) > 12 * max(1, min(w, h)):  # a line, far thinner than any digit
        return True
    blob = (labels[y : y + h, x : x + w] == i).astype(np.uint8)
    contours, _ = cv2.findContours(blob, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    perimeter = sum(cv2.arcLength(c, True) for c in contours)
    if contact > 8 * (2 * area / max(perimeter, 1.0)):  # longer than 8 of its own widths
        return True
    # flush with one side for most of its length, and solid: a band, not strokes
    rows, cols = labels.shape
    if x == 0 and x + w == cols and w >= 2 * h and area > 0.4 * w * h:  # across the frame: no digit is
        return True
    along_rows, along_cols = w >= h, h >= w  # it lies along the side it touches, not across it
    flush = max(
        np.count_nonzero(labels[0, x : x + w] == i) / w if y == 0 and along_rows else 0,
        np.count_nonzero(labels[-1, x : x + w] == i) / w if y + h == rows and along_rows else 0,
        np.count_nonzero(labels[y : y + h, 0] == i) / h if x == 0 and along_cols else 0,
        np.count_nonzero(labels[y : y + h, -1] == i) / h if x + w == cols and along_cols else 0,
    )
    return flush > 0.6 and area > 0.45 * w * h


def _overlap(a: Group, b: Group) -> float:
    inter = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    return inter / max(1, min(a.w, b.w))


def group_labelled(labels: np.ndarray, stats: Stats, wanted: np.ndarray,
                   config: SegmentConfig = SegmentConfig()) -> list[Group]:
    """The digits, left to right, among labelled components (`wanted`: a bool per label, the ink's);
    an empty list when nothing looks like a digit."""
    fragments = _without_cut_scraps(_groups(labels, stats, wanted), labels.shape, config)
    if not fragments:
        return []
    fragments = _join_near(fragments, labels, config)
    mask_shape = labels.shape
    digits = [_drop_stray(c, config) for c in _columns(fragments, config)]
    largest = max(d.area for d in digits)
    shorter = min(mask_shape)
    tallest = max(d.h for d in digits)
    keep, pieces = [], []
    for d in digits:
        big = d.area >= config.speck_area * largest and d.h >= config.min_relative_height * tallest
        (keep if big and d.h >= config.min_height * shorter else pieces).append(d)
    for piece in pieces:  # a detached bar or half a broken stroke joins the digit it touches
        host = _adjacent(piece, keep)
        if host is not None:
            host.absorb(piece)
    return _join_broken(sorted(keep, key=lambda d: d.x))


def _join_near(fragments: list[Group], labels: np.ndarray, config: SegmentConfig) -> list[Group]:
    """Fragments whose ink comes within a pen skip of each other (`skip` of their joint height)
    are one: a 4 broken in two, a 5 whose bar came off. Digits written in a row are further apart
    than that (and together wider than `broken_width`). Specks join only each other, and a chain of
    them as large as a piece is one (a thin 1 written in dashes)."""
    small = config.speck_area * max(f.area for f in fragments)
    specks = _joined([f for f in fragments if f.area < small], labels, config)
    pieces = _joined([f for f in fragments if f.area >= small] + [f for f in specks if f.area >= small], labels, config)
    return pieces + [f for f in specks if f.area < small]


def _joined(groups: list[Group], labels: np.ndarray, config: SegmentConfig) -> list[Group]:
    """The first joinable pair, left to right, joined until none is left (a grown group may reach
    one it did not)."""
    groups = sorted(groups, key=lambda g: g.x)
    while (pair := next(((a, b) for i, a in enumerate(groups) for b in groups[i + 1 :]
                         if _joinable(labels, a, b, config)), None)) is not None:
        pair[0].absorb(pair[1])
        groups.remove(pair[1])
    return groups


def _joinable(labels: np.ndarray, a: Group, b: Group, config: SegmentConfig) -> bool:
    union = a.joined_box(b)
    skip = config.stacked_skip if _overlap(a, b) >= config.stacked_overlap else config.skip
    return union.w <= config.broken_width * union.h and _within(labels, a, b, skip * union.h)


def _join_broken(digits: list[Group]) -> list[Group]:
    """A shorter piece right against a digit (a gap under a tenth of its height) is part of it:
    a stroke broken where the pen skipped. Digits written in a row are of one height, and two
    of them side by side are wider than tall."""
    out: list[Group] = []
    for d in digits:
        prev = out[-1] if out else None
        if prev is not None:
            tall, short = (prev, d) if prev.h >= d.h else (d, prev)
            gap = d.x - (prev.x + prev.w)
            level = short.y >= tall.y - 0.3 * tall.h and short.y + short.h <= tall.y + 1.3 * tall.h
            # or stacked: overlapping columns, one above the other (a 3 whose lower arc came apart)
            stacked = gap < 0 and min(d.y + d.h, prev.y + prev.h) - max(d.y, prev.y) < 0.25 * short.h
            union = prev.joined_box(d)
            wide = union.w > union.h
            if gap <= 0.1 * tall.h and not wide and (short.h <= 0.75 * tall.h and level or stacked):
                prev.absorb(d)
                continue
        out.append(d)
    return out


def _within(labels: np.ndarray, a: Group, b: Group, reach: float) -> bool:
    """Does ink of `a` come within `reach` pixels of ink of `b`? (Boxes further apart: no.)"""
    r = int(np.ceil(reach))
    apart = max(b.x - (a.x + a.w), a.x - (b.x + b.w), b.y - (a.y + a.h), a.y - (b.y + b.h))
    if apart > r:
        return False
    x0, y0 = max(0, min(a.x, b.x) - r), max(0, min(a.y, b.y) - r)
    x1, y1 = max(a.x + a.w, b.x + b.w) + r, max(a.y + a.h, b.y + b.h) + r
    window = labels[y0:y1, x0:x1]
    near = cv2.dilate(members(window, a.labels), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return bool(cv2.countNonZero(near & members(window, b.labels)))


def members(labels: np.ndarray, wanted: list[int]) -> np.ndarray:
    """255 where a label is one of `wanted`, else 0 (a lookup table: several times np.isin's speed)."""
    if len(wanted) == 1:
        return cv2.compare(labels, float(wanted[0]), cv2.CMP_EQ)
    table = np.zeros(int(labels.max(initial=0)) + 1, np.uint8)
    table[[i for i in wanted if i < len(table)]] = 255
    return table[labels]


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


def _without_cut_scraps(fragments: list[Group], shape: tuple[int, int], config: SegmentConfig) -> list[Group]:
    """Ink the border cuts is kept when it is the digit (a tight crop: the biggest ink there is) or
    part of one (in a column with ink inside); a smaller piece beside whole digits is half a digit."""
    inside = [f for f in fragments if not _touches_border(f, shape)]
    digits = [f for f in inside if f.h >= config.min_height * min(shape)]
    largest = max((f.area for f in digits), default=0)
    # a digit the crop cut is what the photo is of: it fills much of the frame's height (35%
    # is enough when there is no whole digit at all: a tiny photo whose digit merged with a shadow)
    tall = 0.4 if digits else 0.35
    return inside + [
        f for f in fragments
        if _touches_border(f, shape)
        and (f.area >= largest and f.h >= tall * shape[0] or any(_overlap(f, d) >= config.overlap for d in digits))
    ]


def _touches_border(g: Group, shape: tuple[int, int]) -> bool:
    return g.x == 0 or g.y == 0 or g.x + g.w >= shape[1] or g.y + g.h >= shape[0]
