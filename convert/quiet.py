"""Silence TensorFlow and the TFLite converter: Python prints, warnings, C++ logs on fd 1 and 2."""

from __future__ import annotations

import contextlib
import io as _io
import os
import sys
import tempfile
import warnings


@contextlib.contextmanager
def quiet():
    """Swallow the chatter: Python prints, warnings, and C++ logs written to fd 1 and 2.

    Exceptions pass through untouched; they carry what a failure needs to say.
    """
    log = tempfile.TemporaryFile(mode="w+b")
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    text = _io.StringIO()
    try:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        log.close()
