"""Shared pieces of the personal-head tests (issue #20): a model with a features output, a synthetic
writer's labelled photos, and a head fitted on them.

The model is the shipped int8 once it has a features output; until then models/digits.keras is
converted here (TensorFlow). Import the fixtures into a test module to use them.
"""

from __future__ import annotations

from pathlib import Path

import cli_helpers
import pytest

ROOT = Path(__file__).resolve().parents[1]
PER_DIGIT = 4  # samples of each digit: enough to learn the 'round' writer's 6s and 1s


@pytest.fixture(scope="session", name="feature_model")
def feature_model_fixture(tmp_path_factory, mnist_dir) -> Path:
    """An int8 model with a features output: the shipped one when it has it, else converted here."""
    from digitedge.edge_runtime.metadata import read_metadata
    from digitedge.edge_runtime.recognizer import DEFAULT_MODEL

    if "features" in ((read_metadata(DEFAULT_MODEL) or {}).get("outputs") or {}):
        return DEFAULT_MODEL
    pytest.importorskip("tensorflow")
    out = tmp_path_factory.mktemp("personalize-model")
    result = cli_helpers.run("convert", ROOT / "models" / "digits.keras", "--out", out, "-f", "int8",
                             "--verify-images", 300, "--data-dir", mnist_dir)
    assert result.exit_code == 0, result.output
    return out / "digits_int8.tflite"


def write_writer(folder: Path, writer: str, numbers: range, digits=range(10)) -> Path:
    """A synthetic writer's photos of each digit, as a SAMPLES folder (subfolders 0-9)."""
    from digitedge.benchmarks import writers
    from digitedge.benchmarks.synthetic import write_image

    for d in digits:
        (folder / str(d)).mkdir(parents=True, exist_ok=True)
        for n in numbers:
            write_image(folder / str(d) / f"{n:02d}.jpg", writers.photo(writers.BY_NAME[writer], d, n).image)
    return folder


@pytest.fixture(scope="session", name="samples")
def samples_fixture(tmp_path_factory) -> Path:
    return write_writer(tmp_path_factory.mktemp("samples") / "round", "round", range(PER_DIGIT))


@pytest.fixture(scope="session", name="head_file")
def head_file_fixture(tmp_path_factory, feature_model, samples) -> Path:
    """A head for the 'round' writer, made by `digitedge personalize` for feature_model."""
    out = tmp_path_factory.mktemp("head") / "round.head"
    result = cli_helpers.run("personalize", samples, "--out", out, "--model", feature_model)
    assert result.exit_code == 0, result.output
    return out
