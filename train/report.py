"""The evaluation report a run writes: metrics.json, classification report, and the plots."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers or in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay, classification_report, confusion_matrix  # noqa: E402

from digitedge import atomic  # noqa: E402

DIGITS = [str(d) for d in range(10)]


def save_figure(fig, path: Path) -> None:
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def per_digit(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[dict, str]:
    """Per-digit precision, recall, F1 and support, as a dict and as sklearn's text table."""
    kwargs = dict(labels=list(range(10)), target_names=DIGITS, digits=4, zero_division=0)
    return classification_report(y_true, y_pred, output_dict=True, **kwargs), classification_report(
        y_true, y_pred, **kwargs
    )


def plot_confusion(cm: np.ndarray, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 6))
    ConfusionMatrixDisplay(cm, display_labels=DIGITS).plot(ax=ax, cmap="Blues", colorbar=False, values_format="d")
    ax.set_title(f"Confusion matrix ({cm.sum()} test images, {np.trace(cm)} correct)")
    save_figure(fig, path)


def plot_curves(history: dict, path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    epochs = np.arange(1, len(history["loss"]) + 1)
    for ax, key in zip(axes, ("accuracy", "loss")):
        ax.plot(epochs, history[key], "o-", label=f"train {key}")
        ax.plot(epochs, history[f"val_{key}"], "s-", label=f"validation {key}")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    save_figure(fig, path)


def plot_predictions(x: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, path: Path, n: int = 48) -> None:
    """A grid of test digits: the mistakes first (in red), then correct ones."""
    wrong = np.flatnonzero(y_pred != y_true)
    right = np.flatnonzero(y_pred == y_true)
    shown = np.concatenate([wrong[: n // 2], right[: n - min(len(wrong), n // 2)]])
    cols = 12
    rows = int(np.ceil(len(shown) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.3))
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, i in zip(np.ravel(axes), shown):
        ok = y_pred[i] == y_true[i]
        ax.imshow(x[i].squeeze(), cmap="gray")
        ax.set_title(f"{y_pred[i]}" if ok else f"{y_pred[i]} (true {y_true[i]})",
                     color="black" if ok else "red", fontsize=8)
    fig.suptitle(f"Test digits with predicted labels: {len(wrong)} mistakes of {len(y_true)} (red)")
    save_figure(fig, path)


def write_trials(trials: list[dict], run_dir: Path) -> None:
    """trials.csv and trials.png: validation (and training) accuracy of each trial with its hyperparameters."""
    keys = sorted({k for t in trials for k in t["hyperparameters"]})
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["trial", "status", "val_accuracy", "train_accuracy", *keys])
    for t in trials:
        writer.writerow([t["trial_id"], t["status"], t["val_accuracy"], t.get("train_accuracy"),
                         *(t["hyperparameters"].get(k) for k in keys)])
    atomic.write_text(run_dir / "trials.csv", buf.getvalue())

    done = [t for t in trials if t["val_accuracy"] is not None]
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(done) + 2), 4.5))
    accs = [100 * t["val_accuracy"] for t in done]
    best = int(np.argmax(accs)) if accs else -1
    bars = ax.bar(range(len(done)), accs, color=["tab:green" if i == best else "tab:blue" for i in range(len(done))])
    ax.set_xticks(range(len(done)))
    ax.set_xticklabels(
        ["\n".join(f"{k[:6]}={t['hyperparameters'][k]}" for k in keys) for t in done], fontsize=6
    )
    ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_ylim(max(0, min(accs, default=0) - 2), 100)
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(f"Validation accuracy per trial ({len(done)} trials, best in green)")
    save_figure(fig, path=run_dir / "trials.png")


def write_report(run_dir: Path, model, x_test, y_test, history: dict, info: dict) -> dict:
    """Evaluate on the test images once and write every report file; returns metrics.json's content."""
    probs = model.predict(x_test, batch_size=512, verbose=0)
    y_pred = probs.argmax(axis=1)
    loss = float(-np.mean(np.log(np.clip(probs[np.arange(len(y_test)), y_test], 1e-12, 1))))
    report, text = per_digit(y_test, y_pred)
    cm = confusion_matrix(y_test, y_pred, labels=list(range(10)))
    metrics = {
        "test_accuracy": float(np.mean(y_pred == y_test)),
        "test_loss": loss,
        "test_images": int(len(y_test)),
        "parameters": int(model.count_params()),
        "per_digit": {d: {k: report[d][k] for k in ("precision", "recall", "f1-score", "support")} for d in DIGITS},
        "confusion_matrix": cm.tolist(),
        "history": {k: [float(v) for v in vals] for k, vals in history.items()},
        **info,
    }
    atomic.write_text(run_dir / "classification_report.txt", text)
    plot_confusion(cm, run_dir / "confusion_matrix.png")
    plot_curves(history, run_dir / "curves.png")
    plot_predictions(x_test, y_test, y_pred, run_dir / "predictions.png")
    atomic.write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2))
    return metrics
