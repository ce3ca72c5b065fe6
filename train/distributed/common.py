"""What the chief, the workers and the supervisor share: names, addresses, threads, the log line, JSON reads.

Nothing here imports TensorFlow: the supervisor and the flag checks of `digitedge tune` use it too.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from digitedge.errors import DigitedgeError

PROGRESS = "progress.json"  # written by the chief into the run folder, about once a second
SETTINGS = "distributed.json"  # the chief's settings, for workers to check theirs against
DEFAULT_HOST = "127.0.0.1"
CHIEF_ID = "chief"  # keras-tuner treats any tuner ID containing "chief" as the chief
IMPORT_FIRST = "DIGITEDGE_WORKER_IMPORT_FIRST"  # set by --workers for its workers


def parse_address(text: str, flag: str) -> tuple[str, int]:
    """'HOST:PORT' or 'PORT' (then on 127.0.0.1)."""
    host, _, port = text.strip().rpartition(":")
    host = host.strip("[]") or DEFAULT_HOST
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 < number < 65536:
        raise DigitedgeError(f"{flag} {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8470")
    return host, number


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def thread_env(threads: int) -> dict:
    """Environment limiting TensorFlow (and oneDNN/OpenMP) to `threads` threads; set before TensorFlow starts."""
    if threads <= 0:
        return {}
    return {"TF_NUM_INTRAOP_THREADS": str(threads), "TF_NUM_INTEROP_THREADS": str(min(2, threads)),
            "OMP_NUM_THREADS": str(threads)}


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def read_json(path: Path, tries: int = 1):
    """A JSON file, or None when missing or half-written (retried: a shared folder may lag)."""
    for attempt in range(tries):
        try:
            return json.loads(Path(path).read_text())
        except (OSError, ValueError):
            if attempt + 1 < tries:
                time.sleep(1)
    return None
