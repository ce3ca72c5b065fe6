""""Unsure" instead of wrong (issue #17): a digit under --min-confidence is `?` in the text,
`"unsure": true` in the JSON and its own colour in the images, in predict, webcam and serve;
the default is the one the calibration measurement chose. No TensorFlow here.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_helpers import errors, run
from edge_helpers import clear_digits, read_28, recognizer

from digitedge.benchmarks import calibration, synthetic
from digitedge.edge_runtime import draw
from digitedge.edge_runtime.recognizer import DEFAULT_MIN_CONFIDENCE, Prediction, Recognizer

pytestmark = pytest.mark.edge
RECORD = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "calibration" / "calibration.json"


@pytest.fixture(scope="module")
def number(tmp_path_factory, edge_mnist):
    """A clear photo of a 4-digit number, saved as PNG: (path, the digits shown, a threshold that
    puts its least sure digit under it and the others over it, that threshold's text)."""
    photo = synthetic.number_photo(edge_mnist.x_test, edge_mnist.y_test, seed=3, count=4, out_side=600)
    path = synthetic.write_image(tmp_path_factory.mktemp("unsure") / "number.png", photo.image)
    confidences = [d.confidence for d in Recognizer(min_confidence=0.0).read(path).digits]
    low, second = sorted(confidences)[:2]
    assert low < second, confidences  # one least sure digit (several at 1.0 are common)
    weakest = confidences.index(low)
    return path, photo.text, (low + second) / 2, photo.text[:weakest] + "?" + photo.text[weakest + 1 :]


# --- the recognizer ----------------------------------------------------------------------------


def test_text_has_a_question_mark_for_each_unsure_digit(number):
    path, shown, threshold, marked = number
    sure = Recognizer(min_confidence=0.0).read(path)
    assert sure.text == shown and not any(d.unsure for d in sure.digits)
    mixed = Recognizer(min_confidence=threshold).read(path)
    assert mixed.text == marked
    assert [d.unsure for d in mixed.digits] == [c == "?" for c in marked]
    assert [d.digit for d in mixed.digits] == [d.digit for d in sure.digits]  # the guess is kept


def test_default_marks_exactly_the_digits_under_it(number, edge_mnist):
    reader = Recognizer()
    assert reader.min_confidence == DEFAULT_MIN_CONFIDENCE
    found = []
    for index in range(40):  # real photos of MNIST test digits, some of them hard
        photo = synthetic.digit_photo(edge_mnist.x_test, edge_mnist.y_test, index, out_side=240)
        p = reader.predict(photo.image)
        assert p.unsure == (p.confidence < DEFAULT_MIN_CONFIDENCE)
        found.append(p.unsure)
    assert not all(found)


def test_json_carries_unsure_and_keeps_its_keys(number):
    path, shown, threshold, marked = number
    out = Recognizer(min_confidence=threshold).read(path).to_dict(str(path))
    assert list(out) == ["path", "text", "probability", "digits", "seconds", "confidence"]
    assert out["text"] == marked
    for d, c in zip(out["digits"], marked):
        assert list(d) == ["digit", "probability", "top3", "box", "unsure", "confidence"]
        assert d["unsure"] is (c == "?")
    assert not any(d["unsure"] for d in Recognizer(min_confidence=0.0).read(path).to_dict()["digits"])


def test_min_confidence_outside_0_to_1_is_refused():
    from digitedge.errors import DigitedgeError

    with pytest.raises(DigitedgeError, match="min_confidence 1.5: must be between 0 and 1"):
        Recognizer(min_confidence=1.5)


# --- the images --------------------------------------------------------------------------------


def colours_in(image: np.ndarray, bgr, tolerance: int = 40) -> int:
    return int(np.all(np.abs(image.astype(int) - np.array(bgr)) <= tolerance, axis=-1).sum())


def test_an_unsure_box_has_its_own_colour():
    sure = Prediction(7, 0.95, [(7, 0.95)], 0.0, (20, 30, 40, 60))
    unsure = Prediction(7, 0.95, [(7, 0.95)], 0.0, (20, 30, 40, 60), unsure=True)
    a = draw.boxes(np.full((200, 200, 3), 255, np.uint8), [sure])
    b = draw.boxes(np.full((200, 200, 3), 255, np.uint8), [unsure])
    edge_a, edge_b = a[30 + 60, 20 + 20], b[30 + 60, 20 + 20]  # the bottom edge of the box
    assert tuple(edge_a) == draw.GREEN and tuple(edge_b) == draw.MAGENTA
    assert draw.MAGENTA not in (draw.GREEN, draw.AMBER, draw.RED)
    assert draw.caption(unsure) == "7? 95%" and draw.caption(sure) == "7 95%"
    assert draw.caption(Prediction(7, 0.9961, [], 0.0, unsure=True)) == "7? 99.6%"  # not a rounded 100%


def test_predict_annotate_draws_unsure_digits_in_their_colour(number, tmp_path):
    path, _, threshold, _ = number
    for confidence, folder in ((0, "sure"), (threshold, "unsure")):
        result = run("predict", path, "--annotate", tmp_path / folder, "--min-confidence", confidence)
        assert result.exit_code == 0, result.output
    sure = cv2.imread(str(tmp_path / "sure" / "number.jpg"))
    unsure = cv2.imread(str(tmp_path / "unsure" / "number.jpg"))
    assert colours_in(sure, draw.MAGENTA) == 0
    assert colours_in(unsure, draw.MAGENTA) > 100  # the unsure digit's box and label


# --- the commands --------------------------------------------------------------------------------


def test_predict_flag_json_and_table(number):
    path, shown, threshold, marked = number
    result = run("predict", "--json", path, "--min-confidence", threshold)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["text"] == marked and [d["unsure"] for d in out["digits"]] == [c == "?" for c in marked]
    assert [str(d["digit"]) for d in out["digits"]] == list(shown)
    out = json.loads(run("predict", "--json", path).stdout)  # the default: these clear digits are sure
    assert out["text"] == shown and not any(d["unsure"] for d in out["digits"])
    table = run("predict", path, "--min-confidence", threshold)
    weakest = marked.index("?")
    assert table.exit_code == 0 and marked in table.stdout and f"{shown[weakest]}? " in table.stdout


@pytest.mark.parametrize("command", ["predict", "webcam", "serve"])
def test_min_confidence_out_of_range_is_one_line(command, number):
    if command == "serve":  # without the web extra, serve says that first
        pytest.importorskip("starlette", reason="needs the web extra: pip install 'digitedge[web]'")
    extra = [str(number[0])] if command == "predict" else ["--headless"] if command == "webcam" else []
    result = run(command, *extra, "--min-confidence", "1.5")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert errors(result) == ["error: --min-confidence 1.5: must be between 0 and 1 (a probability)"]


def hesitant_digit(mnist, reader, label: int, before: np.ndarray) -> np.ndarray:
    """An MNIST test digit the model reads right, but at a confidence well under the default, also
    when it is shown after `before` as the webcam clip shows them (synthetic.render_number)."""
    for index in np.nonzero(mnist.y_test == label)[0]:
        p = read_28(reader, mnist.x_test[index])
        if p.digit != label or not 0.2 < p.confidence < DEFAULT_MIN_CONFIDENCE / 2:
            continue
        shown = synthetic.render_number([before, mnist.x_test[index]], [0, label], 0, out_side=640, base_height=120)
        digits = reader.read(shown.image).digits
        if len(digits) == 2 and digits[1].confidence < DEFAULT_MIN_CONFIDENCE / 2 < digits[0].confidence:
            return mnist.x_test[index]
    raise AssertionError(f"no hesitant {label} in MNIST's test set")


def test_webcam_marks_unsure_digits(tmp_path, edge_mnist):
    reader = recognizer()
    path = tmp_path / "clip.avi"
    five = clear_digits(edge_mnist, reader, "5")[0]
    digits = [five, hesitant_digit(edge_mnist, reader, 9, five)]
    synthetic.write_video(path, [(digits, "59")], frames_each=4)
    result = run("webcam", "--source", path, "--headless")  # the default threshold
    assert result.exit_code == 0, result.output
    frames = [json.loads(ln) for ln in result.stdout.splitlines()]
    assert len(frames) == 4
    for f in frames:  # the hesitant 9 (read as 9 or as something else) is unsure, not wrong
        assert f["text"] == "5?"
        assert [d["unsure"] for d in f["detections"]] == [False, True]
        assert f["detections"][1]["probability"] < DEFAULT_MIN_CONFIDENCE
    result = run("webcam", "--source", path, "--headless", "--min-confidence", 0)  # nothing is unsure
    texts = [json.loads(ln)["text"] for ln in result.stdout.splitlines()]
    assert len(texts) == 4 and all(len(t) == 2 and t[0] == "5" and "?" not in t for t in texts)


def test_serve_flag_reaches_uploads_and_the_page(number, monkeypatch):
    pytest.importorskip("starlette", reason="needs the web extra: pip install 'digitedge[web]'")
    from digitedge.commands import serve

    started = []
    monkeypatch.setattr(serve, "run", lambda app, runtime, host, port: started.append(runtime))
    path, _, threshold, marked = number
    result = run("serve", "--min-confidence", threshold)
    assert result.exit_code == 0, result.output
    runtime = started[0]
    out = runtime.infer(path.read_bytes(), "number.png")
    assert out["text"] == marked and [d["unsure"] for d in out["digits"]] == [c == "?" for c in marked]
    assert runtime.model_info["min_confidence"] == threshold
    page = (Path(serve.__file__).parents[1] / "serve" / "page.html").read_text()
    assert "d.unsure" in page and "UNSURE" in page  # the page colours and marks them


# --- the default and its measurement ---------------------------------------------------------


def test_the_default_is_the_one_the_calibration_chose():
    record = json.loads(RECORD.read_text())
    assert not record["quick"] and record["images"] == 10_000
    assert record["chosen"]["threshold"] == DEFAULT_MIN_CONFIDENCE
    assert record["default_model"] == "digits_int8"
    assert {"mnist-clean", "mnist-c"} <= set(record["datasets"])


def test_ece_and_coverage_on_known_scores():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.1, 1.0, 200_000)
    calibrated = calibration.Scores(confidence, rng.uniform(size=confidence.size) < confidence)
    ece, bins = calibration.reliability(calibrated)
    assert ece < 0.01 and len(bins) == calibration.BINS
    overconfident = calibration.Scores(np.full(1000, 0.9), np.arange(1000) < 600)  # 90% claimed, 60% right
    assert calibration.reliability(overconfident)[0] == pytest.approx(0.3)
    curve = calibration.coverage_curve(calibrated, [0.0, 0.5])
    assert curve[0]["coverage"] == 1.0 and curve[1]["coverage"] == pytest.approx(0.5 / 0.9, abs=0.01)
    assert curve[1]["kept_accuracy"] > curve[0]["kept_accuracy"]


