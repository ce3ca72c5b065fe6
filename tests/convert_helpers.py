"""What the convert tests share: the CLI runner, the one-line error check, the TensorFlow guard."""

from __future__ import annotations

import cli_helpers
import pytest
from typer.testing import CliRunner

from digitedge.cli import app

runner = CliRunner()


def assert_one_error(result, message: str) -> None:
    """convert may print its progress before failing: only stderr must be the one line."""
    cli_helpers.assert_one_error(result, message, quiet_stdout=False)


def needs_tensorflow():
    pytest.importorskip("tensorflow")


def convert(*args, ok: bool = True):
    result = runner.invoke(app, ["convert", *[str(a) for a in args]])
    if ok:
        assert result.exit_code == 0, result.output
        assert result.exception is None
    return result
