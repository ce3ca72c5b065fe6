"""`digitedge bench`: latency, throughput, accuracy and memory of the models, side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from digitedge.commands import one_line_errors
from digitedge.commands.options import (
    DataDir,
    InputRange,
    Invert,
    Personal,
    default_out,
    override,
    shipped_or_path,
)
from digitedge.errors import DigitedgeError

# Unknown options reach the command (ctx.args) so it can reject them in one line, not click's box.
CONTEXT_SETTINGS = {"ignore_unknown_options": True, "allow_extra_args": True}


def reject_extra_args(ctx: typer.Context) -> None:
    if not ctx.args:
        return
    import difflib

    known = [o for p in ctx.command.params for o in p.opts + p.secondary_opts if o.startswith("--")]
    first = ctx.args[0]
    if not first.startswith("-"):
        raise DigitedgeError(f"unexpected argument {first!r} (models go after --model; see digitedge bench --help)")
    close = difflib.get_close_matches(first.split("=", 1)[0], known, n=1, cutoff=0.75)
    hint = f" (did you mean {close[0]}?)" if close else " (see digitedge bench --help)"
    raise DigitedgeError(f"unknown option {first}{hint}")


def split_list(values: Optional[list[str]]) -> Optional[list[str]]:
    """Repeatable and/or comma-separated: --backend litert --backend a,b -> [litert, a, b]."""
    if not values:
        return None
    return [v.strip() for text in values for v in text.split(",") if v.strip()]


def parse_threads(text: Optional[str]) -> Optional[list[int]]:
    if text is None:
        return None
    try:
        threads = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise DigitedgeError(f"--threads {text!r}: expected comma-separated numbers, e.g. 1,2,4") from None
    if not threads or threads[0] < 1:
        raise DigitedgeError(f"--threads {text!r}: thread counts must be at least 1")
    return threads


def model_paths(values: Optional[list[str]]) -> Optional[list[Path]]:
    """Paths as given; float32 and int8 are short for the shipped models."""
    return shipped_or_path(split_list(values)) if values else None


@one_line_errors
def bench(
    ctx: typer.Context,
    model: Optional[list[str]] = typer.Option(
        None, "--model", "-m", help="A .tflite or .keras to measure; repeatable. float32 and int8 name the shipped "
        "models. Default: the shipped float32 and int8, plus models/digits.keras when TensorFlow is installed."),
    backend: Optional[list[str]] = typer.Option(
        None, "--backend", "-b", help="TFLite interpreter(s): litert, tflite-runtime; repeatable or comma list. "
        "Default: every installed one."),
    threads: Optional[str] = typer.Option(
        None, "--threads", "-t", help="Thread counts, e.g. 1,2,4. Default: 1 and the number of usable cores."),
    warmup: int = typer.Option(20, help="Untimed calls before timing."),
    runs: int = typer.Option(500, help="Timed calls of invoke and of predict per configuration."),
    keras_runs: int = typer.Option(50, help="Timed calls for Keras models (each ~1000x slower)."),
    images: int = typer.Option(10_000, help="MNIST test images for accuracy (0: skip accuracy)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Results folder (default: runs/bench-<time>)."),
    pi: bool = typer.Option(False, "--pi", help="Raspberry Pi-like profile: one CPU core, one thread."),
    memory: bool = typer.Option(True, "--memory/--no-memory", help="Measure peak memory in child processes."),
    data_dir: DataDir = None,
    compare: Optional[tuple[Path, Path]] = typer.Option(
        None, "--compare", help="Show two results.json side by side instead of measuring: --compare A.json B.json."),
    input_range: InputRange = None,
    invert: Invert = None,
    personal: Personal = None,
) -> None:
    """Measure every model x interpreter x thread count: size, load, latency, throughput, accuracy, memory."""
    import sys

    from rich.console import Console

    reject_extra_args(ctx)

    console = Console() if sys.stdout.isatty() else Console(width=200)  # a log file gets whole rows
    if compare:
        show_comparison(console, *compare)
        return

    from digitedge.benchmarks import report
    from digitedge.benchmarks.bench import BenchConfig, run

    config = BenchConfig(warmup=warmup, runs=runs, keras_runs=keras_runs, images=images, pi=pi, memory=memory,
                         data_dir=data_dir, override=override(input_range, invert), personal=personal)
    if model:
        config.models = model_paths(model)
    if threads is not None:
        config.threads = parse_threads(threads)
    config.backends = split_list(backend)
    out = out or default_out("bench")

    results = run(config, log=lambda msg: console.print(f"[dim]{msg}[/dim]"))
    notes = report.write_all(results, out)
    console.print(report.console_table(results))
    for line in report.goals_lines(results):
        console.print(line, highlight=False)
    for note in notes:
        console.print(f"note: {note}", highlight=False)
    console.print(f"results: {out}/report.md, results.json, results.csv", highlight=False)
    if not any(r["status"] == "ok" for r in results["rows"]):
        raise DigitedgeError("every configuration failed (see the table)")


def show_comparison(console, a: Path, b: Path) -> None:
    from digitedge.benchmarks import compare

    ra, rb = compare.load_results(a), compare.load_results(b)
    console.print(compare.compare_header(ra, f"A {a}"), highlight=False)
    console.print(compare.compare_header(rb, f"B {b}"), highlight=False)
    console.print(compare.compare_table(ra, rb, str(a), str(b)))
