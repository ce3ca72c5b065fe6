"""TensorFlow's chatter kept from the user, in one place.

`quiet_tensorflow()` is the program's switch, thrown once in `cli.main()` before any command
loads TensorFlow: C++ logs, start-up lines, absl and TensorFlow log records, Keras' UserWarnings.
`quiet()` silences one block completely (the TFLite converter's prints and logs).
Real errors are exceptions, untouched: the commands still print their `error:` line.
Standard library only: the core imports this.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import io
import logging
import os
import re
import sys
import tempfile
import warnings

LEVEL_VAR = "TF_CPP_MIN_LOG_LEVEL"  # TensorFlow's own: 0 all, 1 no INFO, 2 no WARNING, 3 no ERROR
SEVERITIES = "IWEF"
# A C++ log line: "I0000 00:00:1796039172.389679    5692 port.cc:153] oneDNN custom operations are on..."
LOG_LINE = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:[\d.]+ ")
ABSL_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"


def log_level() -> int:
    try:
        return min(3, max(0, int(os.environ.get(LEVEL_VAR, "0"))))
    except ValueError:
        return 0


def quiet_tensorflow() -> None:
    """Hide TensorFlow's logs and Keras' warnings in this process and in the workers it starts.

    Only a default: a user who sets TF_CPP_MIN_LOG_LEVEL chooses what shows (0: everything),
    and -W / PYTHONWARNINGS keep their say over warnings.
    """
    os.environ.setdefault(LEVEL_VAR, "3")
    level = log_level()
    if level == 0:
        return
    if not sys.warnoptions:
        # Advice to whoever wrote the training code, e.g. "`shuffle=True` was passed, but will be
        # ignored since the data `x` was provided as a tf.data.Dataset"; a user can do nothing with it.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"keras(_tuner)?\.")
    # TensorFlow's Python side logs through the standard logger "tensorflow" (retracing notes, ...).
    logging.getLogger("tensorflow").setLevel(python_level(level))
    if "tensorflow" not in sys.modules and not any(isinstance(f, QuietImport) for f in sys.meta_path):
        sys.meta_path.insert(0, QuietImport(level))


def python_level(level: int) -> int:
    """The logging level matching a TF_CPP_MIN_LOG_LEVEL; errors still show at 3."""
    return logging.WARNING if level == 1 else logging.ERROR


class QuietImport(importlib.abc.MetaPathFinder):
    """Imports `tensorflow` with file descriptor 2 filtered by severity, once.

    TensorFlow logs its start-up (oneDNN, CUDA drivers, twice) through absl before absl's logging
    is initialized, and there TF_CPP_MIN_LOG_LEVEL does not apply (abseil-cpp#1718, #1957): the
    lines are caught while the package's __init__ runs, and those below the level are dropped.
    """

    def __init__(self, level: int):
        self.level = level
        self.asking = False

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow" or self.asking:
            return None
        self.asking = True  # the other finders locate the real package
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self.asking = False
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        # Wrapped here, run only when TensorFlow is imported (a find_spec probe imports nothing).
        def exec_module(module):
            from digitedge.edge_runtime.nativelog import captured_stderr  # standard library only

            if self in sys.meta_path:
                sys.meta_path.remove(self)
            with captured_stderr(keep=self.keep):
                load(module)
            absl = sys.modules.get("absl.logging")  # loaded by TensorFlow; its records are log lines too
            if absl is not None:
                absl.set_verbosity(absl.WARNING if self.level == 1 else absl.ERROR)

        spec.loader.exec_module = exec_module
        return spec

    def keep(self, line: str) -> bool:
        if line == ABSL_NOTICE:
            return False
        match = LOG_LINE.match(line)
        return match is None or SEVERITIES.index(match[1]) >= self.level


@contextlib.contextmanager
def quiet():
    """Swallow the chatter: Python prints, warnings, and C++ logs written to fd 1 and 2.

    Exceptions pass through untouched; they carry what a failure needs to say.
    """
    log = tempfile.TemporaryFile(mode="w+b")
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    text = io.StringIO()
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
