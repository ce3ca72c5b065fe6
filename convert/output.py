"""Where the files go: the folder is checked before any work, each file written atomically.

A model is written beside its target, read back and checked (same bytes, loads in
the interpreter), and only then renamed over the target: an interrupted or failed
write leaves the previous file as it was.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from digitedge import atomic
from digitedge.convert.errors import ConvertError, OutputError


def check_out_dir(out: Path) -> None:
    """Refuse now, before any work, a folder that cannot be written; create nothing."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder")
    existing = out
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{out}: cannot create the folder ({existing} is not a folder)")
    try:
        fd, probe = tempfile.mkstemp(prefix=".digitedge-probe-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        where = "" if existing == out else f" (in {existing})"
        raise OutputError(f"{out}: cannot write here{where}: {e.strerror or e}") from None


def make_dir(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{out}: cannot create the folder ({e.strerror or e})") from None


def write_model(target: Path, data: bytes) -> None:
    """Write, verify, rename: target holds exactly data, or is unchanged."""
    from digitedge.convert.verify import interpreter_for

    digest = hashlib.sha256(data).digest()
    try:
        with atomic.atomic_path(target) as tmp:
            tmp.write_bytes(data)
            tmp.chmod(0o666 & ~current_umask())  # mkstemp makes 0600; a model is for everyone to read
            if hashlib.sha256(tmp.read_bytes()).digest() != digest:
                raise ConvertError(f"{target}: the written file differs from the verified model")
            interpreter_for(tmp.read_bytes())
    except OSError as e:
        raise OutputError(f"{target}: cannot write ({e.strerror or e})") from None


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(target: Path, text: str) -> None:
    try:
        with atomic.atomic_path(target) as tmp:
            tmp.write_text(text)
            tmp.chmod(0o666 & ~current_umask())
    except OSError as e:
        raise OutputError(f"{target}: cannot write ({e.strerror or e})") from None
