"""A personal head: the model's own scores, corrected for one writer's digits. Numpy only.

The head adds a learned linear term of the model's features (edge_runtime/features.py) to
the log of the model's probabilities:

    logits = log(max(p_model, FLOOR)) + W z(features) + b,   z: features standardized on MNIST

W and b start at zero, where the head is the model itself, and are fitted (cross-entropy,
L2 on W, a few hundred full-batch Adam steps) on the writer's samples mixed with MNIST
training digits, so that other writers' digits stay right. Only the digits the writer gave
samples of get a row of W and b: the others' scores are never moved.

A head file is an .npz (no pickle) holding the arrays and a JSON record: the sha256 of the
model it was made for, the samples per digit, the date. Usage:

    head = Head.load("my.head", model_sha256)
    p = head.probabilities(features, model_probabilities)   # (10,) for one digit, (n, 10) for n
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from digitedge.atomic import atomic_path
from digitedge.errors import DigitedgeError

FORMAT = "digitedge-head/1"
CHUNK = 400
FLOOR = 1 / 512  # half an int8 output step: a float model's 1e-20 counts no more than the int8 model's 0


class HeadError(DigitedgeError):
    """A head file that is missing, corrupt, or made for another model."""


@dataclass(frozen=True)
class FitConfig:
    sample_weight: float = 10.0  # one of the writer's samples counts as this many MNIST digits
    l2: float = 1e-3
    iterations: int = 200
    learning_rate: float = 0.05


@dataclass(frozen=True)
class Head:
    model_sha256: str
    weights: np.ndarray  # (10, size); zero rows for digits without samples
    bias: np.ndarray  # (10,)
    mean: np.ndarray  # (size,) the MNIST features' mean ...
    scale: np.ndarray  # (size,) ... and spread
    samples_per_digit: tuple[int, ...]
    created: str

    def logits(self, features: np.ndarray, probs: np.ndarray) -> np.ndarray:
        z = (np.atleast_2d(features) - self.mean) / self.scale
        return np.log(np.maximum(np.atleast_2d(probs), FLOOR)) + z @ self.weights.T + self.bias

    def probabilities(self, features: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """The corrected probabilities: (10,) for one digit's features and model probabilities, (n, 10) for n."""
        p = softmax(self.logits(features, probs))
        return p[0] if np.ndim(features) == 1 else p

    def record(self) -> dict:
        return {"format": FORMAT, "model_sha256": self.model_sha256, "created": self.created,
                "samples_per_digit": list(self.samples_per_digit), "features": int(self.weights.shape[1])}

    def save(self, path: str | Path) -> None:
        """Written beside the target and renamed: an interrupted save leaves the previous head."""
        with atomic_path(path) as tmp, tmp.open("wb") as f:  # a file object: np.savez adds no ".npz"
            np.savez(f, weights=self.weights, bias=self.bias, mean=self.mean, scale=self.scale,
                     record=np.array(json.dumps(self.record())))

    @classmethod
    def load(cls, path: str | Path, model_sha256: str) -> Head:
        """The head in a file, refused unless it was made for the model with this sha256."""
        path = Path(path)
        if not path.is_file():
            raise HeadError(f"{path}: head file not found")
        try:
            with np.load(path, allow_pickle=False) as z:
                record = json.loads(str(z["record"]))
                arrays = [np.asarray(z[k], np.float64) for k in ("weights", "bias", "mean", "scale")]
            head = cls(str(record["model_sha256"]), *arrays, tuple(int(n) for n in record["samples_per_digit"]),
                       str(record["created"]))
            _check(head, record)
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError):
            raise HeadError(f"{path}: not a digitedge head file (corrupt or truncated)") from None
        if head.model_sha256 != model_sha256:
            raise HeadError(f"{path}: made for the model with sha256 {head.model_sha256}, "
                            f"not this one (sha256 {model_sha256})")
        return head


def _check(head: Head, record: dict) -> None:
    """Shapes that fit together, or ValueError."""
    size = head.weights.shape[-1]
    if (record.get("format") != FORMAT or head.weights.shape != (10, size) or head.bias.shape != (10,)
            or head.mean.shape != (size,) or head.scale.shape != (size,) or len(head.samples_per_digit) != 10
            or not np.all(head.scale > 0)):
        raise ValueError("inconsistent head")


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def fit(features: np.ndarray, probs: np.ndarray, labels: np.ndarray, anchor, model_sha256: str,
        config: FitConfig = FitConfig()) -> Head:
    """A head for the writer's digits (features, model probabilities, labels) beside `anchor`
    (features.Anchor: MNIST digits, the other writers)."""
    labels = np.asarray(labels, np.int64)
    counts = np.bincount(labels, minlength=10)
    mean = anchor.features.mean(axis=0)
    scale = anchor.features.std(axis=0) + 1e-3
    z = (np.concatenate([features, anchor.features]) - mean) / scale
    base = np.log(np.maximum(np.concatenate([probs, anchor.probs]), FLOOR))
    y = np.concatenate([labels, anchor.labels])
    w = np.concatenate([np.full(len(labels), config.sample_weight), np.ones(len(anchor.labels))])
    weights, bias = _adam(z, base, y, w / w.sum(), (counts > 0).astype(np.float64), config)
    created = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    return Head(model_sha256, weights, bias, mean, scale, tuple(int(c) for c in counts), created)


def _adam(z, base, y, w, moves, config: FitConfig) -> tuple[np.ndarray, np.ndarray]:
    """Full-batch Adam on the weighted cross-entropy; rows of digits that do not move stay zero."""
    params = [np.zeros((10, z.shape[1])), np.zeros(10)]
    first = [np.zeros_like(p) for p in params]
    second = [np.zeros_like(p) for p in params]
    onehot = np.eye(10)[y]
    # Products of at most CHUNK rows: OpenBLAS runs them on one thread. A bigger one starts a
    # thread per core, and on one pinned or busy core those spin-wait: 50x slower, measured.
    parts = [slice(i, i + CHUNK) for i in range(0, len(z), CHUNK)]
    b1, b2 = 0.9, 0.999
    for t in range(1, config.iterations + 1):
        grads = [config.l2 * params[0], np.zeros(10)]
        for part in parts:
            g = (softmax(base[part] + z[part] @ params[0].T + params[1]) - onehot[part]) * w[part, None]
            grads[0] += g.T @ z[part]
            grads[1] += g.sum(axis=0)
        for p, m, v, grad in zip(params, first, second, grads):
            grad *= moves[:, None] if grad.ndim == 2 else moves
            m *= b1
            m += (1 - b1) * grad
            v *= b2
            v += (1 - b2) * grad * grad
            p -= config.learning_rate * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + 1e-8)
    return params[0], params[1]
