"""The bench's webcam frame rate (benchmarks/webcam_fps.py): the frames it reads, what it records,
how it judges the goals and what report.md shows. No speed is asserted: the goals are judged
on made-up rows, the real measurement only has to be there and read the number right.

TensorFlow-free: runs in the edge-only environments.
"""

from __future__ import annotations

import pytest

from digitedge.benchmarks import webcam_fps

pytestmark = pytest.mark.edge


@pytest.fixture(scope="module")
def measured(edge_mnist) -> dict:
    return webcam_fps.measure(edge_mnist.x_test, edge_mnist.y_test, None, [1], runs=6)


def test_both_frame_sizes_are_measured_and_read_right(measured):
    assert measured["model"] == "digits_int8.tflite" and measured["runs"] == 6
    assert [(r["size"], r["threads"]) for r in measured["rows"]] == [("640x480", 1), ("1280x720", 1)]
    for row in measured["rows"]:
        assert row["error"] is None and row["number"] == "4025" and row["detect_us"]["n"] == 6
        assert row["fps_median"] == pytest.approx(1e6 / row["detect_us"]["median"], abs=0.05)
        assert row["cpu_us"]["n"] == 6 and row["fps_cpu"] == pytest.approx(1e6 / row["cpu_us"]["median"], abs=0.05)
        assert row["reads"] == {"4025": webcam_fps.VARIANTS}  # every frame of the clip, read right


def test_the_clip_frames_hold_the_number_at_the_size_asked(edge_mnist, tmp_path):
    frames = webcam_fps.clip_frames(edge_mnist.x_test, edge_mnist.y_test, (1280, 720), tmp_path)
    assert len(frames) == webcam_fps.VARIANTS and {f.shape for f in frames} == {(720, 1280, 3)}
    assert any((a != b).any() for a, b in zip(frames, frames[1:]))  # shake and noise: not one frame repeated


def row(size: str, fps: float, reads: dict) -> dict:
    return {"size": size, "threads": 1, "number": "4025", "frames": 12, "error": None, "fps_median": fps,
            "fps_mean": fps, "fps_cpu": 2 * fps, "detect_us": {"median": 1e6 / fps, "p90": 1e6 / fps, "p99": 1e6 / fps},
            "reads": reads}


def test_a_goal_is_met_only_fast_enough_and_read_right():
    webcam = {"model": "digits_int8.tflite", "runtime": "litert", "runs": 300, "warmup": 10,
              "rows": [row("640x480", 250.0, {"4025": 11, "4028": 1}), row("1280x720", 59.0, {"4025": 12})]}
    small, large = webcam_fps.goals(webcam)
    assert small["goal"] == "webcam 640x480, a 4-digit number, 1 thread: at least 200 FPS"
    assert small["status"] == "missed" and small["note"] == "misread: {'4028': 1}"
    assert small["measured"] == "250 FPS (median 4.00 ms; by CPU time 500 FPS; read 4025 in 11/12 frames)"
    assert large["status"] == "missed" and large["note"] == "missed by 1 FPS"
    webcam["rows"] = [row("640x480", 201.0, {"4025": 12}), row("1280x720", 60.0, {"4025": 12})]
    assert [g["status"] for g in webcam_fps.goals(webcam)] == ["met", "met"]


def test_a_failed_measurement_keeps_the_bench_and_says_why(monkeypatch, edge_mnist):
    def broken(*args, **kwargs):
        raise RuntimeError("no interpreter")

    monkeypatch.setattr(webcam_fps, "measure", broken)
    results = {"goals": []}
    webcam_fps.add_to(results, edge_mnist, [1], ["litert"])
    assert results["webcam"]["error"] == "RuntimeError: no interpreter"
    assert [g["status"] for g in results["goals"]] == ["not measured", "not measured"]
    assert webcam_fps.report_lines(results) == ["## Webcam frame rate", "",
                                                "Not measured: RuntimeError: no interpreter", ""]


def test_report_md_has_the_table(measured):
    lines = "\n".join(webcam_fps.report_lines({"webcam": measured})).splitlines()
    assert lines[0] == "## Webcam frame rate"
    table = [ln for ln in lines if ln.startswith("| 640x480") or ln.startswith("| 1280x720")]
    assert len(table) == 2 and all(ln.endswith("| 4025 x12 |") and ln.count("|") == 11 for ln in table), table
    assert webcam_fps.report_lines({}) == []
