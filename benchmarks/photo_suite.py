"""`digitedge photos`: the photo suite (photo_kinds.py) read by a .tflite model, per kind.

Every photo goes through `Recognizer.read`, as `digitedge predict` reads it. A digit kind is
read right when the text is the digit; a clutter kind when nothing is read (NoDigitError).
Writes photos.json, photos.md (one row per kind) and examples.png (a few photos of each kind
with what was read: failures first).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitedge.errors import NoDigitError

from . import photo_kinds
from .common import command_line, shown_path, versions

EXAMPLES = 5  # photos per kind in examples.png


@dataclass
class SuiteConfig:
    out: Path
    per_kind: int = 100
    first: int = 0  # the first photo's number in each kind
    model: Path | None = None
    data_dir: Path | None = None
    kinds: tuple[str, ...] = tuple(k.name for k in photo_kinds.KINDS)
    note: str = ""  # what else the reader should know about this run (shown under the table)


def read_kind(recognizer, kind: photo_kinds.Kind, images, labels, count: int, first: int = 0) -> tuple[dict, list]:
    """(the kind's row, its cases as (photo, text read or None, right)) for `count` photos from number `first`."""
    right = missed = misread = unsure = 0
    seconds, cases, wrong = [], [], []
    for n in range(first, first + count):
        photo = photo_kinds.photo(kind.name, images, labels, n)
        start = time.perf_counter()
        try:
            digits = recognizer.read(photo.image, name=f"{kind.name} #{n}").digits
        except NoDigitError:
            digits = None
        seconds.append(time.perf_counter() - start)
        # the digits themselves: the text may mark an unsure one with "?"
        got = None if digits is None else "".join(str(d.digit) for d in digits)
        unsure += any(getattr(d, "unsure", False) for d in digits or [])
        ok = got == (photo.text if kind.has_digit else None)
        right += ok
        missed += got is None and not ok
        misread += got is not None and not ok
        if not ok:
            wrong.append({"photo": n, "shown": photo.text, "read": got})
        cases.append((photo, got, ok))
    row = {
        "kind": kind.name,
        "about": kind.about,
        "has_digit": kind.has_digit,
        "photos": count,
        "right": right,
        "no_digit_found": missed,
        "misread": misread,
        "unsure": unsure,  # photos with a digit marked unsure (where the recognizer marks them)
        "right_rate": right / count,
        "median_ms": 1000 * float(np.median(seconds)),
        "mean_ms": 1000 * float(np.mean(seconds)),
        "wrong": wrong,
    }
    return row, cases


def run(config: SuiteConfig, progress=None) -> dict:
    from digitedge import data
    from digitedge.edge_runtime import load_recognizer

    mnist = data.load(data.resolve_dir(config.data_dir))
    recognizer, warnings = load_recognizer(config.model, threads=1)
    rows, examples = [], {}
    for name in config.kinds:
        kind = photo_kinds.BY_NAME[name]
        row, cases = read_kind(recognizer, kind, mnist.x_test, mnist.y_test, config.per_kind, config.first)
        rows.append(row)
        examples[name] = sorted(cases, key=lambda c: c[2])[:EXAMPLES]  # failures first
        if progress is not None:
            progress(row)
    results = {
        "command": command_line(),
        "model": shown_path(recognizer.model_path),
        "backend": recognizer.backend,
        "threads": 1,
        "warnings": warnings,
        "per_kind": config.per_kind,
        "first": config.first,
        "digits": "MNIST test set",
        "versions": versions(["numpy", "opencv-python-headless", "opencv-python", "ai-edge-litert", "tflite-runtime"]),
        "note": config.note,
        "kinds": rows,
    }
    write(config.out, results, examples)
    return results


def write(out: Path, results: dict, examples: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "photos.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "photos.md").write_text(markdown(results))
    draw_examples(out / "examples.png", examples)


def markdown(results: dict) -> str:
    lines = [
        "# The photo suite: what people photograph",
        "",
        f"`{results['command']}`: {results['per_kind']} photos per kind (numbers {results.get('first', 0)} to "
        f"{results.get('first', 0) + results['per_kind'] - 1}), MNIST test digits rendered by "
        f"`digitedge.benchmarks.photo_kinds`, read by `{results['model']}` ({results['backend']}, 1 thread) "
        "through `Recognizer.read`. A clutter kind (no digit) is right when nothing is read.",
        "",
        "| kind | what | read right | no digit found | misread | time per photo (median) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in results["kinds"]:
        lines.append(
            f"| {r['kind']} | {r['about']} | {100 * r['right_rate']:.1f}% | {r['no_digit_found']} | "
            f"{r['misread']} | {r['median_ms']:.1f} ms |"
        )
    lines += ["", results["note"]] if results.get("note") else []
    lines += ["", "Misread on a clutter kind: something was read where there is no digit.",
              "Wrong cases (photo number: shown -> read) are in photos.json; examples.png shows a few "
              "photos of each kind, failures first.", ""]
    return "\n".join(lines)


def draw_examples(path: Path, examples: dict) -> None:
    """A grid: a row per kind, each photo titled with what was read (red when wrong)."""
    try:
        import matplotlib
    except ImportError:
        return _draw_with_opencv(path, examples)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(examples), EXAMPLES, figsize=(2 * EXAMPLES, 2.1 * len(examples)), squeeze=False)
    for row, (kind, cases) in zip(axes, examples.items()):
        for i, ax in enumerate(row):
            ax.axis("off")
            if i < len(cases):
                photo, got, ok = cases[i]
                ax.imshow(photo.image)
                ax.set_title(_caption(photo, got), fontsize=8, color="green" if ok else "red")
        row[0].text(-0.1, 0.5, kind, transform=row[0].transAxes, ha="right", va="center", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _caption(photo, got) -> str:
    shown = photo.text or "none"
    return f"shown {shown}, read {got if got is not None else 'nothing'}"


def _draw_with_opencv(path: Path, examples: dict) -> None:
    import cv2

    tile, label_w = 170, 150
    rows = []
    for kind, cases in examples.items():
        row = np.full((tile + 20, label_w + EXAMPLES * tile, 3), 255, np.uint8)
        cv2.putText(row, kind, (4, tile // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
        for i, (photo, got, ok) in enumerate(cases):
            im = photo.image
            k = (tile - 6) / max(im.shape[:2])
            im = cv2.resize(im, (max(1, round(im.shape[1] * k)), max(1, round(im.shape[0] * k))))
            x = label_w + i * tile
            row[2 : 2 + im.shape[0], x : x + im.shape[1]] = im
            colour = (0, 140, 0) if ok else (220, 0, 0)
            cv2.putText(row, _caption(photo, got), (x, tile + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.38, colour, 1)
        rows.append(row)
    cv2.imwrite(str(path), np.ascontiguousarray(np.vstack(rows)[..., ::-1]))
