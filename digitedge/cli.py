"""The `digitedge` program: one typer app, a sub-app or command per part.

Only typer is imported at start-up, so `digitedge --help` is instant and the
device never loads TensorFlow; each command imports what it needs when it runs.
"""

from __future__ import annotations

from typing import Optional

import typer

from digitedge import __version__
from digitedge.commands import (
    bench,
    calibration,
    convert,
    data,
    edge,
    inspect,
    personalize,
    photos,
    robust,
    serve,
    train,
)
from digitedge.quiet import quiet_tensorflow

app = typer.Typer(
    name="digitedge",
    help="Handwritten digits from training to a Raspberry Pi.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(data.app, name="data")
app.command()(train.train)
app.command()(train.tune)
app.command()(train.report)
app.command()(train.publish)
app.command()(convert.convert)
app.command("predict")(edge.predict)
app.command()(serve.serve)
app.command("webcam")(edge.webcam)
app.command(context_settings=bench.CONTEXT_SETTINGS)(bench.bench)
app.command()(robust.evaluate)
app.command()(robust.baselines)
app.command()(calibration.calibration)
app.command()(photos.photos)
app.command()(personalize.personalize)
app.command()(inspect.inspect)


def show_version(value: bool) -> None:
    if value:
        typer.echo(f"digitedge {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Optional[bool] = typer.Option(
        None, "--version", callback=show_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Handwritten digits from training to a Raspberry Pi."""


def main() -> None:
    quiet_tensorflow()  # before any command loads TensorFlow (the workers of `tune --workers` run main() too)
    app()


if __name__ == "__main__":
    main()
