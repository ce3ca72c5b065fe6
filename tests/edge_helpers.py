"""Shared pieces of the edge tests: backends, a quiet Recognizer, clear digits. No TensorFlow here.

MNIST comes from conftest.py's `mnist` fixture (`edge_mnist` is the same), image bytes from helpers.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"


def backends() -> list[str]:
    from digitedge.edge_runtime.interpreter import available_backends

    return available_backends()


def backend_params():
    """Every backend, those not installed here skipped."""
    found = backends()
    return [
        pytest.param(b, marks=pytest.mark.skipif(b not in found, reason=f"{b} not installed"))
        for b in ("litert", "tflite-runtime")
    ]


def recognizer(model=None, backend="auto", threads=None):
    """A Recognizer, its warnings (the temporary models have no metadata) kept out of the way."""
    from digitedge.edge_runtime.recognizer import load_recognizer

    return load_recognizer(model, backend, threads)[0]


def read_28(reader, digit28: np.ndarray):
    """The Prediction a Recognizer makes of an MNIST-like 28x28 as it is (no photo path): digit,
    probability, top 3 and confidence, as `read` gives them for a digit cut from a photo."""
    from digitedge.edge_runtime.preprocess import DigitCrop

    return reader._predict_crop(DigitCrop((0, 0, 28, 28), digit28), 0.0)


def clear_digits(mnist, reader, text: str, skip: int = 0) -> list[np.ndarray]:
    """For each character, an MNIST test digit of that label the model reads surely (the `skip`-th
    such): camera and server tests are about their path, not the model on MNIST's hardest digits."""
    from digitedge.edge_runtime.preprocess import normalize

    out = []
    for c in text:
        found = 0
        for index in np.nonzero(mnist.y_test == int(c))[0]:
            probs = reader.model.run(normalize(mnist.x_test[index]))
            if probs.argmax() == int(c) and probs.max() > 0.95:
                if found == skip:
                    out.append(mnist.x_test[index])
                    break
                found += 1
    return out


def foreign_model(folder: Path) -> Path:
    """An MNIST classifier without digitedge metadata, as if converted elsewhere: the shipped model
    with our entry renamed (same length, so the flatbuffer's offsets stay valid) and only its
    first output, the scores (a foreign model has no features output to mark)."""
    from digitedge.edge_runtime.metadata import _Reader
    from digitedge.edge_runtime.modelfile import MODEL_SUBGRAPHS, SUBGRAPH_OUTPUTS
    from digitedge.edge_runtime.recognizer import DEFAULT_MODEL

    data = bytearray(DEFAULT_MODEL.read_bytes().replace(b"digitedge", b"otherdata"))
    reader = _Reader(bytes(data))
    root = reader.indirect(0)
    subgraph = reader.table_at(reader.vector(root, MODEL_SUBGRAPHS)[0], 0)
    start, count = reader.vector(subgraph, SUBGRAPH_OUTPUTS)
    assert count == 2 and reader.unpack("<I", start - 4) == 2
    data[start - 4 : start] = (1).to_bytes(4, "little")  # the outputs vector's length: scores only
    path = folder / "foreign.tflite"
    path.write_bytes(bytes(data))
    return path
