"""Read a finished run's metrics and show them as one table (no TensorFlow needed)."""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table

from digitedge.errors import DigitedgeError

MARKER = "digitedge-run.json"


def load_metrics(run_dir: Path) -> dict:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DigitedgeError(f"{run_dir}: no such folder")
    path = run_dir / "metrics.json"
    if not (run_dir / MARKER).exists() or not path.exists():
        raise DigitedgeError(f"{run_dir}: not a finished digitedge run folder (no {MARKER} or metrics.json)")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DigitedgeError(f"{path}: unreadable ({e})") from None


def summary_table(metrics: dict, run_dir: Path) -> Table:
    table = Table(title=f"{metrics.get('kind', 'run')} {run_dir}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("test accuracy", f"{100 * metrics['test_accuracy']:.2f}% on {metrics['test_images']} images")
    table.add_row("test loss", f"{metrics['test_loss']:.4f}")
    table.add_row("parameters", f"{metrics['parameters']:,}")
    table.add_row("hyperparameters", ", ".join(f"{k}={v}" for k, v in metrics["hyperparameters"].items()))
    f1 = metrics["per_digit"]
    table.add_row("F1 per digit", "  ".join(f"{d}:{100 * f1[d]['f1-score']:.1f}" for d in sorted(f1)))
    if "chosen_trial" in metrics:
        c = metrics["chosen_trial"]
        table.add_row("search", f"{len(metrics['trials'])} trials ({metrics['algorithm']}); chose trial "
                      f"{c['trial_id']} (val {100 * c['val_accuracy']:.2f}%, {c['tied_trials']} tied)")
    table.add_row("epochs", str(len(metrics["history"]["loss"])))
    table.add_row("wall time", f"{metrics['wall_time_s']:.0f} s")
    table.add_row("data", f"SHA-256 {metrics['data_sha256'][:12]}, seed {metrics['seed']}")
    table.add_row("files", "model.keras metrics.json classification_report.txt confusion_matrix.png curves.png "
                  "predictions.png" + (" trials.csv trials.png" if "trials" in metrics else ""))
    return table
