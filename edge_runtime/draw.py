"""Boxes and labels drawn on an image: for --annotate, the webcam window and --save."""

from __future__ import annotations

import cv2
import numpy as np

GREEN, AMBER, RED = (40, 200, 40), (0, 170, 255), (40, 40, 230)  # BGR
MAGENTA = (220, 60, 200)  # BGR: unsure digits, a hue no confidence level uses


def colour(probability: float, unsure: bool = False) -> tuple[int, int, int]:
    if unsure:
        return MAGENTA
    return GREEN if probability >= 0.9 else AMBER if probability >= 0.6 else RED


def caption(d) -> str:
    """ "7 98%", or "7? 46%" for an unsure digit: its best guess, marked, with its confidence."""
    mark = "?" if getattr(d, "unsure", False) else ""
    pct = 100 * sureness(d)
    shown = f"{pct:.1f}" if 99.5 <= pct < 100 else f"{pct:.0f}"  # 99.6%, never a rounded-up 100%
    return f"{d.digit}{mark} {shown}%"


def sureness(d) -> float:
    """What a digit's percentage shows: its confidence (a Prediction's), else its probability."""
    sure = getattr(d, "confidence", None)
    return d.probability if sure is None else sure


def label(image: np.ndarray, text: str, x: int, y: int, fg=(255, 255, 255), bg=(0, 0, 0)) -> None:
    """Text on a filled background, kept inside the image."""
    scale = max(0.4, min(image.shape[:2]) / 600)
    thick = max(1, round(scale * 1.5))
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    x = int(min(max(0, x), max(0, image.shape[1] - w - 2)))
    y = int(min(max(h + base + 2, y), image.shape[0] - 1))
    cv2.rectangle(image, (x, y - h - base - 2), (x + w + 2, y), bg, cv2.FILLED)
    cv2.putText(image, text, (x + 1, y - base), cv2.FONT_HERSHEY_SIMPLEX, scale, fg, thick, cv2.LINE_AA)


def boxes(image: np.ndarray, detections, scale: float = 1.0) -> np.ndarray:
    """Draw each detection (anything with .box, .digit, .probability, maybe .confidence and .unsure) on a BGR image,
    in place; unsure digits in their own colour.

    `scale` maps the boxes' coordinates to this image's (for a downscaled copy).
    """
    thick = max(1, round(min(image.shape[:2]) / 250))
    for d in detections:
        if d.box is None:
            continue
        x, y, w, h = (round(v / scale) for v in d.box)
        c = colour(sureness(d), getattr(d, "unsure", False))
        cv2.rectangle(image, (x, y), (x + w, y + h), c, thick)
        label(image, caption(d), x, y - 2, bg=c)
    return image


def to_bgr(image: np.ndarray) -> np.ndarray:
    """A drawable BGR copy of a grayscale or RGB image."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
