"""Under `make test` and CI (DIGITEDGE_STRICT=1) a skip is a failure unless its reason is allowed.

A run that skipped every test needing MNIST or an extra looked green while testing a third of the
suite; strict mode makes it fail instead. Allowed are the skips that describe the machine or an
environment's design, never a gap in it; the README lists them. An environment names the extras
it goes without by design in DIGITEDGE_ABSENT_EXTRAS (the Makefile sets both variables).
Loaded by conftest.py; a plugin of its own so that its test can load it into a small pytest run.
"""

from __future__ import annotations

import os

import pytest

STRICT_VAR = "DIGITEDGE_STRICT"
ABSENT_VAR = "DIGITEDGE_ABSENT_EXTRAS"

# Found in the reason of a skip that is always allowed.
ALLOWED = (
    "no Chromium",  # the browser test, where Chromium is not installed and we are not root to install it
    "root without /proc/self/mem",  # no way to make a file unreadable to root
    "root without /sys",  # no folder unwritable to root
    "needs two interpreters installed",  # no environment has both: tflite-runtime needs numpy<2
    "both interpreters are installed here",
    "set DIGITEDGE_EDGE_ONLY=1",  # checks meant for the edge-only environments
    "set DIGITEDGE_DIGITS_FILE",  # the cross-environment comparison, run by `make test-edge`/`test-legacy`
    "the next environment compares",  # the first environment records the digits the next one compares
    "this OpenCV has a GUI",
    "needs Python 3.11+",  # tomllib, to read pyproject.toml
)
# What the skips for a missing extra say: allowed only where DIGITEDGE_ABSENT_EXTRAS names the extra.
EXTRA_REASONS = {
    "train": tuple(f"could not import '{m}'" for m in ("tensorflow", "keras", "matplotlib", "sklearn")),
    "web": ("needs the web extra",),
    "edge": ("litert not installed", "could not import 'ai_edge_litert"),
    "edge-legacy": ("tflite-runtime not installed",),
}


def absent_extras() -> list[str]:
    return [e.strip() for e in os.environ.get(ABSENT_VAR, "").split(",") if e.strip()]


def allowed(reason: str) -> bool:
    reasons = ALLOWED + tuple(r for extra in absent_extras() for r in EXTRA_REASONS[extra])
    return any(r in reason for r in reasons)


def enforce(report):
    """The report itself, turned from skipped into failed when strict mode does not allow the skip."""
    if not report.skipped or hasattr(report, "wasxfail") or os.environ.get(STRICT_VAR) != "1":
        return report
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if not allowed(reason):
        report.outcome = "failed"
        report.longrepr = f"{reason}\n{STRICT_VAR}=1: a skip for this reason is a failure (tests/strict_skips.py)"
    return report


def pytest_configure(config):
    unknown = sorted(set(absent_extras()) - set(EXTRA_REASONS))
    if unknown:
        raise pytest.UsageError(f"{ABSENT_VAR}: unknown extra {', '.join(unknown)} (known: {', '.join(EXTRA_REASONS)})")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    return enforce((yield))


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    return enforce((yield))
