"""The photo suite (issue #17): MNIST test digits photographed as users do, read per kind.

Each kind must read >= 95% of a small sample right, and nothing at all in the clutter-only
kinds. Below that, photos an earlier segmentation read wrong: one of each kind the one before
issue #17 failed on (benchmarks/results/photos/before/photos.json), then the ones session 5 fixed
(photos.json of commit 7027736). TensorFlow-free: runs in the edge-only environments.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import assert_one_error
from edge_helpers import recognizer
from typer.testing import CliRunner

from digitedge.benchmarks import photo_kinds, synthetic
from digitedge.benchmarks.photo_suite import read_kind
from digitedge.cli import app
from digitedge.errors import NoDigitError

pytestmark = pytest.mark.edge
PER_KIND = 40  # 95% allows two misreads: MNIST holds digits ambiguous even to a person


@pytest.fixture(scope="module")
def reader():
    return recognizer(threads=1)


@pytest.mark.parametrize("kind", photo_kinds.KINDS, ids=lambda k: k.name)
def test_every_kind_reads(kind, edge_mnist, reader):
    row, _ = read_kind(reader, kind, edge_mnist.x_test, edge_mnist.y_test, PER_KIND)
    print(f"{kind.name}: {row['right']}/{PER_KIND} right; wrong: {row['wrong']}")
    if kind.has_digit:
        assert row["right_rate"] >= 0.95, row["wrong"]
    else:
        assert row["misread"] == 0, row["wrong"]


def read(reader, kind: str, mnist, number: int) -> tuple[str, str | None]:
    photo = photo_kinds.photo(kind, mnist.x_test, mnist.y_test, number)
    try:
        digits = reader.read(photo.image).digits
    except NoDigitError:
        return photo.text, None
    return photo.text, "".join(str(d.digit) for d in digits)


# (kind, photo number, what the segmentation before issue #17 read): one per kind it failed on
FIXED = [
    ("tight-two-edges", 8, "1"),  # a 6 touching top and bottom: a piece of it read as "1"
    ("tight-two-edges", 2, None),  # a 5 touching top and bottom: dropped as border clutter
    ("tight-one-edge", 6, "1"),  # an 8 touching one edge
    ("small-image", 3, "2"),  # a thick pencil 7 filling a small image: the paper taken for ink
    ("faint-pencil", 22, None),  # faint pencil under a shadow
    ("broken-strokes", 40, "61"),  # a 4 broken in two side by side
    # fixed in session 5
    ("broken-strokes", 38, "14"),  # a 4 in three pieces: joined by the distance between their ink
    ("broken-strokes", 49, "5"),  # a 9 with two gaps: the gaps closed before the model sees it
    ("tight-one-edge", 45, "1"),  # a thick 8 filling the frame: the paper inside its loop taken for ink
    ("tight-one-edge", 41, "61"),  # a 6 with a thin stroke beside it
    # fixed in session 6: stacked pieces reach further (SegmentConfig.stacked_skip)
    ("broken-strokes", 57, "0"),  # a 5 whose lower arc came off
    ("broken-strokes", 114, "0"),  # a 9 whose stem came off (a photo of the second hundred)
    ("broken-strokes", 189, "0"),  # a thick 9 in three pieces, one above the other
]


def test_a_thin_1_in_dashes_among_thick_digits_is_read(edge_mnist, reader):
    """Each half of a slanted, broken 1 is a speck beside a thick 0: the halves chain into a digit
    (SegmentConfig.stacked_overlap; specks join specks). Read "1807" before (session 7)."""
    photo = synthetic.number_photo(edge_mnist.x_test, edge_mnist.y_test, seed=5087)
    assert photo.text == "18017"
    assert reader.read(photo.image).text == "18017"


@pytest.mark.parametrize(("kind", "number", "before"), FIXED, ids=[f"{k}-{n}" for k, n, _ in FIXED])
def test_photos_read_wrong_before(kind, number, before, edge_mnist, reader):
    shown, got = read(reader, kind, edge_mnist, number)
    assert got == shown != before


@pytest.mark.parametrize(("kind", "number"), [("edge-or-shadow", 9), ("edge-or-shadow", 10), ("show-through", 0)])
def test_clutter_read_before_reads_nothing(kind, number, edge_mnist, reader):
    """A paper edge with the table beyond, a shadow band, show-through: once read as digits."""
    assert read(reader, kind, edge_mnist, number) == ("", None)


def test_kinds_are_deterministic_and_sized(edge_mnist):
    for kind in photo_kinds.KINDS:
        a = photo_kinds.photo(kind.name, edge_mnist.x_test, edge_mnist.y_test, 3)
        b = photo_kinds.photo(kind.name, edge_mnist.x_test, edge_mnist.y_test, 3)
        assert a.text == b.text and np.array_equal(a.image, b.image)
        assert (a.text != "") == kind.has_digit
    sides = [max(photo_kinds.photo("small-image", edge_mnist.x_test, edge_mnist.y_test, n).image.shape[:2])
             for n in range(10)]
    assert 120 <= min(sides) and max(sides) <= 200
    sevens = {photo_kinds.photo("crossed-7", edge_mnist.x_test, edge_mnist.y_test, n).text for n in range(5)}
    assert sevens == {"7"}


def test_photos_command_writes_the_records(tmp_path, edge_mnist):
    out = tmp_path / "photos"
    result = CliRunner().invoke(app, ["photos", "--out", str(out), "--per-kind", "2", "--first", "100"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    results = json.loads((out / "photos.json").read_text())
    assert [r["kind"] for r in results["kinds"]] == [k.name for k in photo_kinds.KINDS]
    assert all(r["photos"] == 2 for r in results["kinds"])
    assert "(numbers 100 to 101)" in (out / "photos.md").read_text()
    assert "| tight-two-edges |" in (out / "photos.md").read_text()
    assert (out / "examples.png").read_bytes()[:4] == b"\x89PNG"


def test_photos_command_bad_input(tmp_path):
    runner = CliRunner()
    bad = runner.invoke(app, ["photos", "--out", str(tmp_path), "--per-kind", "0"])
    assert_one_error(bad, "--per-kind 0: expected at least 1 photo per kind")
    negative = runner.invoke(app, ["photos", "--out", str(tmp_path), "--first", "-1"])
    assert_one_error(negative, "--first -1: photo numbers start at 0")
    missing = runner.invoke(app, ["photos", "--out", str(tmp_path), "--model", str(tmp_path / "no.tflite")])
    assert_one_error(missing, f"{tmp_path / 'no.tflite'}: model file not found")


def test_photo_speed_compares_kinds_and_times_jobs(tmp_path, edge_mnist):
    from digitedge.benchmarks import photo_speed

    def run(rates):
        return {"kinds": [{"kind": k, "photos": 100, "right_rate": r, "median_ms": 5.0} for k, r in rates.items()]}

    rows = photo_speed.compare(run({"plain": 1.0, "faint-pencil": 0.96}), run({"plain": 0.99, "faint-pencil": 0.97}))
    assert [(r["kind"], r["held"]) for r in rows] == [("plain", False), ("faint-pencil", True)]
    assert rows[1]["change"] == pytest.approx(1.0)
    paths = photo_speed.write_suite_images(tmp_path / "images", 1)
    assert len(paths) == len(photo_kinds.KINDS) and all(p.stat().st_size > 0 for p in paths)
    speeds = [photo_speed.images_per_second(paths, jobs) for jobs in (1, 2)]
    assert [s["images"] for s in speeds] == [len(paths)] * 2 and all(s["images_per_s"] > 0 for s in speeds)
    # the clutter kinds hold no digit: those (and only those) are errors
    clutter = sum(not k.has_digit for k in photo_kinds.KINDS)
    assert speeds[0]["errors"] == speeds[1]["errors"] == clutter
