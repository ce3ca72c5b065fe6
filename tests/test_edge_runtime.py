"""The edge runtime's pieces: interpreter, image reading, preprocessing, the API (metadata:
test_edge_metadata.py).

Runs with only `.[edge,dev]` installed: no TensorFlow.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
from edge_helpers import DATA, backend_params, backends, recognizer
from helpers import jpeg_bytes
from helpers import png_bomb as png_header_only
from PIL import Image

from digitedge.benchmarks import synthetic
from digitedge.edge_runtime import imageio, metadata, preprocess
from digitedge.edge_runtime.interpreter import Model
from digitedge.edge_runtime.recognizer import DEFAULT_MODEL, MODELS_DIR
from digitedge.errors import ImageError, ModelError, NoDigitError

pytestmark = pytest.mark.edge
FLOAT_MODEL = MODELS_DIR / "digits_float32.tflite"
# --- interpreter ----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("path", [DEFAULT_MODEL, FLOAT_MODEL], ids=["int8", "float32"])
def test_model_reads_mnist(edge_mnist, backend, path):
    model = Model(path, backend=backend, threads=1)
    x = preprocess.normalize(edge_mnist.x_test[:200])
    got = np.array([model.run(v).argmax() for v in x])
    assert (got == edge_mnist.y_test[:200]).mean() >= 0.97


def test_int8_input_is_the_pixel_itself():
    model = Model(DEFAULT_MODEL)
    assert model.input.dtype == np.uint8 and model.input.quantized
    pixels = np.arange(28 * 28, dtype=np.uint16).reshape(28, 28) % 256
    q = model.quantize_input(preprocess.normalize(pixels.astype(np.uint8)))
    assert q.shape == (1, 28, 28, 1) and np.array_equal(q[0, ..., 0], pixels)


def test_float_and_int8_agree(edge_mnist):
    int8, f32 = Model(DEFAULT_MODEL), Model(FLOAT_MODEL)
    x = preprocess.normalize(edge_mnist.x_test[:100])
    a = np.array([int8.run(v).argmax() for v in x])
    b = np.array([f32.run(v).argmax() for v in x])
    assert (a == b).mean() >= 0.97


@pytest.mark.skipif(len(backends()) < 2, reason="needs two interpreters installed")
def test_backends_give_the_same_digits(edge_mnist):
    models = [Model(DEFAULT_MODEL, backend=b) for b in backends()]
    x = preprocess.normalize(edge_mnist.x_test[:200])
    digits = [[m.run(v).argmax() for v in x] for m in models]
    assert all(d == digits[0] for d in digits[1:])


def test_unknown_backend():
    with pytest.raises(ModelError, match="unknown backend 'tensorflow'"):
        Model(DEFAULT_MODEL, backend="tensorflow")


def test_bad_thread_count():
    with pytest.raises(ModelError, match="threads must be at least 1"):
        Model(DEFAULT_MODEL, threads=0)


def test_missing_and_empty_model(tmp_path):
    with pytest.raises(ModelError, match=r"nope\.tflite: model file not found$"):
        Model(tmp_path / "nope.tflite")
    (tmp_path / "empty.tflite").write_bytes(b"")
    with pytest.raises(ModelError, match=r"empty\.tflite: empty file, not a \.tflite model$"):
        Model(tmp_path / "empty.tflite")


def test_corrupt_model(tmp_path):
    path = tmp_path / "corrupt.tflite"
    path.write_bytes(b"this is not a model at all")
    with pytest.raises(ModelError, match=r"corrupt\.tflite: not a TFLite model \(no TFL3 identifier\)$"):
        Model(path)
    path.write_bytes(DEFAULT_MODEL.read_bytes()[:4000])
    with pytest.raises(ModelError, match=r"corrupt\.tflite: not a usable TFLite model"):
        Model(path)


def test_every_truncation_is_refused_before_the_interpreter(tmp_path):
    """tflite-runtime crashes on a truncated model; our own check must refuse it first."""
    from digitedge.edge_runtime.modelfile import check_model_bytes

    data = DEFAULT_MODEL.read_bytes()
    check_model_bytes(data)
    for n in range(8, len(data) - 4096, 1531):
        with pytest.raises(metadata.FlatBufferError):
            check_model_bytes(data[:n])


def test_model_of_the_wrong_shape():
    with pytest.raises(ModelError, match=r"wrong_shape\.tflite: model input is 1x32x32x3, expected 1x28x28x1"):
        Model(DATA / "wrong_shape.tflite")


# --- image reading --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.png", b"", "empty.png: empty file"),
        (
            "text.png",
            b"hello, I am text\n",
            "text.png: not an image (or a format Pillow cannot read)",
        ),
        (
            "bomb.png",
            png_header_only(100_000, 100_000),
            "bomb.png: image is 10000 megapixels, over the 60-megapixel limit; "
            "refused as a possible decompression bomb",
        ),
        (
            "bomb2.png",
            png_header_only(10_000, 7_000),
            "bomb2.png: image is 10000x7000 (70 megapixels), over the 60-megapixel limit; "
            "refused as a possible decompression bomb",
        ),
    ],
)
def test_bad_image_files(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageError) as e:
        imageio.read_image(path, name)
    assert str(e.value) == message


def test_truncated_jpeg(tmp_path):
    data = jpeg_bytes(np.full((200, 200), 200, np.uint8))
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=r"^cut\.jpg: truncated or corrupt image"):
        imageio.read_image(tmp_path / "cut.jpg", "cut.jpg")


def test_tiny_image(tmp_path):
    Image.new("L", (1, 1), 255).save(tmp_path / "dot.png")
    with pytest.raises(ImageError, match=r"^dot\.png: image is 1x1 pixels, too small to hold a digit"):
        imageio.read_image(tmp_path / "dot.png", "dot.png")


def test_not_a_regular_file_or_too_big(tmp_path, monkeypatch):
    with pytest.raises(ImageError, match=r"^/dev/zero: not a regular file$"):
        imageio.read_image("/dev/zero")
    (tmp_path / "big.jpg").write_bytes(b"\xff\xd8" + bytes(2 * 2**20))
    monkeypatch.setattr(imageio, "MAX_FILE_BYTES", 2**20)
    with pytest.raises(ImageError, match=r"big\.jpg: 2 MB, too large for an image \(at most 1 MB\)$"):
        imageio.read_image(tmp_path / "big.jpg")


def test_missing_image(tmp_path):
    with pytest.raises(ImageError, match=r"gone\.png: file not found$"):
        imageio.read_image(tmp_path / "gone.png")


def test_exif_orientation_is_honoured(tmp_path):
    image = Image.new("L", (60, 30), 255)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    image.save(tmp_path / "turned.jpg", exif=exif)
    assert imageio.read_image(tmp_path / "turned.jpg").shape == (60, 30)


def test_large_images_are_read_smaller(tmp_path):
    Image.new("RGB", (4000, 3000), (230, 230, 230)).save(tmp_path / "big.jpg")
    assert max(imageio.read_image(tmp_path / "big.jpg").shape) <= imageio.WORKING_SIDE


def test_a_colour_jpeg_read_for_its_ink_is_decoded_straight_to_grey(tmp_path, edge_mnist):
    """gray=True (what Recognizer.predict and .read ask for): a colour JPEG comes back as its luma,
    within 2 levels of its RGB made grey, and reads the same; a PNG comes back in colour as ever."""
    from digitedge.benchmarks import photo_kinds

    photo = photo_kinds.photo("faint-pencil", edge_mnist.x_test, edge_mnist.y_test, 3).image
    (tmp_path / "p.jpg").write_bytes(jpeg_bytes(photo))
    Image.fromarray(photo).save(tmp_path / "p.png")
    need = (400, 1600)
    luma, _ = imageio.read_image_scaled(tmp_path / "p.jpg", need=need, gray=True)
    rgb, _ = imageio.read_image_scaled(tmp_path / "p.jpg", need=need)
    assert luma.ndim == 2 and rgb.ndim == 3
    assert np.abs(luma.astype(int) - preprocess.to_gray(rgb)).max() <= 2
    assert imageio.read_image_scaled(tmp_path / "p.png", need=need, gray=True)[0].shape == photo.shape
    Image.fromarray(photo).save(tmp_path / "p.mpo", "MPO", save_all=True, append_images=[Image.fromarray(photo)])
    assert imageio.read_image_scaled(tmp_path / "p.mpo", need=need, gray=True)[0].ndim == 2  # a phone's JPEG
    reader = recognizer()
    assert reader.read(tmp_path / "p.jpg").text == reader.read(rgb).text == "8"


# --- preprocessing and the API --------------------------------------------------------------


@pytest.mark.parametrize("fill", [255, 0, 128], ids=["white", "black", "grey"])
def test_uniform_image_has_no_digit(fill):
    image = np.full((300, 200, 3), fill, np.uint8)
    assert preprocess.find_digits(image) == []
    with pytest.raises(NoDigitError, match=r"^blank\.png: no digit found"):
        recognizer().predict(image, name="blank.png")


def test_tiny_array_is_refused():
    with pytest.raises(ImageError, match=r"^dot: image is 1x1 pixels, too small to hold a digit$"):
        recognizer().predict(np.zeros((1, 1), np.uint8), name="dot")
    assert preprocess.find_digits(np.zeros((0, 5), np.uint8)) == []


def test_noise_only_has_no_digit():
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(200, 6, (240, 320)), 0, 255).astype(np.uint8)
    with pytest.raises(NoDigitError):
        recognizer().read(image)


def test_mnist_digit_passes_through_nearly_unchanged(edge_mnist):
    for image in edge_mnist.x_test[:20]:
        out = preprocess.prepare(image).image
        assert out.shape == (28, 28) and out.dtype == np.uint8
        cm = np.array(np.nonzero(out > 0)).mean(axis=1)
        assert np.all(np.abs(cm - 14) < 3)


def test_both_polarities_read_the_same(edge_mnist):
    r = recognizer()
    for image in edge_mnist.x_test[:30]:
        big = np.kron(image, np.ones((6, 6), np.uint8))
        assert r.predict(big).digit == r.predict(255 - big).digit


def test_prediction_fields(edge_mnist):
    p = recognizer().predict(edge_mnist.x_test[0])
    assert p.digit == edge_mnist.y_test[0]
    assert 0.5 < p.probability <= 1.0 and p.top3[0] == (p.digit, p.probability)
    assert len(p.top3) == 3 and p.top3[0][1] >= p.top3[1][1] >= p.top3[2][1]
    assert p.seconds > 0 and p.box is not None  # how fast belongs in benchmarks, not here


def test_deskew_keeps_the_contract(edge_mnist):
    config = preprocess.PhotoConfig(deskew=True)
    out = preprocess.prepare(edge_mnist.x_test[0], config).image
    assert out.shape == (28, 28) and out.max() > 100


def test_predict_a_path_and_bytes(tmp_path, edge_mnist):
    image = 255 - np.kron(edge_mnist.x_test[1], np.ones((5, 5), np.uint8))
    Image.fromarray(image).save(tmp_path / "digit.png")
    r = recognizer(threads=1)
    assert r.predict(tmp_path / "digit.png").digit == edge_mnist.y_test[1]
    assert r.predict((tmp_path / "digit.png").read_bytes()).digit == edge_mnist.y_test[1]


def test_stage_timer_splits_predict_and_read(tmp_path, edge_mnist):
    from digitedge.edge_runtime.profile import OFF, STAGES, StageTimer

    photo = synthetic.digit_photo(edge_mnist.x_test, edge_mnist.y_test, 0, out_side=480)
    path = synthetic.write_image(tmp_path / "digit.jpg", photo.image)
    r = recognizer(threads=1)
    assert r.timer is OFF  # off unless asked for
    r.timer = StageTimer()
    assert r.predict(path).digit == edge_mnist.y_test[0]
    assert r.read(photo.image).text == photo.text
    file_call, array_call = r.timer.calls
    assert list(file_call) == list(STAGES) and all(file_call[s] > 0 for s in STAGES)
    assert array_call["decode"] < file_call["decode"] and all(array_call[s] > 0 for s in STAGES[1:])
    summary = r.timer.summary()
    assert summary["total"]["n"] == 2 and summary["invoke"]["median"] > 0
    assert sum(summary[s]["median"] for s in STAGES) > 0.5 * summary["total"]["median"]


def test_small_digits_are_cut_at_full_resolution(edge_mnist):
    """A digit a few dozen pixels tall on the small copy is cut again from the photo: its 28x28 is
    nearly the one found at full resolution (cut from the small copy alone: IoU ~0.83)."""
    from digitedge.benchmarks import photo_kinds

    def iou(a, b):
        return ((a > 127) & (b > 127)).sum() / max(1, ((a > 127) | (b > 127)).sum())

    full = preprocess.PhotoConfig(find_side=400)
    photos = [photo_kinds.photo("small-in-scene", edge_mnist.x_test, edge_mnist.y_test, n) for n in range(8)]
    overlap = [iou(preprocess.prepare(p.image).image, preprocess.prepare(p.image, full).image) for p in photos]
    assert np.mean(overlap) >= 0.9, overlap


@pytest.mark.parametrize("side", [8, 120, 186, 401])
def test_background_is_opencvs_opening(edge_mnist, side):
    """The paper's light, computed in log2(k) shifted passes, is exactly OpenCV's opening by the
    k-square (frame not counted), on real photos of every size the small copy takes."""
    import cv2

    for n in range(3):
        photo = synthetic.digit_photo(edge_mnist.x_test, edge_mnist.y_test, n, seed=n, out_side=max(side, 32)).image
        ink = 255 - cv2.resize(preprocess.to_gray(photo), (side + n * 7, side), interpolation=cv2.INTER_AREA)
        k = max(15, min(ink.shape) // 2, max(ink.shape) // 4) | 1
        opened = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
        assert np.array_equal(preprocess.background(ink), opened)


def test_labelling_the_inks_extent_is_labelling_the_frame(edge_mnist):
    """segment.label labels only the ink's bounding box: the same labels, in the same order, and the
    same statistics as OpenCV's labelling of the whole mask (odd offsets included), whether its rows
    are worked out one by one or all at once."""
    import cv2

    from digitedge.benchmarks import photo_kinds
    from digitedge.edge_runtime.segment import label

    for kind in ("plain", "small-in-scene", "edge-or-shadow", "broken-strokes"):
        for n in range(3):
            gray = preprocess.to_gray(photo_kinds.photo(kind, edge_mnist.x_test, edge_mnist.y_test, n).image)
            mask = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, 10)
            for cut in (mask, mask[3:, 5:]):
                _, whole, whole_stats, _ = cv2.connectedComponentsWithStats(cut, connectivity=8, ltype=cv2.CV_32S)
                _, one_by_one = label(cut)
                for i in range(len(whole_stats) - 1, 0, -1):  # past Stats.FEW rows, the whole table
                    assert np.array_equal(one_by_one[i], whole_stats[i])
                labels, stats = label(cut)
                assert np.array_equal(labels, whole) and np.array_equal(stats[1:], whole_stats[1:])
                assert stats[0, 4] == whole_stats[0, 4]


def test_a_model_that_takes_the_raw_pixel_is_handed_it(edge_mnist):
    """Model.run_pixels skips the float round trip for the shipped int8 model (uint8 input, scale
    1/255, zero point 0): every pixel value reaches the model as prepare() would have made it, and
    the probabilities are run(normalize(pixels))'s."""
    model = recognizer().model
    assert model._pixels_direct
    every_level = (np.arange(784) % 256).astype(np.uint8).reshape(28, 28)
    assert np.array_equal(model.prepare(preprocess.normalize(every_level)).ravel(), every_level.ravel())
    for image in edge_mnist.x_test[:20]:
        assert np.array_equal(model.run_pixels(image), model.run(preprocess.normalize(image)))


