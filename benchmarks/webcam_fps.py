"""Webcam frame rate: frames per second of `digitedge webcam`'s detect path, and what it read.

The frames are those of a synthetic clip (digitedge.benchmarks.synthetic.write_video: paper
with a 4-digit number of MNIST test digits on a table, hand shake, sensor noise, mp4v), at
640x480 and 1280x720, decoded back from the file as a camera's frames would arrive. Each timed
call is `webcam.detect(recognizer, frame, None)` on the next of the clip's frames in turn: BGR
to grey, find every digit, crop, normalise, invoke, softmax, as each frame of `digitedge webcam`
(the capture runs in its own thread and is not timed). FPS is 1 / the median call; the reading
of every frame is recorded beside it, so a fast wrong read is visible, and counts against the goal.

`digitedge bench` adds this to results.json ("webcam"), report.md and the goals (the --pi
profile's: one core, one thread). Alone, without the rest of the bench:

    python -m digitedge.benchmarks.webcam_fps --pi       # one core, one thread; prints the table
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from . import timing
from .formatting import num

SIZES = ((640, 480), (1280, 720))
NUMBER = "4025"  # each digit: the first MNIST test image of its label
GOAL_FPS = {(640, 480): 200.0, (1280, 720): 60.0}  # one core, one thread: ~30 and ~10 FPS on a Pi 4
VARIANTS = 12  # distinct frames per size, used in turn
RUNS, WARMUP, ROUNDS = 300, 10, 10


def clip_frames(images: np.ndarray, labels: np.ndarray, size: tuple[int, int], folder: Path) -> list[np.ndarray]:
    """The BGR frames of a synthetic clip of NUMBER at `size`, as decoded from its file."""
    import cv2

    from . import synthetic

    digits = [images[int(np.flatnonzero(labels == int(c))[0])] for c in NUMBER]
    path = folder / f"webcam_{size[0]}x{size[1]}.mp4"
    synthetic.write_video(path, [(digits, NUMBER)], frames_each=VARIANTS, size=size)
    cap = cv2.VideoCapture(str(path))
    frames = []
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
    finally:
        cap.release()
    if len(frames) != VARIANTS:
        raise RuntimeError(f"{path.name}: decoded {len(frames)} frames of {VARIANTS}")
    return frames


def reads(recognizer, frames: list[np.ndarray]) -> dict[str, int]:
    """How many frames were read as each text ("" when nothing was found)."""
    from digitedge.edge_runtime import webcam

    return dict(Counter("".join(p.text for p in webcam.detect(recognizer, f, None)) for f in frames).most_common())


def detect_task(key: str, recognizer, frames: list[np.ndarray], runs: int, threads: int,
                cpu_ns: list[int]) -> timing.Task:
    """The timed call; each call's CPU time (this thread's) goes into `cpu_ns` too, warm-up first."""
    from digitedge.edge_runtime import webcam

    from .targets import fix_opencv_threads

    turn = itertools.cycle(frames)

    def call():
        start = time.thread_time_ns()
        webcam.detect(recognizer, next(turn), None)
        cpu_ns.append(time.thread_time_ns() - start)

    return timing.Task(key, call, runs, WARMUP, before=lambda: fix_opencv_threads(threads))


def measure(images: np.ndarray, labels: np.ndarray, backend: str | None, threads: list[int],
            runs: int = RUNS, log=lambda message: None) -> dict:
    """Every size x thread count, timed round-robin; the shipped default model (as `webcam` uses)."""
    from digitedge.edge_runtime import load_recognizer
    from digitedge.edge_runtime.recognizer import DEFAULT_MODEL

    with tempfile.TemporaryDirectory(prefix="digitedge-webcam-") as tmp:
        clips = {size: clip_frames(images, labels, size, Path(tmp)) for size in SIZES}
    readers = {t: load_recognizer(DEFAULT_MODEL, backend or "auto", t)[0] for t in threads}
    log(f"webcam frame rate: {len(SIZES)} frame sizes x {len(threads)} thread count(s), {runs} frames each")
    runs_of = [((w, h), t, []) for (w, h) in SIZES for t in threads]  # (size, threads, CPU time per call)
    tasks = [detect_task(f"{w}x{h}", readers[t], clips[(w, h)], runs, t, cpu) for (w, h), t, cpu in runs_of]
    timing.interleave(tasks, rounds=ROUNDS)
    rows = []
    for task, ((w, h), t, cpu) in zip(tasks, runs_of):
        row = {"size": task.key, "threads": t, "number": NUMBER, "frames": VARIANTS, "error": task.error}
        if task.error is None:
            stats = timing.stats(task.samples)
            row.update(detect_us=stats, fps_median=round(1e6 / stats["median"], 1),
                       fps_mean=round(1e6 / stats["mean"], 1), reads=reads(readers[t], clips[(w, h)]))
            if t == 1:  # the calling thread's CPU time is all of it only when nothing runs in other threads
                cpu_stats = timing.stats(cpu[WARMUP:])
                row.update(cpu_us=cpu_stats, fps_cpu=round(1e6 / cpu_stats["median"], 1))
        rows.append(row)
    reader = next(iter(readers.values()))
    return {"model": Path(reader.model_path).name, "runtime": reader.backend, "runs": runs,
            "warmup": WARMUP, "rows": rows}


def goals(webcam: dict) -> list[dict]:
    """The frame-rate goals, on the one-thread rows: met when fast enough AND every frame read right."""
    from .summary import goal

    out = []
    for (w, h), target in GOAL_FPS.items():
        name = f"webcam {w}x{h}, a 4-digit number, 1 thread: at least {target:.0f} FPS"
        row = next((r for r in webcam["rows"] if r["size"] == f"{w}x{h}" and r["threads"] == 1), None)
        if row is None or row.get("error"):
            why = (row or webcam).get("error") or "no 1-thread measurement"
            out.append(goal(name, f">= {target:.0f} FPS", None, None, "-", why))
            continue
        fps, right = row["fps_median"], row["reads"].get(row["number"], 0)
        wrong = {text: n for text, n in row["reads"].items() if text != row["number"]}
        note = [] if fps >= target else [f"missed by {target - fps:.0f} FPS"]
        note += [f"misread: {wrong}"] if wrong else []
        measured = (f"{fps:.0f} FPS (median {row['detect_us']['median'] / 1000:.2f} ms; by CPU time "
                    f"{row['fps_cpu']:.0f} FPS; read {row['number']} in {right}/{row['frames']} frames)")
        out.append(goal(name, f">= {target:.0f} FPS", fps, fps >= target and not wrong, measured, "; ".join(note)))
    return out


def add_to(results: dict, mnist, threads: list[int], backends: list[str], runs: int = RUNS,
           log=lambda message: None) -> None:
    """The bench's hook: results["webcam"], and its goals after the others; a failure is recorded, not raised."""
    try:
        webcam = measure(mnist.x_test, mnist.y_test, backends[0] if backends else None, threads, runs, log)
    except Exception as e:  # noqa: BLE001 - the models' rows are measured already: keep them
        webcam = {"error": f"{type(e).__name__}: {e}", "rows": []}
        log(f"webcam frame rate: failed ({webcam['error']})")
    results["webcam"] = webcam
    results["goals"] += goals(webcam)


