"""A digit's confidence (edge_runtime/confidence.py): its probability, checked by a second look at
the digit thinned, on real MNIST-C digits through the shipped int8 model. No TensorFlow here."""

from __future__ import annotations

import numpy as np
import pytest
from edge_helpers import read_28

from digitedge.benchmarks import calibration
from digitedge.benchmarks.corruptions import corrupt
from digitedge.benchmarks.robustness import load_models
from digitedge.edge_runtime.confidence import SECOND_LOOK_BELOW, confidences, thinned
from digitedge.edge_runtime.recognizer import DEFAULT_MODEL, Recognizer

pytestmark = pytest.mark.edge


@pytest.fixture(scope="module")
def hard(edge_mnist):
    """1,500 hard digits: MNIST test digits under three MNIST-C corruptions, and their labels."""
    x, y = edge_mnist.x_test[:500], edge_mnist.y_test[:500].astype(int)
    return np.concatenate([corrupt(n, x) for n in ("motion_blur", "zigzag", "impulse_noise")]), np.tile(y, 3)


def test_thinning_erodes_the_strokes_and_nothing_else(edge_mnist):
    digit = edge_mnist.x_test[0]
    thin = thinned(digit)
    assert thin.shape == digit.shape and thin.dtype == np.uint8
    assert 0 < np.count_nonzero(thin) < np.count_nonzero(digit)
    assert np.all(thin <= digit)  # an erosion: no pixel brighter
    assert np.array_equal(thinned(edge_mnist.x_test[:3])[1], thinned(edge_mnist.x_test[1]))  # a stack: each alike


def test_the_second_look_is_taken_below_its_level_and_only_lowers(hard):
    reader = Recognizer(min_confidence=0.0)
    looked = 0
    for image in hard[0][::10]:
        probs = reader.probabilities(image)
        digit, probability, _ = reader.classify(image)
        p = read_28(reader, image)
        assert p.digit == digit and p.probability == probability
        if probability >= SECOND_LOOK_BELOW:
            assert p.confidence == probability
        else:
            looked += 1
            again = float(reader.probabilities(thinned(image))[int(np.argmax(probs))])
            assert p.confidence == pytest.approx(min(probability, again))
    assert 10 <= looked < len(hard[0][::10])


def test_the_calibration_record_scores_what_the_recognizer_says(hard):
    """benchmarks/calibration.py's batched confidences are the Recognizer's, digit for digit."""
    (model,) = load_models([DEFAULT_MODEL], 1)
    images = hard[0][:300]
    probs = calibration.mnist_probabilities(model, images)
    batched = confidences(images, probs, lambda x: calibration.mnist_probabilities(model, x))
    reader = Recognizer(min_confidence=0.0)
    one_by_one = [read_28(reader, i).confidence for i in images]
    assert batched == pytest.approx(one_by_one, abs=1e-6)


def test_the_second_look_doubts_wrong_readings_far_more_than_right_ones(hard):
    (model,) = load_models([DEFAULT_MODEL], 1)
    images, labels = hard
    probs = calibration.mnist_probabilities(model, images)
    right = probs.argmax(1) == labels
    top = probs.max(1)
    drop = top - confidences(images, probs, lambda x: calibration.mnist_probabilities(model, x))
    assert (drop >= 0).all() and (~right).sum() >= 30
    assert drop[~right].mean() > 5 * drop[right].mean()  # measured: 0.66 vs 0.014
    # where both keep the same 80% of the digits, under half as many of those kept are wrong (measured: 10 vs 52)
    sure = top - drop
    keep = np.sort(sure)[::-1][int(0.8 * len(sure))]
    by_probability = np.sort(top)[::-1][int(0.8 * len(top))]
    assert 2 * (~right[sure >= keep]).sum() < (~right[top >= by_probability]).sum()
