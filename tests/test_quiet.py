"""Commands that load TensorFlow print no TensorFlow, absl, oneDNN or CUDA log lines and no Keras
UserWarning, and a real error still prints its one `error:` line (digitedge/quiet.py).

Run as a user runs them, `python -m digitedge ...` in a fresh process, since TensorFlow's start-up
lines come from C++ on file descriptor 2, out of reach of CliRunner.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("tensorflow")

NOISE = re.compile(r"^[IWEF]\d{4} |oneDNN|cuda|absl|UserWarning|WARNING:tensorflow", re.IGNORECASE | re.MULTILINE)


def digitedge(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONWARNINGS")}
    return subprocess.run([sys.executable, "-m", "digitedge", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_a_bad_model_prints_its_error_line_and_nothing_else(tmp_path, mnist_dir):
    bad = tmp_path / "bad.keras"
    bad.write_text("not a model\n")  # TensorFlow loads before the archive is read
    done = digitedge("evaluate", bad, "--quick", "--images", 20, "--no-sweeps", "--out", tmp_path / "out",
                     "--data-dir", mnist_dir, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"error: {bad}: "), line
    assert not NOISE.search(done.stdout), done.stdout


@pytest.mark.slow
def test_training_prints_no_log_lines_and_no_keras_warnings(tmp_path, mnist_dir):
    done = digitedge("train", "--preset", "quick", "--epochs", 1, "--train-subset", 600, "--val-size", 200,
                     "--test-subset", 200, "--out", tmp_path / "run", "--data-dir", mnist_dir, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not NOISE.search(done.stderr), done.stderr
    assert not NOISE.search(done.stdout), done.stdout
    assert (tmp_path / "run" / "model.keras").is_file()
