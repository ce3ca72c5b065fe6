"""Shared pieces of the edge tests: MNIST, backends, small image files. No TensorFlow here."""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

DATA = Path(__file__).parent / "data"
SHARED_MNIST = Path("/work/shared/mnist")


def load_mnist():
    """MNIST from $DIGITEDGE_DATA, the shared copy, or the cache; the test is skipped without it."""
    from digitedge import data

    mnist = data.load_first((os.environ.get(data.ENV_VAR), SHARED_MNIST, None))
    if mnist is None:
        pytest.skip("MNIST not found (set DIGITEDGE_DATA)")
    return mnist


@pytest.fixture(scope="session", name="edge_mnist")
def edge_mnist_fixture(request):
    """The `mnist` fixture from conftest when there is one, else our own loader."""
    try:
        return request.getfixturevalue("mnist")
    except pytest.FixtureLookupError:
        return load_mnist()


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
    """A Recognizer without the metadata warning the temporary models raise."""
    from digitedge.edge_runtime.recognizer import MetadataWarning, Recognizer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetadataWarning)
        return Recognizer(model, backend=backend, threads=threads)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height: a decompression bomb's header, without the bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def jpeg_bytes(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, "JPEG", quality=90)
    return out.getvalue()


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
