"""The C++ libraries (TFLite, OpenCV, FFmpeg) write to file descriptor 2 directly; this
catches those lines so the CLI can keep its one-clear-line errors."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile


@contextlib.contextmanager
def captured_stderr(keep=lambda line: True):
    """Collect what native code writes to stderr inside the block; re-emit the lines `keep`
    accepts. Yields the list the captured lines are put in (filled when the block ends)."""
    lines: list[str] = []
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr replaced (pytest capture, a GUI)
        yield lines
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), fd)
        try:
            yield lines
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            sink.seek(0)
            lines += sink.read().decode(errors="replace").splitlines()
            kept = [ln for ln in lines if keep(ln)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
