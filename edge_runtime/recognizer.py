"""The device API: a photo in, the digit (or the number) out, with confidences and timing.

Usage:
    from digitedge.edge_runtime.recognizer import Recognizer
    r = Recognizer()                  # the shipped int8 model, the best interpreter there is
    r.predict("photo.jpg")            # Prediction(digit=7, probability=0.998, top3=[...], confidence=0.998, ...)
    r.read("house-number.jpg").text   # "4025" ("40?5": the third digit's confidence under min_confidence)
    Recognizer(personal="my.head")    # read through a head made by `digitedge personalize` for the model
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digitedge.errors import DigitedgeError, ModelError

from . import imageio
from .confidence import confidence
from .convention import Override
from .features import sha256_of
from .interpreter import Model
from .personal import Head
from .preprocess import (
    PREPROCESSING_VERSION,
    DigitCrop,
    PhotoConfig,
    find_digits,
    prepare,
)
from .profile import OFF

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = MODELS_DIR / "digits_int8.tflite"
DEFAULT_LABELS = [str(d) for d in range(10)]
# A digit whose confidence (confidence.py: its probability, checked by a second look) is under
# this is marked unsure ("?"). Chosen from a measurement, not by
# taste: benchmarks/results/calibration/calibration.md (`digitedge calibration`) says how,
# and a test keeps this equal to the value recorded there.
DEFAULT_MIN_CONFIDENCE = 0.86
UNSURE = "?"
DEFAULT_METADATA = {
    "labels": DEFAULT_LABELS,
    "input": {
        "height": 28,
        "width": 28,
        "channels": 1,
        "polarity": "white-on-black",
        "preprocessing": PREPROCESSING_VERSION,
    },
}


class MetadataWarning(UserWarning):
    """The model carries no (or unexpected) digitedge metadata; defaults were assumed."""


@dataclass(frozen=True)
class Prediction:
    digit: int
    probability: float
    top3: list[tuple[int, float]]  # (digit, probability), most likely first
    seconds: float  # reading + preprocessing + inference (in a Reading: this digit's inference)
    box: tuple[int, int, int, int] | None = None  # x, y, w, h in the image
    unsure: bool = False  # confidence under the recognizer's min_confidence
    confidence: float | None = None  # the probability checked by a second look (confidence.py); None: the probability

    def __post_init__(self):
        if self.confidence is None:
            object.__setattr__(self, "confidence", self.probability)

    @property
    def text(self) -> str:
        """The digit, or "?" when it is unsure."""
        return UNSURE if self.unsure else str(self.digit)

    def to_dict(self) -> dict:
        """This digit as `digitedge predict --json` and the server's API give it."""
        return {
            "digit": self.digit,
            "probability": round(self.probability, 4),
            "top3": [[digit, round(p, 4)] for digit, p in self.top3],
            "box": list(self.box) if self.box is not None else None,
            "unsure": self.unsure,
            "confidence": round(self.confidence, 4),
        }


@dataclass(frozen=True)
class Reading:
    text: str  # the digits left to right, e.g. "4025"; "?" for each unsure digit ("40?5")
    digits: list[Prediction] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def probability(self) -> float:
        """How sure the whole number is: the product of its digits' probabilities."""
        return float(np.prod([d.probability for d in self.digits])) if self.digits else 0.0

    @property
    def confidence(self) -> float:
        """The product of its digits' confidences."""
        return float(np.prod([d.confidence for d in self.digits])) if self.digits else 0.0

    def scaled(self, factor: float) -> Reading:
        """This reading with its boxes multiplied by `factor` (from the pixels read to the original image's)."""
        if factor == 1.0:
            return self
        digits = [dataclasses.replace(d, box=tuple(round(v * factor) for v in d.box)) for d in self.digits]
        return dataclasses.replace(self, digits=digits)

    def to_dict(self, path: str | None = None) -> dict:
        """The JSON of `digitedge predict --json` (and of the server's /api/predict): path first when given."""
        out = {} if path is None else {"path": path}
        return {
            **out,
            "text": self.text,
            "probability": round(self.probability, 4),
            "digits": [d.to_dict() for d in self.digits],
            "seconds": round(self.seconds, 5),
            "confidence": round(self.confidence, 4),
        }