def test_reading_to_dict_is_the_predict_json(edge_mnist):
    row = np.hstack([np.pad(edge_mnist.x_test[i], 10) for i in (0, 1, 2)])  # three digits side by side
    reading = recognizer().read(255 - np.kron(row, np.ones((4, 4), np.uint8)))
    assert len(reading.digits) == 3
    got = reading.to_dict("photo.jpg")
    assert list(got) == ["path", "text", "probability", "digits", "seconds", "confidence"]
    assert got["path"] == "photo.jpg" and got["text"] == reading.text
    assert got["probability"] == round(reading.probability, 4) and got["seconds"] == round(reading.seconds, 5)
    first = reading.digits[0]
    expected = {
        "digit": first.digit,
        "probability": round(first.probability, 4),
        "top3": [[d, round(p, 4)] for d, p in first.top3],
        "box": list(first.box),
        "unsure": first.unsure,
        "confidence": round(first.confidence, 4),
    }
    assert got["digits"][0] == first.to_dict() == expected
    assert got["confidence"] == round(float(np.prod([d.confidence for d in reading.digits])), 4)
    assert list(reading.to_dict()) == ["text", "probability", "digits", "seconds", "confidence"]  # no path: none given
    assert json.loads(json.dumps(got)) == got


# --- TensorFlow stays out -------------------------------------------------------------------

