"""Publish a run as the release model: models/digits.keras, its report, and MODEL_CARD.md.

The card is written from the run's metrics.json (and the conversion report, when the
TFLite models exist), never by hand, so every number in it was measured.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from digitedge import atomic
from digitedge.train.summary import load_metrics

# `digitedge evaluate` and `digitedge baselines` results for the shipped models (issue 10).
RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
REPORT_FILES = ("metrics.json", "classification_report.txt", "confusion_matrix.png", "curves.png",
                "predictions.png", "trials.csv", "trials.png")


def publish(run_dir: Path, models_dir: Path, conversion_report: Path | None = None) -> Path:
    """Copy the run's model and report into models_dir and write the card; returns the card's path."""
    metrics = load_metrics(run_dir)
    report_dir = models_dir / "report"
    report_dir.mkdir(parents=True, exist_ok=True)
    with atomic.atomic_path(models_dir / "digits.keras") as tmp:
        shutil.copyfile(Path(run_dir) / "model.keras", tmp)
    for name in REPORT_FILES:
        if (Path(run_dir) / name).exists():
            with atomic.atomic_path(report_dir / name) as tmp:
                shutil.copyfile(Path(run_dir) / name, tmp)
        else:  # the previous model's (its search's trials): not this model's evidence
            (report_dir / name).unlink(missing_ok=True)
    conversion = None
    if conversion_report is not None and Path(conversion_report).exists():
        conversion = json.loads(Path(conversion_report).read_text())
    card = models_dir / "MODEL_CARD.md"
    text = render(metrics, conversion)
    section = robustness_section(RESULTS, models_dir, conversion_report)
    text += "\n" + "\n".join(section) if section else ""
    atomic.write_text(card, text)
    return card


def robustness_section(results: Path, models_dir: Path, conversion_report: Path | None) -> list[str]:
    """Clean accuracy and MNIST-C mean corruption error of the shipped .tflite files, with links."""
    path = results / "robustness" / "robustness.json"
    if not path.is_file():
        return []
    r = json.loads(path.read_text())
    link = os.path.relpath(results, Path(models_dir).resolve())
    shipped = Path(conversion_report).parent if conversion_report is not None else None
    lines = ["## Robustness (MNIST-C)", "",
             f"From [robustness.md]({link}/robustness/robustness.md) (`{r['command']}`, {r['images']:,} test "
             "images): accuracy on clean MNIST and mean error over MNIST-C's 15 corruptions (mCE). The classical "
             f"baselines beside the CNN: [baselines.md]({link}/baselines/baselines.md).", "",
             "| model | clean | mCE | relative mCE | measured on |", "| --- | --- | --- | --- | --- |"]
    folders = [folder for folder in (shipped, Path(models_dir)) if folder is not None]
    homes = {folder.resolve() for folder in folders}
    for m in r["models"]:
        if Path(m["path"]).parent.resolve() not in homes:
            continue  # a model evaluated beside the shipped ones (e.g. a candidate): see robustness.md
        s = r["summary"][m["name"]]
        here = [folder / Path(m["path"]).name for folder in folders]
        current = any(f.is_file() and hashlib.sha256(f.read_bytes()).hexdigest() == m["sha256"] for f in here)
        rel = f"{s['relative_mce']:.1f}x" if s["relative_mce"] is not None else "-"
        lines.append(f"| {m['name']} | {100 * s['clean_accuracy']:.2f}% | {100 * s['mce']:.2f}% | {rel} | "
                     + ("the shipped file" if current else "an earlier file: run `digitedge evaluate` again") + " |")
    return lines + [""]


def render(m: dict, conversion: dict | None) -> str:
    hp = m["hyperparameters"]
    lines = [
        "# digitedge release model: `models/digits.keras`",
        "",
        "Written by `digitedge publish` from the run's metrics; every number below was measured.",
        "",
        "| | |", "| --- | --- |",
        f"| test accuracy | **{100 * m['test_accuracy']:.2f}%** on the {m['test_images']:,} MNIST test images |",
        f"| test loss | {m['test_loss']:.4f} |",
        f"| parameters | {m['parameters']:,} |",
        *provenance(m),
        f"| data | MNIST, SHA-256 of the four files' hashes `{m['data_sha256']}` |",
        f"| split | {m['train_images']:,} training / {m['val_images']:,} validation images, seed {m['seed']}; "
        "the test set chose nothing |",
        f"| versions | {', '.join(f'{k} {v}' for k, v in m.get('versions', {}).items())} |",
        "",
        "## Hyperparameters",
        "",
        "| " + " | ".join(hp) + " |", "|" + " --- |" * len(hp), "| " + " | ".join(str(v) for v in hp.values()) + " |",
        "",
    ]
    if "chosen_trial" in m:
        c = m["chosen_trial"]
        compute = m["config"].get("trial_compute")
        budget = f"; every trial spent {compute:g} G multiply-adds" if compute else ""
        cost = f" ({c['multiply_adds'] / 1e6:.1f} M multiply-adds per image)" if "multiply_adds" in c else ""
        lines += [f"Chosen from {len(m['trials'])} keras-tuner trials ({m['algorithm']} search{budget}): trial "
                  f"{c['trial_id']}, validation accuracy {100 * c['val_accuracy']:.2f}% in its short trial; the "
                  f"cheapest{cost} of {c['tied_trials']} trial(s) within 0.3 points of the best. See "
                  "[trials.csv](report/trials.csv).", ""]
    lines += ["## Per digit (test set)", "", "| digit | precision | recall | F1 | support |",
              "| --- | --- | --- | --- | --- |"]
    for d, r in m["per_digit"].items():
        lines.append(f"| {d} | {100 * r['precision']:.2f} | {100 * r['recall']:.2f} | {100 * r['f1-score']:.2f} "
                     f"| {int(r['support'])} |")
    lines += ["", "![confusion matrix](report/confusion_matrix.png)", "", "![curves](report/curves.png)", "",
              "![predictions](report/predictions.png)", ""]
    if "trials" in m:
        lines += ["![trials](report/trials.png)", ""]
    lines += conversion_section(conversion)
    return "\n".join(lines)


def provenance(m: dict) -> list[str]:
    """Time, epochs and command rows; a fine-tuned model also names the run it started from."""
    own = [f"| epochs (final training) | {len(m['history']['loss'])} |", f"| command | `{m.get('command', '')}` |"]
    start = m.get("started_from")
    if not start or start.get("wall_time_s") is None:
        return [f"| training time | {m['wall_time_s'] / 60:.1f} min (search and final training, 2 CPU cores) |", *own]
    total = (start["wall_time_s"] + m["wall_time_s"]) / 60
    return [f"| training time | {total:.1f} min on 2 CPU cores: {start['wall_time_s'] / 60:.1f} for the model it "
            f"started from, {m['wall_time_s'] / 60:.1f} fine-tuning |",
            f"| started from | `{start['model']}`: {start['epochs']} epochs, "
            f"{100 * start['test_accuracy']:.2f}% test accuracy, made by `{start['command']}` |", *own]


def conversion_section(conversion: dict | None) -> list[str]:
    if not conversion:
        return ["## TFLite models", "", "Not converted yet: `digitedge convert models/digits.keras "
                "--out edge_runtime/models --full`, then `digitedge publish` again.", ""]
    v, cal = conversion["verification"], conversion.get("calibration") or {}
    lines = ["## TFLite models (shipped in `edge_runtime/models/`)", "",
             f"From [conversion_report.json](../edge_runtime/models/conversion_report.json): verified on "
             f"{v['images']:,} MNIST test images against the Keras model"
             + (f"; int8 calibrated on {cal['samples']} balanced training images" if cal else "") + ".", "",
             "| format | file | size | vs float32 | Keras | TFLite | drop (pp) | agreement | max prob. diff |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, f in conversion["formats"].items():
        ratio = f"{100 * f['size_vs_float32']:.0f}%" if f.get("size_vs_float32") else "-"
        lines.append(f"| {name} | `{f['file']}` | {f['bytes'] / 1024:.0f} KB | {ratio} | "
                     f"{100 * f['keras_accuracy']:.2f}% | {100 * f['tflite_accuracy']:.2f}% | "
                     f"{f['accuracy_drop_pp']:+.2f} | {100 * f['agreement']:.2f}% | {f['max_prob_diff']:.4f} |")
    return lines + [""]
