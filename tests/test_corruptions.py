"""MNIST-C corruptions and graded sweeps: deterministic, shape- and dtype-keeping, changing, identity at 0."""

from __future__ import annotations

import numpy as np
import pytest

from digitedge.benchmarks.corruptions import CORRUPTIONS, SWEEPS, corrupt, rng_for, sweep

pytestmark = pytest.mark.edge


@pytest.fixture(scope="module")
def digits(mnist) -> np.ndarray:
    return mnist.x_test[:40].copy()


def test_the_15_corruptions_of_mnist_c():
    assert len(CORRUPTIONS) == 15
    for name, (_, severity, description) in CORRUPTIONS.items():
        assert 1 <= severity <= 5 and description, name


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_corruption_is_deterministic_keeps_shape_and_changes_the_image(name, digits):
    before = digits.copy()
    first = corrupt(name, digits, seed=3)
    assert np.array_equal(digits, before), "the input must not be modified"
    assert first.shape == digits.shape and first.dtype == np.uint8
    assert np.array_equal(first, corrupt(name, digits, seed=3))
    changed = np.any(first != digits, axis=(1, 2))
    assert changed.mean() >= 0.9, f"{name} left {np.sum(~changed)} of {len(digits)} images unchanged"


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_corruption_severities(name, digits):
    f = CORRUPTIONS[name][0]
    same = f(digits, 0, rng_for(name, 0))
    assert np.array_equal(same, digits) and same is not digits
    for severity in range(1, 6):
        out = f(digits, severity, rng_for(name, 0))
        assert out.shape == digits.shape and out.dtype == np.uint8
    with pytest.raises(ValueError):
        f(digits, 6, rng_for(name, 0))


def test_random_corruptions_depend_on_the_seed(digits):
    for name in ("shot_noise", "impulse_noise", "glass_blur", "rotate", "fog", "zigzag"):
        assert not np.array_equal(corrupt(name, digits, seed=0), corrupt(name, digits, seed=1)), name


def test_stronger_noise_changes_more(digits):
    mild, strong = (corrupt("impulse_noise", digits, severity=s) for s in (1, 5))
    assert np.mean(mild != digits) < np.mean(strong != digits)


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_sweep_levels(name, digits):
    s = SWEEPS[name]
    assert s.values[0] == s.identity or s.identity in s.values
    assert set(s.quick_values) <= set(s.values) and s.identity in s.quick_values
    assert np.array_equal(sweep(name, digits, s.identity), digits)
    for value in s.values:
        if value == s.identity:
            continue
        out = sweep(name, digits, value, seed=5)
        assert out.shape == digits.shape and out.dtype == np.uint8
        assert np.array_equal(out, sweep(name, digits, value, seed=5))
        assert np.any(out != digits, axis=(1, 2)).mean() >= 0.9, (name, value)


def test_sweeps_do_what_they_say(digits):
    ink = digits > 127
    assert (sweep("thickness", digits, 2) > 127).sum() > ink.sum() > (sweep("thickness", digits, -1) > 127).sum()
    flipped = sweep("polarity", digits, 4)
    assert np.array_equal(flipped, 255 - digits)
    assert sweep("contrast", digits, 0.25).std() < digits.std() / 3


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="uint8"):
        corrupt("fog", np.zeros((2, 28, 28), np.float32))
    with pytest.raises(KeyError, match="unknown corruption"):
        corrupt("sunburn", np.zeros((2, 28, 28), np.uint8))