NO_TF_SCRIPT = """
import sys
sys.modules["tensorflow"] = None  # any import of TensorFlow now fails: it is provably absent
import warnings
warnings.simplefilter("ignore")
import numpy as np
from digitedge.edge_runtime.recognizer import Recognizer
image = np.full((120, 90), 235, np.uint8)
image[30:90, 42:50] = 30  # a "1"
p = Recognizer().predict(image)
# the device side loads no ML framework, and no CLI machinery either
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras", "typer", "rich")
                and sys.modules[m] is not None)
print(p.digit, loaded)
"""


def test_runtime_never_imports_tensorflow():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", NO_TF_SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    digit, loaded = out.stdout.strip().split(" ", 1)
    assert digit == "1" and loaded == "[]"


# --- across environments (CI: the litert env, then the tflite-runtime env) --------------------


@pytest.mark.skipif(os.environ.get("DIGITEDGE_EDGE_ONLY") != "1", reason="set DIGITEDGE_EDGE_ONLY=1 in edge-only envs")
def test_tensorflow_is_not_installed():
    assert importlib.util.find_spec("tensorflow") is None
    with pytest.raises(ImportError):
        import tensorflow  # noqa: F401


@pytest.mark.skipif(not os.environ.get("DIGITEDGE_DIGITS_FILE"), reason="set DIGITEDGE_DIGITS_FILE to compare envs")
def test_same_digits_as_the_other_environment(edge_mnist):
    """The first environment records its digits in $DIGITEDGE_DIGITS_FILE; the next must match them."""
    path = Path(os.environ["DIGITEDGE_DIGITS_FILE"])
    reader = recognizer()
    photos = [synthetic.digit_photo(edge_mnist.x_test, edge_mnist.y_test, i, out_side=300) for i in range(50)]
    mine = {
        "model_sha256": hashlib.sha256(DEFAULT_MODEL.read_bytes()).hexdigest(),
        "backend": reader.backend,
        "mnist": [int(reader.model.run(x).argmax()) for x in preprocess.normalize(edge_mnist.x_test[:300])],
        "photos": [reader.predict(p.image).digit for p in photos],
    }
    if not path.exists():
        path.write_text(json.dumps(mine))
        pytest.skip(f"recorded the {reader.backend} digits in {path}; the next environment compares")
    theirs = json.loads(path.read_text())
    assert theirs["model_sha256"] == mine["model_sha256"], "the environments ship different models"
    assert mine["mnist"] == theirs["mnist"], f"{mine['backend']} and {theirs['backend']} disagree on MNIST"
    assert mine["photos"] == theirs["photos"], f"{mine['backend']} and {theirs['backend']} disagree on photos"
