"""setuptools' own PEP 517 backend, less one notice that every editable install would print.

Our parts live at the top level (train/, convert/, edge_runtime/, benchmarks/) and install as
digitedge.train and so on (package-dir), so setuptools makes an editable install with a meta path
finder, and then always warns "Editable installation ... folders in your working directory with the
same name as your package may take precedence" (setuptools/command/editable_wheel.py,
InformationOnly). That case is handled (digitedge/__init__.py extends its path; tests/test_install.py),
so the notice would only be noise on every `pip install -e .`. Every other warning still shows.
Tested with setuptools 77-84.
"""

from __future__ import annotations

import warnings

from setuptools.build_meta import *  # noqa: F403 - the backend's hooks, unchanged
from setuptools.build_meta import __all__  # noqa: F401

warnings.filterwarnings("ignore", message="Editable installation")