def test_choose_meets_both_targets_or_keeps_the_clean_budget():
    def result(confidence, correct):
        return calibration.summarize(calibration.Scores(np.array(confidence), np.array(correct)))

    clean = result([0.999] * 99 + [0.5], [True] * 100)
    hard = result([0.995] * 50 + [0.6] * 50, [True] * 50 + [False] * 50)
    roles = {"clean": ["coverage"], "hard": ["kept"]}
    chosen = calibration.choose({"clean": clean, "hard": hard}, roles)
    assert chosen["targets_met"] and chosen["threshold"] == pytest.approx(0.61)  # the first step over 0.6
    hopeless = result([0.999] * 100, [False] * 100)  # wrong and sure: no threshold helps
    chosen = calibration.choose({"clean": clean, "hard": hopeless}, roles)
    assert not chosen["targets_met"] and chosen["at_threshold"]["clean"]["unsure"] <= calibration.MAX_UNSURE_CLEAN


def test_the_serve_load_record_counts_unsure_apart_from_wrong():
    """benchmarks/serve_load.py: a '?' is not a misread, but a '?' over a wrong length still is."""
    from digitedge.benchmarks.serve_load import judge

    assert [judge(read, "4025") for read in ("4025", "40?5", "??25", "4015", "40?6", "402", "40255")] == [
        "right", "unsure", "unsure", "wrong", "wrong", "wrong", "wrong"]
