"""Which way round is the ink? Dark on light paper (a pen) or light on dark (chalk, a screen).

Three votes, each "the ink is the tail further from the paper", each in [-1, 1]:
- levels: the paper is the median of the whole picture with its centre counted twice (a table
  may fill a border, a thick digit cropped tight the centre, but neither both);
- border: the paper is the median of the frame's outermost pixels (a thick digit that fills the
  frame covers the centre, not the whole rim); at a quarter weight, a tie-breaker (measured on
  the photo suite: a table at the rim misleads it more often than it helps at full weight);
- local: each pixel less its neighbourhood's mean, at 100 px, so that uneven light, which can
  outweigh faint pencil, cancels out. Asked only when the first two are not clear; at half
  weight (it rights faint pencil under a shadow, and on its own misjudges thick digits that
  fill the frame).
"""

from __future__ import annotations

import cv2
import numpy as np

LEVELS_SIDE = 200  # px: the levels and border votes read about this many of the photo's own pixels
LOCAL_SIDE = 100  # px: the local vote's copy
BORDER_WEIGHT = 0.25
LOCAL_WEIGHT = 0.5
CLEAR = 0.5  # a levels + border vote this far from 0 decides alone
# The vote on every other sample pixel (a quarter of the histogram work) is within 0.091 of the
# whole sample's on 3,900 suite photos: past CLEAR by more than that, it decides the same way alone.
COARSE_MARGIN = 0.1
MIN_SAMPLE = 50  # px: no coarser sample than this (a small photo's tails are a few pixels)


def ink_is_dark(gray: np.ndarray, small: np.ndarray | None = None) -> bool:
    """Dark ink on light paper? `small`, when given, is a reduced copy of `gray` the local vote
    may start from."""
    # every s-th pixel, not an average: the tails hold the photo's noise, and it is cheap
    s = max(1, round(min(gray.shape) / LEVELS_SIDE))
    if min(gray.shape) >= 2 * s * MIN_SAMPLE:  # every other one of those first: clear votes need no more
        vote = _levels_vote(gray, 2 * s)
        if abs(vote) >= CLEAR + COARSE_MARGIN:
            return vote > 0
    vote = _levels_vote(gray, s)
    if abs(vote) >= CLEAR:
        return vote > 0
    return vote + LOCAL_WEIGHT * _local_vote(gray if small is None else small) >= 0


def _levels_vote(gray: np.ndarray, s: int) -> float:
    """The levels and border votes on every s-th pixel."""
    sample = np.ascontiguousarray(gray[::s, ::s]) if s > 1 else gray
    h, w = sample.shape
    centre = sample[h // 4 : h - h // 4, w // 4 : w - w // 4]
    lo, median, hi = _percentiles_of(np.cumsum(_histogram(sample) + _histogram(centre)), (1, 50, 99))
    rim = np.concatenate([sample[0], sample[-1], sample[1:-1, 0], sample[1:-1, -1]])
    rim_median = float(np.partition(rim, len(rim) // 2)[len(rim) // 2])  # (np.median: 5x the time)
    return _tail_vote(lo, median, hi) + BORDER_WEIGHT * _tail_vote(lo, rim_median, hi)


def _tail_vote(lo: float, paper: float, hi: float) -> float:
    """+1 when the dark tail is the further from the paper (dark ink), -1 when the bright one is."""
    return (paper - lo - (hi - paper)) / max(1, hi - lo)


def _local_vote(small: np.ndarray) -> float:
    h, w = small.shape
    f = max(1.0, min(h, w) / LOCAL_SIDE)  # (a whole factor, though faster, tips marginal votes)
    size = (max(1, round(w / f)), max(1, round(h / f)))
    # bilinear, not area: a tenth of the time at this odd factor, and the same vote on every photo
    # of the suite (1,100 photos and 200 numbers, two sets of seeds)
    small = cv2.resize(small, size, interpolation=cv2.INTER_LINEAR)
    box = min(small.shape) // 3 | 1
    # pixel - mean + 255 (0-510) as pixel + (255 - mean): one OpenCV call, no int16 copies
    mean = cv2.blur(small, (box, box), borderType=cv2.BORDER_REFLECT)
    local = cv2.add(small, cv2.bitwise_not(mean), dtype=cv2.CV_16U)
    lo, median, hi = _percentiles_of(np.cumsum(np.bincount(local.ravel(), minlength=511)), (1, 50, 99))
    return _tail_vote(lo, median, hi)


def _histogram(image: np.ndarray, bins: int = 256) -> np.ndarray:
    """Counts of each level of a uint8 image (OpenCV's: several times numpy's speed)."""
    return cv2.calcHist([np.ascontiguousarray(image)], [0], None, [bins], [0, bins]).ravel()


def _percentiles_of(cumulative: np.ndarray, qs) -> list[int]:
    return [int(np.searchsorted(cumulative, q / 100 * (cumulative[-1] - 1) + 1)) for q in qs]
