"""Does a personal head learn a writer's digits? The synthetic writers (writers.py), base vs personalized.

For each writer: SAMPLES photos of each digit are written to a folder and learned from as
`digitedge personalize` does (edge_runtime.learn: photos -> digits -> features -> head, timed on
one core, the `bench --pi` profile); the writer's OTHER photos are read with and without the
head. The goals (issue #20): the head at least halves the error on each writer's other photos,
and costs at most 0.1 point of MNIST test accuracy. Writes personalize.json, personalize.md and
writers.png (each writer's glyphs) to --out.

    python -m digitedge.benchmarks.personalize --out benchmarks/results/personalize
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from digitedge.errors import DigitedgeError, ImageError

from . import writers
from .bench import pin_to_one_core
from .common import shown_path, versions
from .machine import describe
from .synthetic import write_image


@dataclass
class Config:
    out: Path
    model: Path | None = None  # default: the shipped int8 model
    data_dir: Path | None = None
    samples: int = 10  # photos of each digit the head learns from
    test: int = 30  # other photos of each digit it is judged on
    writers: list = field(default_factory=lambda: [w.name for w in writers.WRITERS])


def read_photos(writer, numbers: range, model) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(labels, probabilities, features, photos not read as one digit) of a writer's photos `numbers`."""
    from digitedge.edge_runtime.preprocess import find_digits

    crops, labels, unread = [], [], 0
    for digit in range(10):
        for n in numbers:
            photo = writers.photo(writer, digit, n)
            try:
                found = find_digits(photo.image, name=f"{writer.name} {digit} #{n}")
            except ImageError:
                found = []
            if len(found) != 1:
                unread += 1  # wrong with and without a head alike
                continue
            crops.append(found[0].image)
            labels.append(digit)
    probs, feats = model.run(np.stack(crops))
    return np.array(labels), probs, feats, unread


def one_writer(writer, config: Config, model, anchor) -> tuple[dict, object]:
    from digitedge.edge_runtime.learn import learn

    with tempfile.TemporaryDirectory(prefix="digitedge-writer-") as folder:
        for digit in range(10):
            (Path(folder) / str(digit)).mkdir()
            for n in range(config.samples):
                write_image(Path(folder) / str(digit) / f"{n:02d}.jpg", writers.photo(writer, digit, n).image)
        start = time.perf_counter()
        learned = learn(folder, model, anchor)
        seconds = time.perf_counter() - start
    labels, probs, feats, unread = read_photos(writer, range(config.samples, config.samples + config.test), model)
    photos = 10 * config.test
    base_wrong = unread + int(np.sum(probs.argmax(axis=1) != labels))
    personal_wrong = unread + int(np.sum(learned.head.probabilities(feats, probs).argmax(axis=1) != labels))
    row = {"writer": writer.name, "about": writer.about, "samples": learned.samples.per_digit,
           "samples_skipped": len(learned.samples.skipped), "test_photos": photos, "not_one_digit": unread,
           "base_error": base_wrong / photos, "personal_error": personal_wrong / photos,
           "halved": personal_wrong <= base_wrong / 2 and base_wrong > 0,
           "learn_seconds": round(seconds, 3), "fit_seconds": round(learned.seconds["fit"], 3)}
    return row, learned.head


def run(config: Config, log=print) -> dict:
    from digitedge import data
    from digitedge.edge_runtime.features import FeatureModel, load_anchor
    from digitedge.edge_runtime.learn import mnist_accuracy
    from digitedge.edge_runtime.recognizer import DEFAULT_MODEL

    pinned = pin_to_one_core()
    mnist = data.load(config.data_dir)
    model = FeatureModel(config.model or DEFAULT_MODEL)
    anchor = load_anchor(model, config.data_dir)
    rows, heads = [], []
    for name in config.writers:
        row, head = one_writer(writers.BY_NAME[name], config, model, anchor)
        rows.append(row)
        heads.append(head)
        log(f"{name:<13} error {100 * row['base_error']:5.1f}% -> {100 * row['personal_error']:5.1f}%  "
            f"learned in {row['learn_seconds']:.2f} s (fit {row['fit_seconds']:.2f} s)")
    accuracy = mnist_accuracy(model, mnist.x_test, mnist.y_test, heads)
    for row, acc in zip(rows, accuracy[1:]):
        row["mnist_accuracy"] = acc
        row["mnist_drop_points"] = round(100 * (accuracy[0] - acc), 3)
    command = shlex.join(["python", "-m", "digitedge.benchmarks.personalize", *sys.argv[1:]])
    results = {"command": command, "model": shown_path(model.path), "model_sha256": model.sha256,
               "anchor": anchor.source, "profile": "pi (one core)", "pinned_core": pinned,
               "samples_per_digit": config.samples, "test_per_digit": config.test,
               "mnist_base_accuracy": accuracy[0], "machine": describe(),
               "versions": versions(["numpy", "opencv-python-headless", "ai-edge-litert", "tflite-runtime"]),
               "writers": rows}
    results["goals_met"] = all(r["halved"] and r["mnist_drop_points"] <= 0.1 for r in rows)
    write(config.out, results, config)
    return results


