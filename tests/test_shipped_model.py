"""The shipped default model, through the TensorFlow-free runtime (the edge environments too):
what its metadata says, its size against float32, and its accuracy on all 10,000 test images."""

from __future__ import annotations

from pathlib import Path

import pytest

SHIPPED = Path(__file__).resolve().parents[1] / "edge_runtime" / "models"


@pytest.fixture(scope="module")
def shipped_int8(mnist):
    """(accuracy through the TensorFlow-free runtime on all 10,000 test images, embedded metadata)."""
    from digitedge.edge_runtime.metadata import read_metadata

    path = SHIPPED / "digits_int8.tflite"
    assert path.is_file(), f"{path}: the shipped model is missing"
    meta = read_metadata(path)
    assert meta is not None, (f"{path.name} has no digitedge metadata: not the converted release model "
                              "(digitedge convert models/digits.keras --out edge_runtime/models --full)")
    from digitedge.edge_runtime.recognizer import Recognizer

    recognizer = Recognizer()  # no path: the shipped default, through the TensorFlow-free runtime
    assert recognizer.model_path.resolve() == path.resolve()
    correct = sum(recognizer.classify(image)[0] == int(label)
                  for image, label in zip(mnist.x_test, mnist.y_test))
    return correct / len(mnist.y_test), meta


@pytest.mark.edge
def test_shipped_int8_model_is_what_its_metadata_says_and_meets_the_size_and_drop_goals(shipped_int8):
    from digitedge.edge_runtime.metadata import read_metadata

    accuracy, meta = shipped_int8
    assert meta["quantization"] == "int8" and meta["accuracy"]["images"] == 10000
    assert abs(accuracy - meta["accuracy"]["tflite"]) <= 0.001  # what the metadata claims
    float32 = SHIPPED / "digits_float32.tflite"
    assert (SHIPPED / "digits_int8.tflite").stat().st_size <= 0.3 * float32.stat().st_size
    assert meta["accuracy"]["tflite"] >= read_metadata(float32)["accuracy"]["tflite"] - 0.001


@pytest.mark.edge
def test_shipped_int8_model_scores_995_on_the_full_test_set(shipped_int8):
    accuracy, _ = shipped_int8
    assert accuracy >= 0.995, f"shipped int8: {100 * accuracy:.2f}%"
