"""The CLI's commands, one module per part; heavy imports stay inside the command bodies."""

from __future__ import annotations

import functools

import typer

from digitedge.errors import DigitedgeError


def one_line_errors(command):
    """Turn expected failures into one `error: ...` line on stderr and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except DigitedgeError as e:
            typer.echo(f"error: {e}", err=True)
        except OSError as e:
            where = f"{e.filename}: " if getattr(e, "filename", None) else ""
            typer.echo(f"error: {where}{e.strerror or e}", err=True)
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        raise typer.Exit(1)

    return wrapper
