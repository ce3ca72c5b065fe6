"""`digitedge photos`: the photo suite (tight crops, small, faint, broken, blurred, clutter) read per kind."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from digitedge.commands import echo_warnings, one_line_errors
from digitedge.commands.options import DataDir, Model, default_out
from digitedge.errors import DigitedgeError


@one_line_errors
def photos(
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Results folder (default: runs/photos-<time>)."),
    per_kind: int = typer.Option(100, "--per-kind", help="Photos of each kind."),
    first: int = typer.Option(0, "--first", help="The first photo's number in each kind (100: a second hundred)."),
    model: Model = None,
    data_dir: DataDir = None,
) -> None:
    """Read the photo suite (MNIST test digits photographed as users do) and record the results per kind."""
    from rich.console import Console

    from digitedge.benchmarks.photo_suite import SuiteConfig, run

    if per_kind < 1:
        raise DigitedgeError(f"--per-kind {per_kind}: expected at least 1 photo per kind")
    if first < 0:
        raise DigitedgeError(f"--first {first}: photo numbers start at 0")
    if model is not None and not model.is_file():
        raise DigitedgeError(f"{model}: model file not found")
    out = out or default_out("photos")
    console = Console()

    def show(row: dict) -> None:
        console.print(f"{row['kind']:<16} {100 * row['right_rate']:5.1f}% right  "
                      f"{row['no_digit_found']:3d} no digit  {row['misread']:3d} misread  {row['median_ms']:.1f} ms")

    results = run(SuiteConfig(out=out, per_kind=per_kind, first=first, model=model, data_dir=data_dir), progress=show)
    echo_warnings(results["warnings"])
    console.print(f"results: {out}/photos.md (json, examples.png)")
