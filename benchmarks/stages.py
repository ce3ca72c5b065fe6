"""The predict path split by stage (issue 18): where a photo's time goes, per TFLite configuration.

Each configuration's Recognizer gets an edge_runtime.profile.StageTimer and reads the bench
photo, encoded as a JPEG, `runs` times: decode, grey and lighting, ink mask, segmentation,
crop, invoke and post, each as median and p99. This runs after the timed calls, so the
timer's own (tiny) cost never enters `predict_us`.
"""

from __future__ import annotations

import cv2
import numpy as np

from .formatting import num, runtime_label
from .targets import TFLITE, fix_opencv_threads

WARMUP = 10


def jpeg(photo: np.ndarray) -> bytes:
    """The bench photo as a phone would hand it over: JPEG bytes (quality 90)."""
    bgr = photo[..., ::-1] if photo.ndim == 3 else photo
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(bgr), [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise ValueError("cannot encode the bench photo as JPEG")
    return data.tobytes()


def split(recognizer, image, runs: int) -> dict:
    """{stage: {median, p99, n}} in µs (and "total") over `runs` predict calls of `image`."""
    from digitedge.edge_runtime.profile import StageTimer

    for _ in range(WARMUP):
        recognizer.predict(image)
    recognizer.timer = StageTimer()
    try:
        for _ in range(runs):
            recognizer.predict(image)
        return recognizer.timer.summary()
    finally:
        del recognizer.timer  # back to the class's OFF


def measure(targets: list, rows: dict, photo: np.ndarray, runs: int, log) -> None:
    """rows[key]["stages_us"] for every TFLite configuration that is still ok."""
    data = jpeg(photo)
    log(f"predict path by stage: {runs} runs each on the photo as JPEG")
    for t in targets:
        row = rows[t.spec.key]
        if t.spec.kind != TFLITE or row["status"] != "ok":
            continue
        fix_opencv_threads(t.spec.threads)
        row["stages_us"] = split(t.recognizer, data, runs)


def report_lines(results: dict) -> list[str]:
    """report.md's section: one column per configuration, median / p99 per stage."""
    from digitedge.edge_runtime.profile import ABOUT, STAGES

    rows = [r for r in results["rows"] if r.get("stages_us")]
    if not rows:
        return []
    header = ["stage", "what"] + [f"{r['model']} {runtime_label(r)} {r['threads']}t" for r in rows]
    body = [[stage, ABOUT.get(stage, "whole call")]
            + [f"{num(r['stages_us'][stage]['median'], '.1f')} / {num(r['stages_us'][stage]['p99'], '.1f')}"
               for r in rows] for stage in STAGES + ("total",)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 2 + "---:|" * len(rows)]
    lines += ["| " + " | ".join(b) + " |" for b in body]
    return ["## The predict path by stage (µs, median / p99)", "",
            "`Recognizer.predict` on the bench photo encoded as a JPEG (so decoding shows), timed stage by "
            "stage with `edge_runtime.profile.StageTimer` (what `digitedge predict --profile` prints). "
            "Timed after the interleaved runs, one configuration after the other: compare stages within a column; "
            "the totals move with the machine's load more than the medians above.", "", *lines, ""]
