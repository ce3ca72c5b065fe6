"""`digitedge evaluate` (clean MNIST and MNIST-C) and `digitedge baselines` (SVM, k-NN, random forest)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from digitedge.commands import one_line_errors
from digitedge.commands.options import DataDir, InputRange, Invert, default_out, override, shipped_or_path


@one_line_errors
def evaluate(
    models: list[str] = typer.Argument(
        ..., help="Models to evaluate: .tflite and/or .keras files; float32 and int8 name the shipped ones."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Results folder (default: runs/evaluate-<time>)."),
    quick: bool = typer.Option(False, "--quick", help="A subset: 1,000 test images, three levels per sweep."),
    images: int = typer.Option(0, help="Test images (0: all 10,000, or 1,000 with --quick)."),
    sweeps: bool = typer.Option(True, "--sweeps/--no-sweeps", help="Graded severity sweeps too."),
    seed: int = typer.Option(0, help="Seed of the corruptions (and of the test subset)."),
    threads: Optional[int] = typer.Option(None, help="Interpreter / TensorFlow threads (default: the runtime's)."),
    data_dir: DataDir = None,
    input_range: InputRange = None,
    invert: Invert = None,
) -> None:
    """Accuracy on clean MNIST and MNIST-C's 15 corruptions, plus graded sweeps (noise, blur, rotation, ...)."""
    from digitedge.benchmarks.robustness import EvalConfig
    from digitedge.benchmarks.robustness import evaluate as run

    out = out or default_out("evaluate")
    cfg = EvalConfig(models=shipped_or_path(models), out=out, images=images, quick=quick, sweeps=sweeps, seed=seed,
                     threads=threads, data_dir=data_dir, override=override(input_range, invert))
    results = run(cfg)
    print_evaluation(results, out)


def print_evaluation(results: dict, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"MNIST-C, {results['images']:,} test images")
    table.add_column("model")
    for col in ("clean", "mCE", "relative mCE", "worst corruption"):
        table.add_column(col, justify="right")
    for name, s in results["summary"].items():
        worst = results["accuracy"][name]["corruptions"][s["worst"]]
        rel = f"{s['relative_mce']:.1f}x" if s["relative_mce"] is not None else "-"
        table.add_row(name, f"{100 * s['clean_accuracy']:.2f}%", f"{100 * s['mce']:.2f}%", rel,
                      f"{s['worst']} {100 * worst:.1f}%")
    console = Console()
    console.print(table)
    for d in results["int8_minus_float"]:
        console.print(f"{d['int8']} − {d['float']}: clean {100 * d['clean']:+.2f} pp, mCE {100 * d['mce']:+.2f} pp")
    console.print(f"results: {out}/robustness.md (json, csv, png, examples.png)")


@one_line_errors
def baselines(
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Results folder (default: runs/baselines-<time>)."),
    quick: bool = typer.Option(False, "--quick", help="Small subsets: seconds, an indication only."),
    cnn: Optional[list[str]] = typer.Option(
        None, "--cnn", help="CNN models to list beside the baselines (.tflite/.keras; float32 and int8 name the "
        "shipped ones); repeatable. Default: the shipped float32 and int8."),
    svm_train: Optional[int] = typer.Option(None, help="Training images for the SVM (default 20,000; --quick 2,000)."),
    knn_train: Optional[int] = typer.Option(None, help="Training images for k-NN (default all 60,000)."),
    forest_train: Optional[int] = typer.Option(None, help="Training images for the random forest (default all)."),
    images: Optional[int] = typer.Option(None, help="Clean test images (default all 10,000)."),
    corruption_images: Optional[int] = typer.Option(
        None, help="Test images per corruption (default 1,000; 0: skip the corruptions)."),
    seed: int = typer.Option(0, help="Seed of the subsets, the models and the corruptions."),
    data_dir: DataDir = None,
) -> None:
    """Train SVM (RBF), k-NN and random forest on MNIST and compare them with the CNN: accuracy, time, size."""
    from digitedge.benchmarks.baselines import BaselineConfig, run

    out = out or default_out("baselines")
    given = {"svm_train": svm_train, "knn_train": knn_train, "forest_train": forest_train, "images": images,
             "corruption_images": corruption_images}
    cfg = BaselineConfig.preset(quick, seed=seed, data_dir=data_dir, out=out,
                                cnn=shipped_or_path(cnn) if cnn else None,
                                **{k: v for k, v in given.items() if v is not None})
    if cfg.cnn is None:
        from digitedge.benchmarks.bench import shipped_models

        cfg.cnn = shipped_models()
    results = run(cfg)
    print_baselines(results, out)


def print_baselines(results: dict, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from digitedge.benchmarks.common import MB

    table = Table(title=f"Classical baselines vs the CNN ({results['images']:,} test images)")
    for col in ("model", "features / training data", "accuracy", "mCE", "train time", "size", "latency"):
        table.add_column(col, justify="left" if col in ("model", "features / training data") else "right")
    for r in results["rows"]:
        mce = f"{100 * r['mce']:.2f}%" if r.get("mce") is not None else "-"
        train = f"{r['train_seconds']:.1f} s" if r.get("train_seconds") is not None else "-"
        table.add_row(r["name"], r["training"], f"{100 * r['accuracy']:.2f}%", mce, train,
                      f"{r['bytes'] / MB:.2f} MB", f"{r['latency_ms']:.2f} ms")
    Console().print(table)
    Console().print(f"results: {out}/baselines.md (json, csv)")

