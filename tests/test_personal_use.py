"""A personal head in use (issue #20 item 3) and samples collected where the user is (item 4):
`--personal` on predict, webcam and bench; `predict --save-crops` read back by personalize; the
webcam's digit keys. The server's side is in test_serve_samples.py. No TensorFlow once the
shipped model has a features output (personal_helpers.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import cli_helpers
import numpy as np
import pytest
from personal_helpers import feature_model_fixture, head_file_fixture, samples_fixture  # noqa: F401

pytestmark = pytest.mark.edge


@pytest.fixture(scope="module")
def other_photos(tmp_path_factory) -> Path:
    """The 'round' writer's photos the head was not fitted on, named by their digit (7_05.jpg)."""
    from digitedge.benchmarks import writers
    from digitedge.benchmarks.synthetic import write_image

    folder = tmp_path_factory.mktemp("round-others")
    for d in range(10):
        for n in range(4, 8):
            write_image(folder / f"{d}_{n:02d}.jpg", writers.photo(writers.BY_NAME["round"], d, n).image)
    return folder


def json_lines(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def wrong(lines: list[dict]) -> int:
    """Photos whose digits were misread (an unsure digit counts as read: the text's '?' is calibration's)."""
    return sum("".join(str(d["digit"]) for d in line["digits"]) != Path(line["path"]).name[0] for line in lines)


def test_predict_reads_through_the_head_and_says_so(feature_model, head_file, other_photos):
    base = json_lines(cli_helpers.run("predict", "--json", other_photos, "--model", feature_model))
    mine = json_lines(cli_helpers.run("predict", "--json", other_photos, "--model", feature_model,
                                      "--personal", head_file))
    assert len(base) == len(mine) == 40
    assert wrong(base) >= 4 and wrong(mine) <= wrong(base) / 2, (wrong(base), wrong(mine))
    assert all(line["personal"] == str(head_file) for line in mine)
    assert not any("personal" in line for line in base)
    # the worker processes of --jobs load the head too
    jobs = json_lines(cli_helpers.run("predict", "--json", other_photos, "--model", feature_model,
                                      "--personal", head_file, "--jobs", 2))
    assert [line["text"] for line in jobs] == [line["text"] for line in mine]


def test_the_recognizer_gives_the_heads_probabilities(feature_model, head_file, other_photos):
    from digitedge.edge_runtime.features import FeatureModel
    from digitedge.edge_runtime.imageio import read_image
    from digitedge.edge_runtime.personal import Head
    from digitedge.edge_runtime.preprocess import find_digits
    from digitedge.edge_runtime.recognizer import Recognizer

    model = FeatureModel(feature_model)
    head = Head.load(head_file, model.sha256)
    crop = find_digits(read_image(other_photos / "6_04.jpg"))[0]
    probs, feats = model.run(crop.image[None])
    expected = head.probabilities(feats, probs)[0]
    digit, p, top3 = Recognizer(feature_model, personal=head_file).classify(crop.image)
    assert digit == int(expected.argmax()) and abs(p - expected.max()) < 1e-6
    assert Recognizer(feature_model).head is None  # the signature without a head is the old one


def test_a_head_that_does_not_fit_the_model_is_one_error(feature_model, head_file, tmp_path):
    from digitedge.edge_runtime.features import sha256_of

    photo = tmp_path / "photo.png"
    photo.write_bytes(b"")  # never read: the model and the head are refused first
    other = tmp_path / "other.tflite"
    other.write_bytes(feature_model.read_bytes() + b"\0")  # another file, another sha256
    made_for = sha256_of(feature_model)
    cli_helpers.assert_one_error(
        cli_helpers.run("predict", photo, "--model", other, "--personal", head_file),
        f"{head_file}: made for the model with sha256 {made_for}, not this one (sha256 {sha256_of(other)})")
    plain = Path(__file__).parent / "data" / "foreign_flat_bow.tflite"  # made elsewhere: one output, the scores
    cli_helpers.assert_one_error(
        cli_helpers.run("webcam", "--source", photo, "--headless", "--model", plain, "--personal", head_file),
        f"{plain}: the model has no features output, so it cannot use the personal head {head_file} (models made "
        "by digitedge convert have one)")
    broken = tmp_path / "broken.head"
    broken.write_text("my head\n")
    cli_helpers.assert_one_error(cli_helpers.run("predict", photo, "--model", feature_model, "--personal", broken),
                                 f"{broken}: not a digitedge head file (corrupt or truncated)")


def test_saved_crops_read_back_as_the_digits_read(feature_model, edge_mnist, tmp_path):
    """predict --save-crops on photos of numbers -> DIR/<digit>/<photo>-<n>.png, which personalize reads
    back, one digit each, as the same digits."""
    from digitedge.benchmarks.synthetic import number_photo, write_image
    from digitedge.edge_runtime.recognizer import Recognizer
    from digitedge.edge_runtime.samples import read_samples

    photos = tmp_path / "photos"
    photos.mkdir()
    for seed in range(6):
        write_image(photos / f"door{seed}.jpg", number_photo(edge_mnist.x_test, edge_mnist.y_test, seed, count=3,
                                                             out_side=500).image)
    crops = tmp_path / "crops"
    read = json_lines(cli_helpers.run("predict", "--json", photos, "--save-crops", crops, "--model", feature_model))
    expected = {crops / str(d["digit"]) / f"{Path(line['path']).stem}-{i}.png"
                for line in read for i, d in enumerate(line["digits"], 1)}
    assert len(expected) == 18 and set(crops.glob("*/*.png")) == expected
    samples = read_samples(crops)
    assert samples.skipped == [] and len(samples.labels) == 18
    reader = Recognizer(feature_model)
    assert [reader.classify(c)[0] for c in samples.crops] == samples.labels.tolist()
    done = cli_helpers.run("personalize", crops, "--out", tmp_path / "h.head", "--model", feature_model)
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith(f"{crops}: 18 labelled photos, 18 used: 18 digits (")


def test_a_webcam_digit_key_saves_the_digit_in_view(tmp_path, edge_mnist):
    from edge_helpers import clear_digits, recognizer

    from digitedge.benchmarks import synthetic
    from digitedge.edge_runtime import webcam
    from digitedge.edge_runtime.samples import read_samples

    reader = recognizer()
    for text in ("7", "42"):
        photo = synthetic.render_number(clear_digits(edge_mnist, reader, text), [int(c) for c in text], 3,
                                        out_side=320)
        frame = photo.image[..., ::-1].copy()  # RGB -> the camera's BGR
        found = webcam.detect(reader, frame, None)
        message = webcam.save_typed(tmp_path / "mine", "1", frame, found)
        if text == "7":
            saved = next((tmp_path / "mine" / "1").glob("webcam-*.png"))
            assert message == f"saved {saved} as a sample of 1"
        else:
            assert message == "not saved: 2 digits in view; type a digit key with one digit in view"
    samples = read_samples(tmp_path / "mine")  # read back as personalize reads it: one photo, one digit, a 1
    assert samples.labels.tolist() == [1] and reader.classify(samples.crops[0])[0] == 7


def test_webcam_samples_need_the_window(tmp_path):
    cli_helpers.assert_one_error(
        cli_helpers.run("webcam", "--headless", "--samples", tmp_path, "--source", tmp_path / "x.mp4"),
        "--samples needs the window (a digit key saves a sample): leave out --headless")


def test_webcam_headless_json_names_the_head(feature_model, head_file, edge_mnist, tmp_path):
    from edge_helpers import clear_digits, recognizer

    from digitedge.benchmarks import synthetic

    clip = tmp_path / "clip.mp4"
    synthetic.write_video(clip, [(clear_digits(edge_mnist, recognizer(), "86"), "86")], frames_each=3)
    lines = json_lines(cli_helpers.run("webcam", "--headless", "--source", clip, "--model", feature_model,
                                       "--personal", head_file))
    assert len(lines) == 3 and all(line["personal"] == str(head_file) for line in lines)
    assert lines[-1]["text"] == "86"


def test_bench_rows_with_a_head_are_labelled(feature_model, head_file, tmp_path, mnist_dir):
    from digitedge.edge_runtime.interpreter import available_backends

    out = tmp_path / "bench"
    result = cli_helpers.run("bench", "--model", feature_model, "--personal", head_file, "--threads", 1,
                             "--backend", available_backends()[0], "--runs", 5, "--warmup", 1, "--images", 300,
                             "--no-memory", "--data-dir", mnist_dir, "--out", out)
    assert result.exit_code == 0, result.output
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [(r["model"], r["personal"], r["status"]) for r in rows] == [
        (f"{feature_model.stem}+{head_file.stem}", head_file.name, "ok")]
    assert rows[0]["accuracy"] > 0.95 and rows[0]["accuracy_method"] == "one image per invoke, personal head"


def test_a_sample_is_written_inside_its_digits_folder_only(tmp_path):
    from digitedge.edge_runtime.crops import save_sample
    from digitedge.errors import DigitedgeError

    image = np.full((40, 30), 200, np.uint8)
    assert save_sample(tmp_path, 7, image, "../../up there") == tmp_path / "7" / "up_there.png"
    assert save_sample(tmp_path, "7", image, "../../up there") == tmp_path / "7" / "up_there-2.png"
    assert save_sample(tmp_path, 0, image, "...") == tmp_path / "0" / "sample.png"
    for label in ("12", "x", "/", -1, "٣"):  # "٣" is an Arabic-Indic 3: a digit to Python, not a folder 0-9
        with pytest.raises(DigitedgeError, match="a sample's label is one digit, 0 to 9$"):
            save_sample(tmp_path, label, image, "a")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        "0/sample.png", "7/up_there-2.png", "7/up_there.png"]
