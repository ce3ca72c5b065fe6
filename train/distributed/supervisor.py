"""The supervisor (`tune --workers N`): a chief and N workers on 127.0.0.1, and one live view of them.

It restarts a worker that dies (same ID, so it gets its trial back) and shows the progress read from the
chief's progress.json. No TensorFlow here: the chief and the workers are child processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from digitedge.errors import DigitedgeError
from digitedge.net import free_port
from digitedge.train.distributed.common import (
    CHIEF_ID,
    DEFAULT_HOST,
    IMPORT_FIRST,
    PROGRESS,
    cores,
    read_json,
    thread_env,
)


class Child:
    """One chief or worker process, in its own process group, its output in a log file."""

    def __init__(self, name: str, argv: list, log_path: Path, env: dict):
        self.name, self.argv, self.log_path, self.env = name, argv, log_path, env
        self.proc, self.restarts, self.state = None, 0, "starting"

    def start(self) -> None:
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env={**os.environ, **self.env}, start_new_session=True)
        self.state = "running"

    def poll(self):
        return None if self.proc is None else self.proc.poll()

    def stop(self, grace: float = 5.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def last_line(self) -> str:
        try:
            lines = [ln for ln in self.log_path.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        errors = [ln for ln in lines if ln.startswith("error:")]
        return (errors or lines or [""])[-1].strip()


def flag_args(values: dict) -> list[str]:
    """Command-line flags giving the same settings to a child `digitedge tune` (None: not given)."""
    args = []
    for name, value in values.items():
        if value is None:
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else f"--no-{name.replace('_', '-')}")
        else:
            args += [flag, str(value)]
    return args


def make_children(run_dir: Path, workers: int, flags: list[str], threads: int, worker_timeout: float,
                  connect_timeout: float) -> tuple[Child, list[Child]]:
    """The chief on a free port of 127.0.0.1, and `workers` workers pointed at it; not started yet."""
    logs = run_dir / "logs"
    address = f"{DEFAULT_HOST}:{free_port(DEFAULT_HOST)}"
    base = [sys.executable, "-m", "digitedge", "tune", "--out", str(run_dir), *flags]
    chief = Child(CHIEF_ID, [*base, "--role", "chief", "--bind", address, "--worker-timeout", str(worker_timeout)],
                  logs / "chief.log", {})
    team = [Child(f"worker-{i}", [*base, "--role", "worker", "--chief", address, "--worker-id", f"worker-{i}",
                                  "--threads-per-worker", str(threads), "--connect-timeout", str(connect_timeout)],
                  logs / f"worker-{i}.log", {**thread_env(threads), IMPORT_FIRST: "1"}) for i in range(1, workers + 1)]
    return chief, team


def tend(team: list[Child], searching: bool, max_restarts: int) -> bool:
    """Restart the workers that died while the search runs; True when every worker has stopped, one by failing."""
    for child in team:
        code = child.poll()
        if code is None or child.state not in ("running",):
            continue
        if code == 0:
            child.state = "finished"
        elif searching and child.restarts < max_restarts:
            child.restarts += 1
            child.start()
            child.state = "running"
        else:
            child.state = f"exited ({code})"
    return bool(searching and team and all(c.state != "running" for c in team) and
                any(c.state.startswith("exited") for c in team))


def supervise(run_dir: Path, workers: int, flags: list[str], *, threads: int = 0, max_restarts: int = 3,
              worker_timeout: float = 120, connect_timeout: float = 300, console=None, poll: float = 0.5) -> None:
    """Start a chief and `workers` workers on 127.0.0.1, keep the workers alive, show progress, end them all."""
    from rich.console import Console
    from rich.live import Live

    from digitedge.train.rundir import prepare_run_dir

    console = console or Console()
    run_dir = prepare_run_dir(run_dir, "tune")
    logs = run_dir / "logs"
    logs.mkdir(exist_ok=True)
    (run_dir / PROGRESS).unlink(missing_ok=True)
    threads = threads or max(1, cores() // workers)
    chief, team = make_children(run_dir, workers, flags, threads, worker_timeout, connect_timeout)
    started = time.time()
    failure = None
    if threading.current_thread() is threading.main_thread():  # `kill PID` must end the children too
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        for child in [chief, *team]:
            child.start()
        with Live(progress_view(None, chief, team, started, threads), console=console, refresh_per_second=2) as live:
            while chief.poll() is None:
                progress = read_json(run_dir / PROGRESS)
                if tend(team, (progress or {}).get("state", "searching") == "searching", max_restarts):
                    failure = "every worker stopped before the search finished"
                    break
                live.update(progress_view(progress, chief, team, started, threads))
                time.sleep(poll)
            live.update(progress_view(read_json(run_dir / PROGRESS), chief, team, started, threads))
    finally:
        for child in [*team, chief]:
            child.stop()
        if not console.is_terminal:
            console.print()  # the last view ends without a newline in a log
    if failure:
        worst = next(c for c in team if c.state.startswith("exited"))
        raise DigitedgeError(f"{failure}; {worst.name}: {worst.last_line()} (logs in {logs})")
    if chief.proc.returncode != 0:
        raise DigitedgeError(f"the chief failed: {chief.last_line()} (log: {chief.log_path})")


def progress_view(progress, chief: Child, team: list, started: float, threads: int):
    """One table: trials ended / total, best so far, and each process with the chief's view of it."""
    from rich.table import Table

    progress = progress or {}
    total = progress.get("total") or "?"
    best = progress.get("best")
    best_text = f"best val_accuracy {best['val_accuracy']:.4f} (trial {best['trial_id']})" if best else "no result yet"
    state = progress.get("state", "starting")
    elapsed = time.time() - started
    clock = f"{elapsed // 60:.0f}m {elapsed % 60:02.0f}s"
    title = f"{state}: {progress.get('ended', 0)}/{total} trials · {best_text} · {clock}"
    table = Table(title=title, title_justify="left", caption=f"{threads} thread(s) per worker; logs in the run folder",
                  caption_justify="left")
    for column in ("process", "pid", "state", "trial", "restarts", "last heard"):
        table.add_column(column)
    seen = progress.get("workers", {})
    chief_state = chief.state if chief.poll() is None else f"exited ({chief.poll()})"
    table.add_row(chief.name, str(chief.proc.pid if chief.proc else "-"), f"{chief_state}, {state}", "", "", "")
    for child in team:
        info = seen.get(child.name, {})
        proc_state = child.state if child.state != "running" else info.get("state", "starting")
        heard = f"{info['seen_s_ago']:.0f} s ago" if "seen_s_ago" in info else "-"
        table.add_row(child.name, str(child.proc.pid if child.proc else "-"), proc_state,
                      str(info.get("trial") or ""), str(child.restarts), heard)
    return table