def write(out: Path, results: dict, config: Config) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "personalize.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "personalize.md").write_text(markdown(results))
    draw_writers(out / "writers.png", config.writers)


def markdown(results: dict) -> str:
    lines = [
        "# Learning a writer's digits: synthetic writers, base vs personalized",
        "",
        f"`{results['command']}`: model `{results['model']}` (sha256 {results['model_sha256'][:12]}), "
        f"heads fitted beside {results['anchor']}. Each writer: {results['samples_per_digit']} photos of each "
        f"digit learned from (as `digitedge personalize` does, on one core: the `bench --pi` profile), "
        f"{results['test_per_digit']} other photos of each digit read with and without the head. "
        f"MNIST test accuracy of the model alone: {100 * results['mnist_base_accuracy']:.2f}%. Load average "
        f"at the start: {results['machine']['load_average_start']} (other work on the machine inflates the times).",
        "",
        "| writer | glyphs | error, base | error, personalized | halved | MNIST test with the head | "
        "learn (read, features, fit) | fit |",
        "|---|---|---:|---:|:---:|---:|---:|---:|",
    ]
    for r in results["writers"]:
        lines.append(
            f"| {r['writer']} | {r['about']} | {100 * r['base_error']:.1f}% | {100 * r['personal_error']:.1f}% | "
            f"{'yes' if r['halved'] else 'NO'} | {100 * r['mnist_accuracy']:.2f}% ({-r['mnist_drop_points']:+.2f}) | "
            f"{r['learn_seconds']:.2f} s | {r['fit_seconds']:.2f} s |")
    met = "met" if results["goals_met"] else "NOT met"
    lines += ["", f"Goals (error at least halved on every writer, MNIST within 0.1 point): {met}. "
              "A test photo not read as exactly one digit counts as an error with and without the head. "
              "writers.png shows two photos of each digit of each writer.", ""]
    return "\n".join(lines)


def draw_writers(path: Path, names: list, tile: int = 64) -> None:
    """A row per writer: two photos of each digit, the writer's name on the left."""
    rows = []
    for name in names:
        writer = writers.BY_NAME[name]
        row = np.full((tile, 120 + 20 * tile, 3), 255, np.uint8)
        cv2.putText(row, name, (4, tile // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
        for digit in range(10):
            for k in range(2):
                image = writers.photo(writer, digit, k).image
                x = 120 + (2 * digit + k) * tile
                row[:, x : x + tile] = cv2.resize(image, (tile, tile), interpolation=cv2.INTER_AREA)
        rows.append(row)
    cv2.imwrite(str(path), np.ascontiguousarray(np.vstack(rows)[..., ::-1]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="Folder for the record.")
    parser.add_argument("--model", type=Path, help="A .tflite with a features output (default: the shipped int8).")
    parser.add_argument("--data-dir", type=Path, help="MNIST folder (else $DIGITEDGE_DATA, else the cache).")
    parser.add_argument("--test", type=int, default=30, help="Other photos of each digit per writer.")
    args = parser.parse_args(argv)
    try:
        results = run(Config(args.out, args.model, args.data_dir, test=args.test))
    except DigitedgeError as e:
        print(f"error: {e}")
        return 1
    met = "met" if results["goals_met"] else "NOT met"
    print(f"results: {args.out}/personalize.md (json, writers.png); goals {met}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
