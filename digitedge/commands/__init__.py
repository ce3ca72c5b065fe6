"""The CLI's commands, one module per part (shared flags: options.py); heavy imports stay in the bodies."""

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
        except ModuleNotFoundError as e:  # a core or edge install running a command of another extra
            typer.echo(f"error: {missing_extra(e.name or '')}", err=True)
        except OSError as e:
            where = f"{e.filename}: " if getattr(e, "filename", None) else ""
            typer.echo(f"error: {where}{e.strerror or e}", err=True)
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        raise typer.Exit(1)

    return wrapper


# Top-level modules -> the extra that brings them (pyproject.toml).
EXTRAS = {"tensorflow": "train", "keras": "train", "keras_tuner": "train", "sklearn": "train",
          "matplotlib": "train", "cv2": "edge", "PIL": "edge", "ai_edge_litert": "edge",
          "tflite_runtime": "edge-legacy", "starlette": "web", "uvicorn": "web", "multipart": "web"}


def missing_extra(module: str) -> str:
    top = module.split(".")[0]
    extra = EXTRAS.get(top)
    if extra is None:
        return f"No module named {module!r}"
    return f"this command needs the {extra!r} extra ({top} is not installed): pip install \"digitedge[{extra}]\""


def echo_warnings(warnings: list[str]) -> None:
    """Warnings a command carries on with (a model without metadata...): one `warning:` line each on stderr."""
    for w in warnings:
        typer.echo(f"warning: {w}", err=True)