def table(webcam: dict) -> tuple[list[str], list[list[str]]]:
    header = ["frame", "number", "threads", "detect median", "p90", "p99", "FPS (median)", "FPS (mean)",
              "FPS (CPU time)", "read"]
    rows = []
    for r in webcam["rows"]:
        if r.get("error"):
            rows.append([r["size"], r["number"], str(r["threads"])] + ["-"] * 6 + [f"FAILED: {r['error']}"])
            continue
        st = r["detect_us"]
        read = ", ".join(f"{text or '(nothing)'} x{n}" for text, n in r["reads"].items())
        rows.append([r["size"], r["number"], str(r["threads"])]
                    + [f"{st[k] / 1000:.2f} ms" for k in ("median", "p90", "p99")]
                    + [f"{r['fps_median']:.0f}", f"{r['fps_mean']:.0f}", num(r.get("fps_cpu"), ".0f"), read])
    return header, rows


def report_lines(results: dict) -> list[str]:
    """report.md's section (nothing when the run has no webcam measurement)."""
    from .report import md_table

    webcam = results.get("webcam")
    if not webcam:
        return []
    if webcam.get("error"):
        return ["## Webcam frame rate", "", f"Not measured: {webcam['error']}", ""]
    return ["## Webcam frame rate", "",
            f"Frames per second of `digitedge webcam`'s detect path (`webcam.detect`: BGR to grey, find, crop, "
            f"normalise and read every digit) with {webcam['model']} on {webcam['runtime']}: median of "
            f"{webcam['runs']} calls per row after {webcam['warmup']} untimed, round-robin across rows, on the "
            f"{webcam['rows'][0]['frames']} frames of a synthetic clip (benchmarks/synthetic.py: a "
            f"{len(NUMBER)}-digit number on paper, hand shake, sensor noise, mp4v) used in turn. The capture "
            "runs in its own thread and is not timed: from a camera slower than this rate every frame is read; "
            "from a faster one the newest, the others counted as dropped. *FPS (CPU time)*: 1 / the median CPU time "
            "of a call (1 thread only), which other work on a busy machine inflates less than the wall-clock "
            "columns; the goals are judged on the wall clock. *read*: the text read in each frame.",
            "", md_table(*table(webcam)), ""]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pi", action="store_true", help="one core, one thread (as digitedge bench --pi)")
    parser.add_argument("--threads", default="1", help="thread counts, e.g. 1,2 (--pi: 1)")
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--backend", default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the measurement here")
    args = parser.parse_args(argv)
    from digitedge import data

    from .bench import pin_to_one_core

    threads = [1] if args.pi else sorted({int(v) for v in args.threads.split(",")})
    core = pin_to_one_core() if args.pi else None
    mnist = data.load_or_fetch(None)
    webcam = measure(mnist.x_test, mnist.y_test, args.backend, threads, args.runs, log=print)
    webcam["pinned_core"] = core
    header, rows = table(webcam)
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(row))
    for g in goals(webcam):
        print(f"{g['status']:>12}  {g['goal']}: {g['measured']}" + (f" ({g['note']})" if g["note"] else ""))
    if args.json:
        args.json.write_text(json.dumps(webcam, indent=2) + "\n")


if __name__ == "__main__":
    main()
