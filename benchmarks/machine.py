"""What the numbers were measured on: CPU, cores, memory, OS, Python and library versions."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

from .common import REPO, versions

# Distributions whose version changes the numbers; read from metadata, never imported.
PACKAGES = ("digitedge", "numpy", "ai-edge-litert", "tflite-runtime", "tensorflow", "tensorflow-cpu",
            "keras", "opencv-python-headless", "opencv-python", "pillow", "matplotlib")


def cpu_model() -> str:
    """The CPU's name from /proc/cpuinfo (x86 "model name", Arm "Model" or "Hardware")."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return platform.processor() or platform.machine()
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and value.strip():
            fields.setdefault(key.strip(), value.strip())
    for key in ("model name", "Model", "Hardware", "cpu model", "Processor"):
        if key in fields:
            return fields[key]
    return platform.processor() or platform.machine()


def memory_total_mb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def usable_cores() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def git_commit() -> str | None:
    """The checkout's commit (with "+dirty" for local changes), when there is one."""
    if not (REPO / ".git").exists():
        return None
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev or None


def describe() -> dict:
    uname = platform.uname()
    return {
        "cpu": cpu_model(),
        "arch": uname.machine,
        "cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "memory_mb": memory_total_mb(),
        "os": f"{uname.system} {uname.release}",
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "versions": versions(PACKAGES),
        "git_commit": git_commit(),
        "load_average_start": load_average(),
    }
