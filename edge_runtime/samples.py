"""A writer's labelled photos (a SAMPLES folder) -> their digits as the recognizer sees them.

The label of a photo is its subfolder's name (`7/`, or `42/` for photos of 42) or, for a
photo directly in the folder, the digits its file name starts with (`7_01.jpg`, `4025-door.jpg`).
Each photo is read by the normal photo pipeline (find_digits, as `Recognizer.read` does); it
must show as many digits as its label has. A photo that cannot be read, shows no digit, or
shows another number of digits is skipped and counted, never fatal.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digitedge.errors import DigitedgeError, ImageError, NoDigitError

from . import imageio
from .preprocess import PhotoConfig, find_digits

LEADING_DIGITS = re.compile(r"\d+")
SKIP_REASONS = ("unreadable", "no digit", "digits not as labelled")


@dataclass
class Samples:
    crops: np.ndarray  # (n, 28, 28) uint8, white on black
    labels: np.ndarray  # (n,) the digit of each crop
    photo_of: np.ndarray  # (n,) index into `photos` of the photo each crop came from
    photos: list[Path] = field(default_factory=list)  # the photos used
    texts: list[str] = field(default_factory=list)  # their labels
    skipped: list[tuple[Path, str, str]] = field(default_factory=list)  # (photo, reason, message)

    @property
    def per_digit(self) -> list[int]:
        return np.bincount(self.labels, minlength=10).tolist()

    def summary(self, folder: Path) -> str:
        """One line: photos read, digits per digit, photos skipped and why."""
        per = self.per_digit
        given = [d for d in range(10) if per[d]]
        text = (f"{folder}: {len(self.photos) + len(self.skipped)} labelled photos, {len(self.photos)} used: "
                f"{len(self.labels)} digits ({', '.join(f'{per[d]} of {d}' for d in given)})")
        missing = [str(d) for d in range(10) if not per[d]]
        if missing:
            text += f"; no samples of {', '.join(missing)} (the head leaves them as the model reads them)"
        counts = Counter(reason for _, reason, _ in self.skipped)
        if self.skipped:
            text += f"; {len(self.skipped)} skipped (" + ", ".join(
                f"{counts[r]} {r}" for r in SKIP_REASONS if counts[r]) + ")"
        return text


def labelled_photos(folder: Path) -> list[tuple[Path, str]]:
    """(photo, label) for every image file with a label, sorted by path."""
    if not folder.exists():
        raise DigitedgeError(f"{folder}: samples folder not found")
    if not folder.is_dir():
        raise DigitedgeError(f"{folder}: not a folder (SAMPLES is a folder of labelled photos)")
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir() and entry.name.isdigit():
            found += [(p, entry.name) for p in sorted(entry.iterdir()) if _is_image(p)]
        elif _is_image(entry) and LEADING_DIGITS.match(entry.name):
            found.append((entry, LEADING_DIGITS.match(entry.name).group()))
    if not found:
        raise DigitedgeError(f"{folder}: no labelled photo (put them in subfolders 0 to 9, or start each file "
                             "name with its digits, e.g. 7_01.jpg)")
    return found


def _is_image(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in imageio.EXTENSIONS


def read_samples(folder: str | Path, photo: PhotoConfig = PhotoConfig()) -> Samples:
    """Every labelled photo's digits; photos that cannot give their label's digits are skipped."""
    folder = Path(folder)
    crops, labels, photo_of = [], [], []
    samples = Samples(np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64), np.zeros(0, np.int64))
    for path, label in labelled_photos(folder):
        try:
            pixels, _ = imageio.read_image_scaled(path, str(path), (photo.work_side, photo.max_work_side))
            found = find_digits(pixels, photo, name=str(path))
        except NoDigitError as e:
            samples.skipped.append((path, "no digit", str(e)))
            continue
        except ImageError as e:
            samples.skipped.append((path, "unreadable", str(e)))
            continue
        if len(found) != len(label):
            samples.skipped.append((path, "digits not as labelled",
                                    f"{path}: {len(found)} digits found, the label {label} has {len(label)}"))
            continue
        crops += [c.image for c in found]
        labels += [int(d) for d in label]
        photo_of += [len(samples.photos)] * len(found)
        samples.photos.append(path)
        samples.texts.append(label)
    if crops:
        samples.crops, samples.labels = np.stack(crops), np.array(labels, np.int64)
        samples.photo_of = np.array(photo_of, np.int64)
    return samples
