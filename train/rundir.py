"""The run folder: ours or refused. No TensorFlow, so the `tune --workers` supervisor can check it too."""

from __future__ import annotations

import json
from pathlib import Path

from digitedge import __version__, atomic
from digitedge.errors import DigitedgeError
from digitedge.train.summary import MARKER


def prepare_run_dir(run_dir: Path, kind: str) -> Path:
    """Create the run folder, or reuse one of ours; refuse a folder some other tool made."""
    run_dir = Path(run_dir)
    marker = run_dir / MARKER
    if run_dir.exists() and not run_dir.is_dir():
        raise DigitedgeError(f"{run_dir}: exists and is not a folder")
    if run_dir.is_dir() and any(run_dir.iterdir()) and not marker.exists():
        raise DigitedgeError(f"{run_dir}: not empty and not a digitedge run folder; choose another --out")
    if marker.exists():
        made_by = json.loads(marker.read_text()).get("kind")
        if made_by != kind:
            raise DigitedgeError(f"{run_dir}: a `{made_by}` run folder; `{kind}` needs its own --out")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic.write_text(marker, json.dumps({"tool": "digitedge", "kind": kind, "version": __version__}))
    except OSError as e:
        raise DigitedgeError(f"{run_dir}: cannot write the run folder ({e.strerror or e})") from None
    return run_dir
