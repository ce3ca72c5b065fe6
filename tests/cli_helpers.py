"""How every command must fail on bad input: one `error:` line on stderr, exit 1, no traceback."""

from __future__ import annotations


def assert_one_error(result, message: str, quiet_stdout: bool = True) -> None:
    """A clean exit 1 (not a crash) and exactly `error: message` on stderr; with quiet_stdout,
    nothing on stdout either (a command that reports progress first passes False)."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    if quiet_stdout:
        assert result.stdout == ""
    assert result.stderr == f"error: {message}\n", result.stderr


def run(*args):
    """`digitedge ARGS` in-process; wide columns, so that rich tables do not wrap what tests read."""
    from typer.testing import CliRunner

    from digitedge.cli import app

    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "250"})


def errors(result) -> list[str]:
    """stderr without `warning:` lines (the no-metadata warning temporary models raise)."""
    return [ln for ln in result.stderr.splitlines() if not ln.startswith("warning: ")]
