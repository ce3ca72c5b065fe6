"""strict_skips.py: under DIGITEDGE_STRICT=1 a skip is a failure unless its reason is allowed.

Each test runs a small pytest session of its own (pytester) with the plugin loaded.
"""

from __future__ import annotations

import pytest
from strict_skips import ABSENT_VAR, STRICT_VAR

pytestmark = pytest.mark.edge  # pytest only: runs in every environment

SKIPS = """
import pytest

def test_passes():
    pass

def test_needs_data():
    pytest.skip("no MNIST IDX files in /nowhere (run `digitedge data fetch`, or set DIGITEDGE_DATA)")

def test_no_browser():
    pytest.skip("no Chromium: apt-get install chromium (or `make browser`, as root)")

@pytest.mark.skipif(True, reason="needs the web extra: pip install 'digitedge[web]'")
def test_web():
    pass

@pytest.mark.xfail(reason="an expected failure is not a skip")
def test_xfail():
    assert False
"""


def run(pytester, monkeypatch, strict: bool, absent: str = "", source: str = SKIPS):
    if strict:
        monkeypatch.setenv(STRICT_VAR, "1")
    else:
        monkeypatch.delenv(STRICT_VAR, raising=False)
    monkeypatch.setenv(ABSENT_VAR, absent)
    pytester.makepyfile(test_tiny=source)
    return pytester.runpytest("-p", "strict_skips", "-q", "-p", "no:cacheprovider")


def test_without_strict_a_skip_stays_a_skip(pytester, monkeypatch):
    run(pytester, monkeypatch, strict=False).assert_outcomes(passed=1, skipped=3, xfailed=1)


def test_strict_fails_the_skips_not_allowed(pytester, monkeypatch):
    result = run(pytester, monkeypatch, strict=True)
    # the skip in the test body fails it; the skipif mark, seen at setup, is an error
    result.assert_outcomes(passed=1, skipped=1, failed=1, errors=1, xfailed=1)
    result.stdout.fnmatch_lines(["*no MNIST IDX files in /nowhere*", f"*{STRICT_VAR}=1: a skip for this reason*"])
    assert result.ret != 0


def test_strict_allows_the_extras_the_environment_goes_without(pytester, monkeypatch):
    result = run(pytester, monkeypatch, strict=True, absent="web, edge-legacy")
    result.assert_outcomes(passed=1, skipped=2, failed=1, xfailed=1)


def test_strict_fails_a_module_skipped_at_collection(pytester, monkeypatch):
    source = "import pytest\npytest.importorskip('no_such_module')\n\ndef test_x():\n    pass\n"
    result = run(pytester, monkeypatch, strict=True, source=source)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*could not import 'no_such_module'*"])


def test_an_unknown_extra_is_a_usage_error(pytester, monkeypatch):
    result = run(pytester, monkeypatch, strict=True, absent="gpu")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown extra gpu*"])
