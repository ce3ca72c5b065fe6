"""The checkout's own digitedge/ folder does not hide an installed digitedge (issue #15, item 9).

Run from the repository root, Python puts the current folder first on sys.path, so `import
digitedge` finds the checkout's digitedge/, which holds none of the parts (they live in folders of
their own here: edge_runtime/, train/, ...). The test lays a non-editable install out in a
temporary site-packages, from pyproject.toml's package-dir as setuptools does, and imports the
parts from the repository root with `python -S`: no site-packages, so no editable install's
finder can help. Under a second; no build, no network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.edge  # standard library only: runs in every environment

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("edge_runtime", "train", "convert", "benchmarks")


def only_python(folder: str, names: list[str]) -> list[str]:
    """shutil.copytree's ignore: everything but Python files and the folders holding them."""
    return [n for n in names if n == "__pycache__" or not (n.endswith(".py") or (Path(folder) / n).is_dir())]


def lay_out_install(site: Path) -> None:
    """Each folder of pyproject.toml's package-dir copied where a wheel puts its package."""
    tomllib = pytest.importorskip("tomllib", reason="needs Python 3.11+ (tomllib) to read pyproject.toml")
    package_dir = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    for package, folder in sorted(package_dir.items()):  # digitedge first, then the parts inside it
        shutil.copytree(ROOT / folder, site / package.replace(".", "/"), ignore=only_python, dirs_exist_ok=True)


def test_an_installed_digitedge_imports_from_the_repository_root(tmp_path):
    site = tmp_path / "site-packages"
    lay_out_install(site)
    code = "import importlib\n" + "".join(
        f"print(importlib.import_module('digitedge.{part}').__file__)\n" for part in PARTS
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONSAFEPATH", "PYTHONHOME")}
    env["PYTHONPATH"] = str(site)
    done = subprocess.run([sys.executable, "-S", "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr  # without extend_path: No module named 'digitedge.edge_runtime'
    found = [Path(line) for line in done.stdout.splitlines()]
    assert found == [site / "digitedge" / part / "__init__.py" for part in PARTS]
