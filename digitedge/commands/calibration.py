"""`digitedge calibration`: reliability, ECE and accuracy vs coverage; the default --min-confidence."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from digitedge.commands import missing_extra, one_line_errors
from digitedge.commands.options import DataDir, default_out, shipped_or_path


@one_line_errors
def calibration(
    models: Optional[list[str]] = typer.Argument(
        None, help="Models (.tflite); float32 and int8 name the shipped ones (default: both)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Results folder (default: runs/calibration-<time>)."),
    quick: bool = typer.Option(False, "--quick", help="1,000 test images instead of 10,000: an indication only."),
    seed: int = typer.Option(0, help="Seed of the corruptions (and of the test subset)."),
    threads: Optional[int] = typer.Option(None, help="Interpreter threads (default: the runtime's)."),
    data_dir: DataDir = None,
) -> None:
    """How well each digit's confidence is calibrated, and the --min-confidence that marks digits unsure."""
    import importlib.util

    from digitedge.benchmarks.calibration import CalibrationConfig, run
    from digitedge.errors import DigitedgeError

    if importlib.util.find_spec("matplotlib") is None:  # the charts: said before minutes of measuring
        raise DigitedgeError(missing_extra("matplotlib"))
    out = out or default_out("calibration")
    cfg = CalibrationConfig(models=shipped_or_path(models or ["int8", "float32"]), out=out, quick=quick,
                            seed=seed, threads=threads, data_dir=data_dir)
    results = run(cfg)
    chosen = results["chosen"]
    for model, per in results["results"].items():
        for name, s in per.items():
            typer.echo(f"{model} {name}: accuracy {100 * s['accuracy']:.2f}%, ECE {100 * s['ece']:.2f}%")
    met = "met" if chosen["targets_met"] else "NOT met"
    typer.echo(f"default --min-confidence: {chosen['threshold']:g} (targets {met}); results: {out}/calibration.md")
