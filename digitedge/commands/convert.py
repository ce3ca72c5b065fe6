"""`digitedge convert`: a trained Keras model -> verified, self-describing .tflite files."""

from pathlib import Path
from typing import Optional

import typer

from digitedge.commands import one_line_errors
from digitedge.commands.options import DataDir, InputRange, Invert, override

IO_HELP = "int8 model's input and output type: uint8 (the raw 0-255 pixel), int8 or float32."


@one_line_errors
def convert(
    model: Path = typer.Argument(..., help="The trained model, e.g. runs/train-.../model.keras (with --describe: "
                                 "a .tflite made elsewhere)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the .tflite files, report."),
    formats: Optional[list[str]] = typer.Option(
        None, "--format", "-f",
        help="float32, float16, dynamic, int8 (repeat or comma-separate; default float32,int8)."),
    io: str = typer.Option("uint8", "--io", help=IO_HELP),
    calibration_samples: int = typer.Option(
        500, help="Training images for int8 calibration, balanced across the ten digits."),
    verify_images: int = typer.Option(1000, help="Test images each converted model is checked on."),
    full: bool = typer.Option(False, "--full", help="Verify on all 10,000 test images."),
    max_int8_drop: float = typer.Option(
        0.3, help="Refuse the conversion when int8 loses more accuracy (percentage points)."),
    data_dir: DataDir = None,
    seed: int = typer.Option(0, help="Seed for the calibration and verification samples."),
    name: Optional[str] = typer.Option(
        None, help="File names: NAME_<format>.tflite (default: the model file's stem)."),
    describe: bool = typer.Option(
        False, "--describe", help="MODEL is a .tflite made elsewhere: write a copy into --out carrying our metadata "
        "(labels, its input convention, detected here once or given). No TensorFlow needed."),
    input_range: InputRange = None,
    invert: Invert = None,
) -> None:
    """Convert a Keras model to TFLite, verify each file against Keras, then write it atomically."""
    if describe:
        from digitedge.convert.describe import describe as describe_model

        done = describe_model(model, out, override(input_range, invert))
        typer.echo(f"wrote {done.path}: input {done.how} as {done.convention} ({done.reading})")
        return
    from digitedge.convert.pipeline import Settings, check_inputs, run

    settings = Settings(
        source=model, out=out, formats=formats or ["float32,int8"], io=io,
        calibration_samples=calibration_samples, verify_images=10000 if full else verify_images,
        max_int8_drop=max_int8_drop, seed=seed, name=name,
    )
    settings = check_inputs(settings)  # cheap checks first: no TensorFlow, nothing written
    from digitedge import data

    mnist = data.load_or_fetch(data_dir)
    from rich.console import Console

    from digitedge.convert.report import results_table

    console = Console()
    result = run(settings, mnist, progress=lambda text: console.print(text, style="dim", markup=False))
    console.print(results_table(result))
    result.raise_if_refused()
    console.print(f"wrote {', '.join(str(p) for p in result.written)}", markup=False)