class Recognizer:
    """A loaded model and the photo pipeline in front of it."""

    timer = OFF  # a profile.StageTimer here times every call's stages (`digitedge predict --profile`)

    def __init__(
        self,
        model: str | Path | None = None,
        backend: str = "auto",
        threads: int | None = None,
        photo: PhotoConfig = PhotoConfig(),
        min_confidence: float = DEFAULT_MIN_CONFIDENCE,
        override: Override | None = None,  # --input-range, --invert: for a model without metadata
        personal: str | Path | None = None,  # a head file (`digitedge personalize`) made for this model
    ):
        if not 0.0 <= min_confidence <= 1.0:
            raise DigitedgeError(f"min_confidence {min_confidence:g}: must be between 0 and 1")
        self.min_confidence = min_confidence
        self.model_path = Path(model) if model is not None else DEFAULT_MODEL
        self.model = Model(self.model_path, backend=backend, threads=threads, override=override)
        self.metadata, self.has_metadata = self._load_metadata()
        self.labels = [str(v) for v in self.metadata.get("labels", DEFAULT_LABELS)]
        if len(self.labels) != self.model.num_classes:
            raise ModelError(
                f"{self.model_path}: metadata lists {len(self.labels)} labels but the "
                f"model outputs {self.model.num_classes} scores"
            )
        self.photo = photo
        self.personal = Path(personal) if personal is not None else None
        self.head = self._load_head() if personal is not None else None

    def _load_head(self) -> Head:
        """The personal head, refused unless the model has a features output and the head was made for it."""
        if self.model.features_output is None:
            raise ModelError(f"{self.model_path}: the model has no features output, so it cannot use the personal "
                             f"head {self.personal} (models made by digitedge convert have one)")
        return Head.load(self.personal, sha256_of(self.model_path))

    @property
    def backend(self) -> str:
        return self.model.backend

    def _load_metadata(self) -> tuple[dict, bool]:
        meta = self.model.metadata  # read (and checked) by the model, which follows its input contract
        if meta is None:
            warnings.warn(f"{self.model_path}: {self.model.convention_note()}", MetadataWarning, stacklevel=3)
            return DEFAULT_METADATA, False
        wanted = meta.get("input", {}).get("preprocessing")
        if wanted not in (None, PREPROCESSING_VERSION):
            warnings.warn(
                f"{self.model_path}: trained for preprocessing {wanted!r}, this runtime does {PREPROCESSING_VERSION!r}",
                MetadataWarning,
                stacklevel=3,
            )
        return meta, True

    def classify(self, digit28: np.ndarray) -> tuple[int, float, list[tuple[int, float]]]:
        """An MNIST-like 28x28 uint8 (white on black) -> (digit, probability, top 3); the model's
        own input convention (range, polarity, layout) is applied by the Model; with a personal
        head, the head's probabilities."""
        return self._classified(self.probabilities(digit28))

    def probabilities(self, digit28: np.ndarray) -> np.ndarray:
        """The model's (or the personal head's) probabilities for an MNIST-like 28x28 uint8."""
        if self.head is None:
            probs = self.model.run_pixels(digit28)
        else:
            probs, features = self.model.run_pixels(digit28, features=True)
            probs = self.head.probabilities(features, probs)
        self.timer.mark("invoke")
        return probs

    def _classified(self, probs: np.ndarray) -> tuple[int, float, list[tuple[int, float]]]:
        order = np.argsort(-probs, kind="stable")[:3]  # ties (common in uint8 outputs) go to argmax's pick
        top3 = [(self._label(i), float(probs[i])) for i in order]
        return top3[0][0], top3[0][1], top3

    def _label(self, index: int) -> int:
        label = self.labels[index]
        return int(label) if label.isdigit() else index

    def predict(self, image, name: str | None = None) -> Prediction:
        """One digit: the whole image is taken as a single digit. Raises NoDigitError on a blank image.

        `image` is a path, the bytes of an image file, or an array: grayscale (H, W) or RGB
        (H, W, 3). The box is in the original image's pixels.
        """
        start = time.perf_counter()
        self.timer.start()
        pixels, name, scale = self._pixels(image, name)
        self.timer.mark("decode")
        crop = prepare(pixels, self.photo, name=name, timer=self.timer)
        return self._predict_crop(crop, start, scale)

    def read(self, image, name: str | None = None) -> Reading:
        """A number: every digit left to right, each with its confidence and box."""
        start = time.perf_counter()
        self.timer.start()
        pixels, name, scale = self._pixels(image, name)
        self.timer.mark("decode")
        crops = find_digits(pixels, self.photo, name=name, timer=self.timer)
        digits = [self._predict_crop(c, time.perf_counter(), scale) for c in crops]
        return Reading("".join(d.text for d in digits), digits, time.perf_counter() - start)

    def detect(self, pixels: np.ndarray) -> list[Prediction]:
        """Every digit in a frame, left to right; [] when there is none (never raises for that)."""
        self.timer.start()
        return [self._predict_crop(c, time.perf_counter()) for c in find_digits(pixels, self.photo, timer=self.timer)]

    def _predict_crop(self, crop: DigitCrop, start: float, scale: float = 1.0) -> Prediction:
        probs = self.probabilities(crop.image)
        digit, probability, top3 = self._classified(probs)
        sure = confidence(crop.image, probs, self.probabilities)
        box = tuple(round(v * scale) for v in crop.box) if scale != 1.0 else crop.box
        self.timer.mark("post")
        return Prediction(digit, probability, top3, time.perf_counter() - start, box, sure < self.min_confidence, sure)

    def _pixels(self, image, name: str | None) -> tuple[np.ndarray, str, float]:
        """(pixels, name for messages, factor from pixel to original coordinates)."""
        if isinstance(image, np.ndarray):
            return image, name or "image", 1.0
        name = name or ("<bytes>" if isinstance(image, (bytes, bytearray)) else str(image))
        need = (self.photo.work_side, self.photo.max_work_side)
        pixels, scale = imageio.read_image_scaled(image, name, need, gray=True)  # the ink is all it reads
        return pixels, name, scale


def load_recognizer(
    model: str | Path | None = None,
    backend: str = "auto",
    threads: int | None = None,
    photo: PhotoConfig | None = None,
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
    override: Override | None = None,
    personal: str | Path | None = None,
) -> tuple[Recognizer, list[str]]:
    """(Recognizer, its warnings as text): metadata (and any other load) warnings are kept, not raised.

    The one policy for a model without (or with unexpected) metadata: it loads with the
    defaults, and the caller decides how to show the warnings (the CLI as `warning:` lines,
    the server on its page, the benchmarks in their records).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recognizer = Recognizer(model, backend, threads, photo or PhotoConfig(), min_confidence, override,
                                personal=personal)
    return recognizer, [str(w.message) for w in caught]
