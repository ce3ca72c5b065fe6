"""`digitedge data ...` through the CLI: results on stdout, a failure one `error:` line, exit 1."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cli_helpers import assert_one_error
from typer.testing import CliRunner

import digitedge
import digitedge.fetch
from digitedge import data
from digitedge.cli import app
from digitedge.net import free_port

# TensorFlow-free: runs in the edge-only environments too. Never $DIGITEDGE_DATA or the user's cache.
pytestmark = [pytest.mark.edge, pytest.mark.usefixtures("isolated_env")]

runner = CliRunner()


def run(*args: str, ok: bool = True):
    result = runner.invoke(app, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, result.output
        assert result.exception is None
    return result


def test_version():
    assert run("--version").stdout == f"digitedge {digitedge.__version__}\n"


def test_help():
    assert "data" in run("--help").stdout
    out = run("data", "--help").stdout
    for command in ("fetch", "verify", "info"):
        assert command in out


def test_verify_real_files(mnist_dir):
    out = run("data", "verify", "--data-dir", mnist_dir).stdout
    assert out.startswith(f"OK {mnist_dir}: 60000 train + 10000 test images, SHA-256 verified")
    assert out.count("\n") == 1


def test_verify_reads_digitedge_data(mnist_dir, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(mnist_dir))
    assert run("data", "verify").stdout.startswith(f"OK {mnist_dir}:")


def test_info_prints_the_class_table(mnist_dir):
    out = run("data", "info", "--data-dir", mnist_dir).stdout
    for count in ("5923", "6742", "60000", "980", "1135", "10000"):  # zeros, ones, all
        assert count in out
    assert "(60000, 28, 28)" in out.replace("\n", "")


def test_broken_copy_is_one_error_line(broken_copy):
    folder, path, message = broken_copy
    result = run("data", "verify", "--data-dir", folder, ok=False)
    assert_one_error(result, message)
    assert str(path) in result.stderr


def test_info_on_a_broken_copy(broken_copy):
    folder, _, message = broken_copy
    assert_one_error(run("data", "info", "--data-dir", folder, ok=False), message)


def test_missing_directory(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    result = run("data", "verify", "--data-dir", missing, ok=False)
    assert_one_error(result, f"{missing}: data directory not found (from --data-dir)")
    monkeypatch.setenv(data.ENV_VAR, str(missing))
    result = run("data", "info", ok=False)
    assert_one_error(result, f"{missing}: data directory not found (from DIGITEDGE_DATA)")


def test_fetch_keeps_a_verified_copy(mnist_copy, monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("fetch downloaded although a verified copy was there")

    monkeypatch.setattr(digitedge.fetch, "fetch", no_download)
    dest = mnist_copy("dest")
    assert run("data", "fetch", "--dest", dest).stdout == f"MNIST already in {dest} (verified)\n"


def test_fetch_failure_lists_the_sources(mnist_copy, monkeypatch):
    dest = mnist_copy("dest")
    (dest / "t10k-labels-idx1-ubyte.gz").write_bytes(b"junk")  # a bad copy: fetch over it
    url = f"http://127.0.0.1:{free_port()}/"  # a port where nothing listens
    dead = digitedge.fetch.Source("dead host", "idx", url)
    monkeypatch.setattr(digitedge.fetch, "default_sources", lambda: [dead])
    before = sorted(p.name for p in dest.iterdir())
    result = run("data", "fetch", "--dest", dest, ok=False)
    assert_one_error(
        result,
        "could not fetch MNIST from any source:\n"
        f"  dead host ({url}): unreachable ([Errno 111] Connection refused)",
    )
    assert sorted(p.name for p in dest.iterdir()) == before
    assert not list(dest.parent.glob(".partial-*"))


def test_cli_modules_do_not_import_tensorflow():
    code = (
        "import digitedge.data, digitedge.edge_runtime, digitedge.fetch, digitedge.cli\n"
        "import sys\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, "
        "sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))[:5]"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_samples_writes_photos_and_a_clip_the_runtime_reads(mnist_dir, tmp_path):
    from digitedge.edge_runtime.recognizer import Recognizer

    out = tmp_path / "samples"
    result = runner.invoke(app, ["data", "samples", "--out", str(out), "--count", "3", "--data-dir", str(mnist_dir)])
    assert result.exit_code == 0, result.output
    photos = sorted(out.glob("number*.jpg"))
    assert len(photos) == 3 and (out / "clip.mp4").stat().st_size > 0
    reader = Recognizer()
    for photo in photos:  # the file name carries the number written in it
        # the digits read; whether one is marked unsure ('?') is the calibration's business (test_unsure)
        assert "".join(str(d.digit) for d in reader.read(photo).digits) == photo.stem.split("_")[1]
