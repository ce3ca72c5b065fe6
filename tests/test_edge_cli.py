"""`digitedge predict` through the CLI: files, folders, globs, table, JSON, annotation, bad input.

TensorFlow-free: runs in the edge-only environments.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from cli_helpers import errors, run
from edge_helpers import DATA, foreign_model
from helpers import jpeg_bytes
from helpers import png_bomb as png_header_only
from PIL import Image

from digitedge.benchmarks import synthetic
from digitedge.edge_runtime.recognizer import DEFAULT_MODEL

pytestmark = pytest.mark.edge


def assert_one_error(result, message: str) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert errors(result) == [f"error: {message}"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory, edge_mnist):
    """A folder with two single-digit photos and one number: {path: the digits shown}."""
    folder = tmp_path_factory.mktemp("photos")
    shown = {}
    for i, index in enumerate((0, 1)):
        p = synthetic.digit_photo(edge_mnist.x_test, edge_mnist.y_test, index, out_side=300)
        shown[str(synthetic.write_image(folder / f"digit{i}.jpg", p.image))] = p.text
    p = synthetic.number_photo(edge_mnist.x_test, edge_mnist.y_test, seed=3, count=4, out_side=600)
    shown[str(synthetic.write_image(folder / "number.png", p.image))] = p.text
    return folder, shown


def test_predict_table(photos):
    folder, shown = photos
    result = run("predict", *shown)
    assert result.exit_code == 0, result.output
    for path, text in shown.items():
        line = next(ln for ln in result.stdout.splitlines() if path in ln)
        assert f" {text} " in line


def test_predict_json_folder_and_glob(photos):
    folder, shown = photos
    for args in ([folder], [f"{folder}/*.jpg", f"{folder}/*.png"]):
        result = run("predict", "--json", *args)
        assert result.exit_code == 0, result.output
        objects = [json.loads(ln) for ln in result.stdout.splitlines()]
        assert {o["path"]: o["text"] for o in objects} == shown
        number = next(o for o in objects if o["path"].endswith("number.png"))
        assert len(number["digits"]) == 4
        xs = [d["box"][0] for d in number["digits"]]
        assert xs == sorted(xs)
        d = number["digits"][0]
        assert set(d) == {"digit", "probability", "top3", "box", "unsure", "confidence"} and len(d["top3"]) == 3


def test_predict_annotate(photos, tmp_path):
    folder, shown = photos
    result = run("predict", "--annotate", tmp_path / "out", "--threads", 1, "--backend", "auto", folder)
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["digit0.jpg", "digit1.jpg", "number.jpg"]
    drawn = np.asarray(Image.open(tmp_path / "out" / "number.jpg"))
    assert drawn.ndim == 3 and drawn.shape[0] > 100


def test_predict_float_model(photos):
    folder, shown = photos
    float_model = DEFAULT_MODEL.with_name("digits_float32.tflite")
    result = run("predict", "--json", "--model", float_model, folder)
    assert result.exit_code == 0, result.output
    assert {json.loads(ln)["path"]: json.loads(ln)["text"] for ln in result.stdout.splitlines()} == shown


def test_model_without_metadata_is_one_warning_line(photos, tmp_path):
    """edge_runtime decides what a foreign model warns about; predict shows each warning once, then reads."""
    folder, shown = photos
    result = run("predict", "--json", "--model", foreign_model(tmp_path), folder)
    assert result.exit_code == 0, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("warning: ") and "no digitedge metadata" in line
    assert {json.loads(ln)["path"]: json.loads(ln)["text"] for ln in result.stdout.splitlines()} == shown


def write_white(path):
    Image.new("RGB", (300, 200), (255, 255, 255)).save(path)


def write_black(path):
    Image.new("L", (300, 200), 0).save(path)


def write_cut_jpeg(path):
    data = jpeg_bytes(np.full((300, 300, 3), 200, np.uint8))
    path.write_bytes(data[: len(data) // 2])


BAD = {
    "empty.png": (lambda p: p.write_bytes(b""), "empty file"),
    "notes.png": (lambda p: p.write_text("shopping: eggs, milk\n"), "not an image (or a format Pillow cannot read)"),
    "cut.jpg": (write_cut_jpeg, "truncated or corrupt image (image file is truncated"),
    "dot.png": (
        lambda p: Image.new("L", (1, 1), 0).save(p),
        "image is 1x1 pixels, too small to hold a digit (at least 8x8)",
    ),
    "bomb.png": (
        lambda p: p.write_bytes(png_header_only(30_000, 30_000)),
        "image is 900 megapixels, over the 60-megapixel limit; refused as a possible decompression bomb",
    ),
    "white.png": (write_white, "no digit found (blank or uniform image)"),
    "black.png": (write_black, "no digit found (blank or uniform image)"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_image_is_one_line(tmp_path, name):
    make, message = BAD[name]
    path = tmp_path / name
    make(path)
    result = run("predict", path)
    assert result.exit_code == 1
    assert result.stdout == ""
    (line,) = errors(result)
    assert line.startswith(f"error: {path}: {message}")
    assert "Traceback" not in result.output


def test_missing_file_glob_and_folder(tmp_path):
    assert_one_error(run("predict", tmp_path / "gone.jpg"), f"{tmp_path / 'gone.jpg'}: file not found")
    assert_one_error(run("predict", f"{tmp_path}/*.jpg"), f"{tmp_path}/*.jpg: no files match")
    assert_one_error(run("predict", tmp_path), f"{tmp_path}: folder has no images")


def test_batch_with_a_bad_file_goes_on(photos, tmp_path):
    folder, shown = photos
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    result = run("predict", "--json", *shown, bad)
    assert result.exit_code == 1
    objects = [json.loads(ln) for ln in result.stdout.splitlines()]
    assert {o["path"]: o.get("text") for o in objects} == {**shown, str(bad): None}
    assert objects[-1]["error"] == f"{bad}: not an image (or a format Pillow cannot read)"
    assert errors(result) == [f"error: {bad}: not an image (or a format Pillow cannot read)"]
    table = run("predict", bad, *shown)
    assert table.exit_code == 1 and all(p in table.stdout for p in shown)


def test_corrupt_model(photos, tmp_path):
    folder, shown = photos
    model = tmp_path / "corrupt.tflite"
    model.write_bytes(DEFAULT_MODEL.read_bytes()[:3000])
    result = run("predict", "--model", model, folder)
    assert result.exit_code == 1 and len(errors(result)) == 1
    assert errors(result)[0].startswith(f"error: {model}: not a usable TFLite model (")
    model.write_bytes(b"\x00" * 100)
    assert_one_error(run("predict", "--model", model, folder), f"{model}: not a TFLite model (no TFL3 identifier)")


def test_model_of_the_wrong_shape(photos):
    folder, _ = photos
    model = DATA / "wrong_shape.tflite"
    assert_one_error(
        run("predict", "--model", model, folder),
        f"{model}: model input is 1x32x32x3, expected 1x28x28x1 (a 28x28 grayscale image)",
    )


def test_unknown_backend(photos):
    folder, _ = photos
    assert_one_error(
        run("predict", "--backend", "coral", folder),
        "unknown backend 'coral' (choose auto, litert, tflite-runtime)",
    )


def test_exif_rotated_photo(tmp_path, edge_mnist):
    """A phone photo stored sideways with an EXIF orientation tag reads as the upright digit."""
    p = synthetic.digit_photo(edge_mnist.x_test, edge_mnist.y_test, 2, out_side=300)  # a "1"? any
    sideways = np.rot90(p.image, 1)  # stored turned 90 degrees counter-clockwise
    image = Image.fromarray(np.ascontiguousarray(sideways))
    exif = image.getexif()
    exif[0x0112] = 6  # view by rotating 90 degrees clockwise
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=92)
    (tmp_path / "phone.jpg").write_bytes(out.getvalue())
    result = run("predict", "--json", tmp_path / "phone.jpg")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["text"] == p.text


def test_predict_jobs_keeps_the_input_order(photos, tmp_path):
    folder, shown = photos
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    given = [*shown, str(bad), *shown]
    one, two = run("predict", "--json", *given), run("predict", "--json", "--jobs", "2", *given)
    assert one.exit_code == two.exit_code == 1
    objects = [[{k: v for k, v in json.loads(ln).items() if k != "seconds"} for ln in r.stdout.splitlines()]
               for r in (one, two)]
    assert objects[0] == objects[1]
    assert [o["path"] for o in objects[1]] == given
    assert [o.get("text") for o in objects[1]] == [*shown.values(), None, *shown.values()]
    assert errors(two) == [f"error: {bad}: not an image (or a format Pillow cannot read)"]
    assert_one_error(run("predict", "--jobs", "0", *shown), "--jobs must be at least 1")


def test_predict_profile_prints_every_stage(photos):
    folder, shown = photos
    result = run("predict", "--profile", *shown)
    assert result.exit_code == 0, result.output
    assert all(text in result.stdout for text in shown.values())
    assert f"time by stage, {len(shown)} images" in result.stdout
    rows = {line.split()[1]: line for line in result.stdout.splitlines() if line.startswith("│")}
    for stage in ("decode", "grey", "ink", "segment", "crop", "invoke", "post", "total"):
        assert stage in rows, result.stdout
    # with --json the table goes to stderr: stdout stays one JSON object per line
    as_json = run("predict", "--json", "--profile", *shown)
    assert [json.loads(ln)["text"] for ln in as_json.stdout.splitlines()] == list(shown.values())
