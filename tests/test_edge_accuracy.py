"""The whole path on photos: MNIST test digits rendered as a camera sees paper (digitedge.benchmarks.synthetic).

Issue 5's bars: single digits >= 97% read correctly, numbers of 3 to 6 digits >= 90% read
as the exact string. TensorFlow-free: runs in the edge-only environments.
"""

from __future__ import annotations

import numpy as np
import pytest
from edge_helpers import recognizer

from digitedge.benchmarks import synthetic

pytestmark = pytest.mark.edge
SINGLE_PHOTOS = 400
NUMBER_PHOTOS = 60


@pytest.fixture(scope="module")
def reader():
    return recognizer()


def test_single_digit_photos(edge_mnist, reader, tmp_path):
    """Most photos go in as arrays; every 8th through a file on disk and `read`, as the CLI does."""
    indices = np.random.default_rng(2024).choice(len(edge_mnist.x_test), SINGLE_PHOTOS, replace=False)
    wrong = []
    for n, index in enumerate(indices):
        photo = synthetic.digit_photo(edge_mnist.x_test, edge_mnist.y_test, int(index))
        if n % 8 == 0:
            path = synthetic.write_image(tmp_path / f"{n}.{'jpg' if n % 16 else 'png'}", photo.image)
            got = reader.read(path).text
        else:
            got = str(reader.predict(photo.image).digit)
        if got != photo.text:
            wrong.append((int(index), photo.text, got, photo.image.shape[:2]))
    rate = 1 - len(wrong) / SINGLE_PHOTOS
    print(f"single-digit photos: {rate:.2%} of {SINGLE_PHOTOS} read correctly; wrong: {wrong}")
    assert rate >= 0.97, wrong


def test_number_photos(edge_mnist, reader):
    wrong, confidences = [], []
    for seed in range(NUMBER_PHOTOS):
        photo = synthetic.number_photo(edge_mnist.x_test, edge_mnist.y_test, seed=1000 + seed)
        reading = reader.read(photo.image)
        confidences += [d.probability for d in reading.digits]
        read = "".join(str(d.digit) for d in reading.digits)  # an unsure digit ('?' in the text) counts as read
        if read != photo.text:
            wrong.append((seed, photo.text, read))
        else:  # boxes come left to right, each over its digit
            for box, shown in zip((d.box for d in reading.digits), photo.boxes):
                cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
                assert shown[0] - 2 <= cx <= shown[0] + shown[2] + 2 and shown[1] - 2 <= cy <= shown[1] + shown[3] + 2
    rate = 1 - len(wrong) / NUMBER_PHOTOS
    print(f"number photos: {rate:.2%} of {NUMBER_PHOTOS} read exactly; wrong: {wrong}")
    assert rate >= 0.90, wrong
    assert np.median(confidences) > 0.9


def test_lengths_and_sizes_covered():
    """The renderings span what the issue asks for: 3-6 digits, ~40 px to ~3000 px."""
    rng = np.random.default_rng(0)
    fake = rng.integers(0, 255, (20, 28, 28)).astype(np.uint8)
    fake[:, :4] = 0
    sides = [max(synthetic.digit_photo(fake, np.arange(20) % 10, i % 20, seed=i).image.shape) for i in range(60)]
    assert min(sides) <= 120 and max(sides) >= 2000
    counts = {len(synthetic.number_photo(fake, np.arange(20) % 10, seed=s).text) for s in range(40)}
    assert counts == {3, 4, 5, 6}


def test_rendering_is_deterministic(edge_mnist):
    a = synthetic.number_photo(edge_mnist.x_test, edge_mnist.y_test, seed=7)
    b = synthetic.number_photo(edge_mnist.x_test, edge_mnist.y_test, seed=7)
    assert a.text == b.text and np.array_equal(a.image, b.image)


def test_light_ink_on_dark(edge_mnist, reader):
    """Chalk on a blackboard, a white marker on dark card: the same photos, inverted."""
    right = 0
    for i in range(40):
        photo = synthetic.digit_photo(edge_mnist.x_test, edge_mnist.y_test, 7000 + i, out_side=400)
        right += str(reader.predict(255 - photo.image).digit) == photo.text
    number = synthetic.number_photo(edge_mnist.x_test, edge_mnist.y_test, seed=500, count=4, out_side=800)
    assert right >= 38
    assert reader.read(255 - number.image).text == number.text


def test_ruled_notebook_paper(edge_mnist, reader):
    """Pale ruled lines under the ink are paper, not digits."""
    right = sum(
        str(reader.predict(p.image).digit) == p.text
        for p in (synthetic.digit_photo(edge_mnist.x_test, edge_mnist.y_test, 8000 + i, ruled=True) for i in range(40))
    )
    numbers = [
        synthetic.number_photo(edge_mnist.x_test, edge_mnist.y_test, seed=2000 + s, ruled=True) for s in range(10)
    ]
    read = sum(reader.read(p.image).text == p.text for p in numbers)
    print(f"ruled paper: {right}/40 digits, {read}/10 numbers")
    assert right >= 38 and read >= 8
