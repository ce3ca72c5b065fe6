"""scripts/arm64_compare.py: x86-64 and arm64 answers compared; a deliberately different one fails.

Standard library only (the comparison of JSON lines): runs in every environment.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.edge

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "arm64_compare.py"
spec = importlib.util.spec_from_file_location("arm64_compare", SCRIPT)
ac = sys.modules["arm64_compare"] = importlib.util.module_from_spec(spec)  # dataclasses look it up
spec.loader.exec_module(ac)

INT8_TOL = 1 / 256 + 1e-4


def digit(d, p, top3, box):
    return {"digit": d, "probability": p, "top3": top3, "box": box}


HOST = [
    {
        "path": "/tmp/x/images/number00.png",
        "text": "71",
        "probability": 0.98,
        "digits": [
            digit(7, 0.9921, [[7, 0.9921], [1, 0.0078], [2, 0.0]], [10, 5, 20, 30]),
            digit(1, 0.9877, [[1, 0.9877], [7, 0.0123], [4, 0.0]], [40, 6, 8, 29]),
        ],
        "seconds": 0.012,
    },
    {"path": "/tmp/x/images/blank.png", "error": "/tmp/x/images/blank.png: no digit found"},
    {
        "path": "/tmp/x/images/digit00.png",
        "text": "6",
        "probability": 1.0,
        "digits": [digit(6, 1.0, [[6, 1.0], [9, 0.0], [8, 0.0]], [0, 22, 26, 25])],
        "seconds": 0.02,
    },
]


def arm_copy():
    """The same answers as seen from the arm64 root: other folders, other timings."""
    arm = copy.deepcopy(HOST)
    for r in arm:
        r["path"] = r["path"].replace("/tmp/x/", "/mnt/work/share/")
        if "error" in r:
            r["error"] = r["error"].replace("/tmp/x/", "/mnt/work/share/")
        if "seconds" in r:
            r["seconds"] *= 40  # QEMU: slower, and never compared
    return arm


def test_the_same_answers_pass():
    result = ac.compare_predict(HOST, arm_copy(), ac.FLOAT_TOLERANCE)
    assert result.same, result.digit_differences + result.other_differences
    assert (result.items, result.digits, result.max_diff) == (3, 3, 0.0)
    assert ac.report(result) == 0


def test_a_different_digit_fails():
    arm = arm_copy()
    arm[0]["digits"][1]["digit"] = 4
    result = ac.compare_predict(HOST, arm, INT8_TOL)
    assert not result.same
    assert result.digit_differences == ["number00.png digit 2: digit 1 on x86-64, 4 on arm64"]
    assert ac.report(result) == 1


def test_a_different_number_fails():
    arm = arm_copy()
    arm[0]["text"] = "7"
    arm[0]["digits"] = arm[0]["digits"][:1]
    result = ac.compare_predict(HOST, arm, INT8_TOL)
    assert result.digit_differences == ["number00.png: read '71' on x86-64, '7' on arm64"]


def test_probability_within_the_tolerance_passes_beyond_fails():
    arm = arm_copy()
    arm[0]["digits"][0]["probability"] = 0.9923  # float32 kernels of two architectures
    arm[0]["digits"][0]["top3"][0][1] = 0.9923
    assert ac.compare_predict(HOST, arm, ac.FLOAT_TOLERANCE).same
    arm[0]["digits"][0]["probability"] = 0.9985
    result = ac.compare_predict(HOST, arm, ac.FLOAT_TOLERANCE)
    assert not result.same and not result.digit_differences
    assert result.other_differences[0] == "number00.png digit 1: probability 0.9921 on x86-64, 0.9985 on arm64"
    assert result.max_diff == pytest.approx(64e-4)
    # int8: one quantization step (1/256) apart is the same answer
    arm[0]["digits"][0]["probability"] = 0.9935
    assert ac.compare_predict(HOST, arm, INT8_TOL).same


def test_top3_ties_at_zero_may_swap():
    arm = arm_copy()
    arm[2]["digits"][0]["top3"] = [[6, 1.0], [8, 0.0], [5, 0.0]]  # 9, 8, 5 all round to 0.0
    assert ac.compare_predict(HOST, arm, ac.FLOAT_TOLERANCE).same
    arm[2]["digits"][0]["top3"] = [[6, 0.95], [5, 0.05], [8, 0.0]]
    arm[2]["digits"][0]["probability"] = 0.95
    result = ac.compare_predict(HOST, arm, INT8_TOL)
    assert not result.same and not result.digit_differences
    assert "digit00.png digit 1: 5 (0.0500) in the top 3 on arm64 only" in result.other_differences


def test_a_box_moved_by_a_pixel_allows_a_looser_probability_further_fails():
    arm = arm_copy()
    arm[0]["digits"][0]["box"] = [11, 5, 20, 30]  # OpenCV rounding: another crop, same digit
    arm[0]["digits"][0]["probability"] = arm[0]["digits"][0]["top3"][0][1] = 0.9721
    result = ac.compare_predict(HOST, arm, ac.FLOAT_TOLERANCE)
    assert result.same, result.other_differences
    assert (result.moved, result.max_moved_diff, result.max_diff) == (1, pytest.approx(0.02), 0.0)
    arm[0]["digits"][0]["probability"] = arm[0]["digits"][0]["top3"][0][1] = 0.9121  # beyond MOVED_TOLERANCE
    assert not ac.compare_predict(HOST, arm, ac.FLOAT_TOLERANCE).same
    arm = arm_copy()
    arm[0]["digits"][0]["box"] = [10, 5, 20, 30 + ac.BOX_PIXELS + 1]
    result = ac.compare_predict(HOST, arm, INT8_TOL)
    assert result.other_differences == [
        f"number00.png digit 1: box [10, 5, 20, 30] on x86-64, [10, 5, 20, {31 + ac.BOX_PIXELS}] on arm64"
    ]


def test_missing_answers_and_errors_fail():
    result = ac.compare_predict(HOST, arm_copy()[:2], INT8_TOL)
    assert result.digit_differences == ["digit00.png: no answer on arm64"]
    arm = arm_copy()
    arm[1] = {"path": arm[1]["path"], "text": "3", "digits": [digit(3, 0.6, [[3, 0.6]], [0, 0, 5, 5])]}
    result = ac.compare_predict(HOST, arm, INT8_TOL)
    assert result.digit_differences == ["blank.png: '/tmp/x/images/blank.png: no digit found' on x86-64, '3' on arm64"]


def frame(n, text, digits, raw=None):
    return {
        "frame": n,
        "time": 0.1 * n,
        "latency_ms": 5.0,
        "fps": 10.0,
        "text": text,
        "detections": [
            {
                "box": [10 * i, 0, 8, 20],
                "digit": d,
                "probability": 0.99,
                "raw_digit": raw if raw is not None else d,
                "raw_probability": 0.99,
                "track": i,
            }
            for i, d in enumerate(digits)
        ],
    }


def test_webcam_frames_compared_without_timings():
    host = [frame(1, "86", [8, 6]), frame(2, "86", [8, 6])]
    arm = copy.deepcopy(host)
    for f in arm:
        f["latency_ms"], f["fps"], f["time"] = 400.0, 0.3, 9.0
    assert ac.compare_webcam(host, arm, INT8_TOL).same
    arm[1] = frame(2, "85", [8, 5])
    assert ac.compare_webcam(host, arm, INT8_TOL).digit_differences == ["frame 2: read '86' on x86-64, '85' on arm64"]
    arm[1] = frame(2, "86", [8, 6], raw=3)  # smoothed the same, but the model saw another digit
    assert len(ac.compare_webcam(host, arm, INT8_TOL).digit_differences) == 2
    assert ac.compare_webcam(host, arm[:1], INT8_TOL).digit_differences == ["2 frames on x86-64, 1 on arm64"]


def test_command_line_exit_codes(tmp_path, capsys):
    host, arm = tmp_path / "host.jsonl", tmp_path / "arm.jsonl"
    host.write_text("".join(json.dumps(r) + "\n" for r in HOST))
    arm.write_text("warning: no metadata\n" + "".join(json.dumps(r) + "\n" for r in arm_copy()))
    assert ac.main(["predict", str(host), str(arm), "--tolerance", "1e-4", "--label", "float32 predict"]) == 0
    assert capsys.readouterr().out.startswith("float32 predict: same: 3 items, 3 digits, 0 digit differences;")
    changed = arm_copy()
    changed[2]["text"], changed[2]["digits"][0]["digit"] = "5", 5
    arm.write_text("".join(json.dumps(r) + "\n" for r in changed))
    assert ac.main(["predict", str(host), str(arm), "--tolerance", "1e-4"]) == 1
    out = capsys.readouterr().out
    assert "DIFFERENT" in out and "digit00.png: read '6' on x86-64, '5' on arm64" in out


def test_the_sides_can_be_named(tmp_path, capsys):
    host, arm = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    host.write_text("".join(json.dumps(r) + "\n" for r in HOST))
    changed = arm_copy()
    changed[2]["text"], changed[2]["digits"][0]["digit"] = "5", 5
    arm.write_text("".join(json.dumps(r) + "\n" for r in changed))
    assert ac.main(["predict", str(host), str(arm), "--tolerance", "0.05", "--names", "[edge],[edge-legacy]"]) == 1
    assert "digit00.png: read '6' on [edge], '5' on [edge-legacy]" in capsys.readouterr().out
