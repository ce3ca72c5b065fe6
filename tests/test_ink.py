"""Finding the ink in a photo: which way round it is, a blank page, and a digit in pieces.

Runs on the photo suite's own photos (MNIST test digits, benchmarks/photo_kinds.py) and in the
edge-only environments.
"""

from __future__ import annotations

import numpy as np
import pytest
from edge_helpers import recognizer

from digitedge.benchmarks import photo_kinds, synthetic
from digitedge.edge_runtime import polarity, preprocess

pytestmark = pytest.mark.edge


def test_polarity_of_tight_crops_either_way_round(edge_mnist):
    """Digits cropped tight (a thick 8 filling the frame among them, photo 45, whose loop's paper
    the levels vote alone took for ink) are dark ink, and light ink once inverted: the frame's
    rim is mostly paper."""
    wrong = []
    for n in range(60):
        gray = preprocess.to_gray(photo_kinds.photo("tight-one-edge", edge_mnist.x_test, edge_mnist.y_test, n).image)
        if not polarity.ink_is_dark(gray) or polarity.ink_is_dark(255 - gray):
            wrong.append(n)
    assert wrong == []


def test_a_clear_coarse_polarity_vote_decides_as_the_whole_sample(edge_mnist, monkeypatch):
    """The vote on every other sample pixel stays within COARSE_MARGIN of the whole sample's, so
    where it decides alone it decides as the whole would have: on photos of every kind, either way
    round (the first dozen of each; 3,900 photos were measured: 0.091 at most)."""
    photos = [preprocess.to_gray(photo_kinds.photo(k.name, edge_mnist.x_test, edge_mnist.y_test, n).image)
              for k in photo_kinds.KINDS for n in range(12)]
    photos += [255 - g for g in photos]
    with_shortcut = [polarity.ink_is_dark(g) for g in photos]
    gaps, coarse = [], 0
    for g in photos:
        s = max(1, round(min(g.shape) / polarity.LEVELS_SIDE))
        if min(g.shape) >= 2 * s * polarity.MIN_SAMPLE:
            gaps.append(abs(polarity._levels_vote(g, 2 * s) - polarity._levels_vote(g, s)))
            coarse += abs(polarity._levels_vote(g, 2 * s)) >= polarity.CLEAR + polarity.COARSE_MARGIN
    monkeypatch.setattr(polarity, "COARSE_MARGIN", 10.0)  # never clear enough: the whole sample always
    assert [polarity.ink_is_dark(g) for g in photos] == with_shortcut
    assert max(gaps) < polarity.COARSE_MARGIN and coarse > len(photos) // 3


def test_blank_is_the_99_9th_percentile_under_the_contrast():
    """Counted instead of read from a histogram: the same answer, to the pixel (a 100x100 page is
    blank with 9 ink pixels, not with 10)."""
    flat = np.zeros((100, 100), np.uint8)
    flat.flat[:9] = 200
    assert preprocess._blank(flat, 40)
    flat.flat[9] = 200
    assert not preprocess._blank(flat, 40)
    rng = np.random.default_rng(0)
    for share in np.linspace(0, 0.003, 31):
        flat = np.where(rng.random((120, 97)) < share, rng.integers(0, 256, (120, 97)), 0).astype(np.uint8)
        p999 = polarity._percentiles_of(np.cumsum(polarity._histogram(flat)), (99.9,))[0]
        assert preprocess._blank(flat, 40) == (p999 < 40)


def test_broken_digits_stay_one_and_numbers_stay_apart(edge_mnist):
    """Pieces whose ink comes within a pen skip are one digit (the suite's broken strokes: 2-3
    gaps of 3-6% of the height each); digits written in a row, 12% of their height apart at
    the least, are not joined."""
    reader = recognizer(threads=1)
    x, y = edge_mnist.x_test, edge_mnist.y_test
    counts = [len(reader.read(photo_kinds.photo("broken-strokes", x, y, n).image).digits) for n in range(40)]
    assert counts == [1] * 40
    ones = np.flatnonzero(y == 1)[:6]
    for i in range(0, 6, 2):
        photo = synthetic.render_number([x[ones[i]], x[ones[i + 1]]], [1, 1], seed=int(i), gap=(0.12, 0.13))
        assert [d.digit for d in reader.read(photo.image).digits] == [1, 1]


def test_bridging_fills_only_the_gap_between_pieces(edge_mnist):
    """A skip across a stroke is closed; the digit's own curves (a 2's, a 5's) are left open: ink
    is added only near the gap (within a bridge's width of it)."""
    import cv2

    for index in np.flatnonzero(np.isin(edge_mnist.y_test, [2, 5]))[:10]:
        digit = cv2.resize(edge_mnist.x_test[index], (200, 200), interpolation=cv2.INTER_CUBIC)
        mask = cv2.compare(digit, 128, cv2.CMP_GT)
        ys, xs = np.nonzero(mask)
        mask = mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].copy()
        assert np.array_equal(preprocess._bridged(mask), mask)  # one piece: as it is
        gap = slice(mask.shape[0] // 2 - 4, mask.shape[0] // 2 + 4)  # 8 rows: under a tenth of the height
        broken = mask.copy()
        broken[gap] = 0
        if cv2.connectedComponents(broken)[0] <= 2:
            continue  # the stripe did not cut this digit in two
        bridged = preprocess._bridged(broken)
        added = cv2.bitwise_and(bridged, cv2.bitwise_not(broken))
        near = int(np.ceil(preprocess.BRIDGE * mask.shape[0]))
        assert cv2.countNonZero(added[: gap.start - near]) == cv2.countNonZero(added[gap.stop + near :]) == 0
        assert cv2.countNonZero(added[gap]) > 0
        assert cv2.connectedComponents(bridged)[0] < cv2.connectedComponents(broken)[0]
