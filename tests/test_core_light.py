"""The core install (`pip install digitedge`, no extras) is numpy, typer and rich.

A fresh interpreter imports the CLI, the data layer and every command module, as `digitedge --help`
and `digitedge data verify` do; whatever else it loaded must be the standard library or a core
dependency (or one of theirs, read from the installed metadata). OpenCV, Pillow, TensorFlow and
Keras load only inside the commands that need them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata

import pytest

pytestmark = pytest.mark.edge  # no TensorFlow needed: every environment checks its core

CORE_DEPENDENCIES = ("numpy", "typer", "rich")  # pyproject.toml's [project] dependencies

PROBE = """
import importlib, json, pkgutil, sys
before = set(sys.modules)
import digitedge.commands
names = ["digitedge", "digitedge.cli", "digitedge.data", "digitedge.quiet"]
names += ["digitedge.commands." + m.name for m in pkgutil.iter_modules(digitedge.commands.__path__)]
for name in names:
    importlib.import_module(name)
def where(name):
    module = sys.modules.get(name)
    return getattr(module, "__file__", None) or " ".join(getattr(module, "__path__", []))
loaded = {m.partition(".")[0] for m in set(sys.modules) - before}
print(json.dumps(sorted(t for t in loaded if "-packages" in where(t))))  # site- or dist-packages
"""


def dependency_closure(names) -> set[str]:
    """The distributions `names` need, theirs included (extras left out), normalized."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:  # a requirement whose marker excludes this Python
            continue
        todo += [re.match(r"[A-Za-z0-9._-]+", r)[0] for r in requires if "extra ==" not in r]
    return seen


def top_level_modules(distribution: str) -> set[str]:
    """The importable names a distribution installs (its files' first path parts)."""
    try:
        files = metadata.distribution(distribution).files or []
    except metadata.PackageNotFoundError:
        return set()
    tops = {f.parts[0].removesuffix(".py") for f in files if len(f.parts) > 1 or f.suffix == ".py"}
    return {t for t in tops if t.isidentifier() and not t.startswith("__")}


def test_core_modules_import_only_the_standard_library_and_the_core_dependencies():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout))
    allowed = set().union(*(top_level_modules(d) for d in dependency_closure(CORE_DEPENDENCIES)))
    assert not loaded - allowed, f"the core imports {sorted(loaded - allowed)} at start-up"
    assert not loaded & {"cv2", "PIL", "tensorflow", "keras"}


@pytest.mark.parametrize("module, args, extra", [
    ("cv2", ["predict", "photo.png"], "edge"),
    ("keras", ["train", "--preset", "quick"], "train"),
    ("matplotlib", ["calibration", "--quick"], "train"),  # said before minutes of measuring, not after
])
def test_a_command_whose_extra_is_missing_says_which_in_one_line(tmp_path, module, args, extra):
    """On a core install, `predict` (no OpenCV) or `train` (no Keras) names the extra to install."""
    probe = (f"import sys; sys.modules[{module!r}] = None\n"  # import of it now fails as if not installed
             "from digitedge.cli import main; sys.argv = ['digitedge', *sys.argv[1:]]; main()")
    result = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: this command needs the {extra!r} extra ({module} is not installed): "
        f'pip install "digitedge[{extra}]"']
