"""Distributed tuning on 127.0.0.1: a chief and workers as real processes, killed the hard way.

Every process a test starts runs in its own process group and is ended by the `procs` fixture,
together with anything else whose command line names the test's own temporary folder.
The tests that kill a worker mid-trial read its output through a pipe (WorkerOutput): they act on its line
saying a trial began, never on a file polled against a deadline.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("tensorflow")

from helpers import wait_for  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from digitedge.cli import app  # noqa: E402
from digitedge.net import free_port  # noqa: E402
from digitedge.train.rundir import prepare_run_dir  # noqa: E402

REPORT_FILES = ["model.keras", "metrics.json", "classification_report.txt", "confusion_matrix.png", "curves.png",
                "predictions.png", "trials.csv", "trials.png"]


def tiny(mnist_dir: Path, trials: int = 3) -> list[str]:
    """A search of a few seconds per trial, like test_train's TINY_SEARCH, as flags."""
    return ["--preset", "quick", "--max-trials", str(trials), "--trial-epochs", "1", "--trial-subset", "600",
            "--epochs", "1", "--train-subset", "1000", "--test-subset", "300", "--val-size", "300",
            "--data-dir", str(mnist_dir)]


def pids_naming(text: str) -> list[int]:
    """Processes whose command line contains text (a test's temporary folder: only ours)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        pid = int(cmdline.parent.name)
        if pid != os.getpid() and any(text.encode() in a for a in args):
            pids.append(pid)
    return pids


class Procs:
    def __init__(self, folder: Path):
        self.folder, self.started = folder, []

    def start(self, *args, log: Path) -> subprocess.Popen:
        with open(log, "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "digitedge", "tune", *map(str, args)], stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.started.append(proc)
        return proc

    def end_all(self) -> None:
        for proc in self.started:  # a supervisor first gets SIGTERM: it ends its own children
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.started:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        for pid in pids_naming(str(self.folder)):  # anything of ours still left, e.g. a supervisor's child
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def procs(tmp_path):
    p = Procs(tmp_path)
    try:
        yield p
    finally:
        p.end_all()
    assert not pids_naming(str(tmp_path)), "processes left behind"


def progress(out: Path) -> dict:
    try:
        return json.loads((out / "progress.json").read_text())
    except (OSError, ValueError):
        return {}


def running_trial(out: Path, worker: str):
    """The trial the chief says this worker runs, or None."""
    info = progress(out).get("workers", {}).get(worker, {})
    return info.get("trial") if info.get("state") == "running" else None


def search_finished(out: Path, proc: subprocess.Popen, log: Path) -> None:
    """Wait for the end of the search; the retraining that follows is test_two_workers' business (time)."""

    def over():
        if proc.poll() not in (None, 0):
            raise AssertionError(log.read_text()[-3000:])
        return progress(out).get("state") in ("retraining", "done")

    wait_for(over, 240, "the end of the search")


def worker_pid(out: Path, worker: str) -> int:
    pids = [pid for pid in pids_naming(str(out)) if f"--worker-id\0{worker}\0".encode()
            in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert len(pids) == 1, pids
    return pids[0]


def done_lines(text: str) -> list[str]:
    """Trial IDs in the chief's 'trial N done by ...' lines, in order."""
    return re.findall(r"trial (\d+) done by", text)


def trial_files(out: Path) -> dict:
    """trial id -> (status, modification time of its trial.json)."""
    return {path.parent.name.split("_")[1]: (json.loads(path.read_text())["status"], path.stat().st_mtime_ns)
            for path in (out / "search").glob("trial_*/trial.json")}


class WorkerOutput:
    """A supervised worker's output, line by line, the moment it prints it: an event to wait for, not a file to poll.

    `tune --workers` appends each start of worker NAME to OUT/logs/NAME.log. Made a named pipe before the
    supervisor starts (in a run folder of ours, which it reuses), that path hands each line to a thread here,
    which blocks on the pipe and queues the lines. The pipe is held open for reading and writing: the
    supervisor's open never waits for a reader, a restarted worker writes into the same pipe, and the thread
    never sees an end of file until close() writes END.
    """

    END = b"\0end of the test\n"

    def __init__(self, out: Path, name: str):
        prepare_run_dir(out, "tune")
        (out / "logs").mkdir()
        self.path = out / "logs" / f"{name}.log"
        os.mkfifo(self.path)
        self.fd = os.open(self.path, os.O_RDWR)
        self.lines: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self.pump, daemon=True)
        self.thread.start()

    def pump(self) -> None:
        with open(self.fd, "rb", closefd=False) as pipe:
            for line in pipe:
                if line.endswith(self.END):
                    return
                self.lines.put(line.decode(errors="replace"))

    def line(self, pattern: str, proc: subprocess.Popen, log: Path, timeout: float = 180) -> re.Match:
        """The first line matching pattern. The timeout only ends a test that failed (proc ended, or hangs)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                match = re.search(pattern, self.lines.get(timeout=1))
            except queue.Empty:
                if proc.poll() is not None:
                    raise AssertionError(f"{proc.args[3:]} ended: {log.read_text()[-3000:]}") from None
                continue
            if match:
                return match
        raise AssertionError(f"no line matching {pattern!r} from {self.path.name} after {timeout} s")

    def close(self) -> None:
        os.write(self.fd, self.END)
        self.thread.join(10)
        os.close(self.fd)


@pytest.fixture
def worker_1(tmp_path):
    """worker-1's output in the run folder tmp_path/run, for tests that start `tune --workers` there.

    Ask for it before `procs`: pytest ends fixtures in reverse order, so the processes end before the pipe closes.
    """
    output = WorkerOutput(tmp_path / "run", "worker-1")
    try:
        yield output
    finally:
        output.close()


def trial_began(worker_1: WorkerOutput, supervisor: subprocess.Popen, log: Path) -> str:
    """Wait for worker-1 to print that a trial began, and return its ID: from here on, until the trial ends,
    the chief has it as worker-1's. The line comes before the model is even built and training it takes
    seconds, so the kill that follows lands mid-trial."""
    return worker_1.line(r"worker-1: trial (\d+) \{", supervisor, log).group(1)


@pytest.fixture(scope="module")
def two_workers(mnist_dir, tmp_path_factory):
    """One finished `tune --workers 2` search, shared by the tests that only read it."""
    folder = tmp_path_factory.mktemp("two-workers")
    p = Procs(folder)
    out = folder / "run"
    try:
        proc = p.start("--workers", 2, "--out", out, *tiny(mnist_dir), log=folder / "supervisor.log")
        code = proc.wait(300)
    finally:
        p.end_all()
    return out, code, (folder / "supervisor.log").read_text()


def test_two_workers_finish_the_search_each_trial_once_with_the_full_report(two_workers):
    out, code, output = two_workers
    assert code == 0, output[-3000:]
    for name in REPORT_FILES:
        assert (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    assert [t["status"] for t in metrics["trials"]] == ["COMPLETED"] * 3
    assert len((out / "trials.csv").read_text().strip().splitlines()) == 1 + 3
    chief_log = (out / "logs" / "chief.log").read_text()
    assert sorted(done_lines(chief_log)) == ["0", "1", "2"]  # each trial done exactly once
    ran = [re.findall(r"worker-\d: trial (\d+) completed", (out / "logs" / f"worker-{i}.log").read_text())
           for i in (1, 2)]
    assert sorted(ran[0] + ran[1]) == ["0", "1", "2"], ran
    assert "worker-1 joined" in chief_log and "worker-2 joined" in chief_log
    assert "3/3 trials" in output and "test accuracy" in output  # the progress view, then the summary
    assert progress(out)["state"] == "done"


def test_two_workers_try_the_same_hyperparameters_as_one_process(two_workers, mnist_dir, tmp_path):
    out, code, _ = two_workers
    assert code == 0
    single = tmp_path / "single"
    result = CliRunner().invoke(app, ["tune", "--out", str(single), *tiny(mnist_dir)])
    assert result.exit_code == 0, result.output

    def tried(run: Path) -> list:
        trials = json.loads((run / "metrics.json").read_text())["trials"]
        return sorted(json.dumps(t["hyperparameters"], sort_keys=True) for t in trials)

    assert tried(out) == tried(single)
    assert len(set(tried(single))) == 3


def test_a_killed_worker_is_restarted_and_gets_its_trial_back(mnist_dir, tmp_path, worker_1, procs):
    """worker-1 is killed mid-trial. No timing is guessed: the test blocks on worker-1's output pipe until the
    worker prints that its trial began (trial_began), then kills it while the trial trains."""
    out = tmp_path / "run"
    supervisor = procs.start("--workers", 2, "--out", out, *tiny(mnist_dir, trials=2), log=tmp_path / "sup.log")
    trial = trial_began(worker_1, supervisor, tmp_path / "sup.log")
    os.kill(worker_pid(out, "worker-1"), signal.SIGKILL)
    search_finished(out, supervisor, tmp_path / "sup.log")
    chief_log = (out / "logs" / "chief.log").read_text()
    assert f"trial {trial} -> worker-1 again" in chief_log
    assert sorted(done_lines(chief_log)) == ["0", "1"]
    assert [status for status, _ in trial_files(out).values()] == ["COMPLETED"] * 2


def test_without_restarts_the_worker_timeout_gives_a_dead_workers_trial_to_another(mnist_dir, tmp_path, worker_1,
                                                                                    procs):
    """As above, the kill waits for worker-1's line saying its trial began, read from a pipe."""
    out = tmp_path / "run"
    supervisor = procs.start("--workers", 2, "--max-restarts", 0, "--worker-timeout", 5, "--out", out,
                             *tiny(mnist_dir, trials=2), log=tmp_path / "sup.log")
    trial = trial_began(worker_1, supervisor, tmp_path / "sup.log")
    os.kill(worker_pid(out, "worker-1"), signal.SIGKILL)
    search_finished(out, supervisor, tmp_path / "sup.log")
    chief_log = (out / "logs" / "chief.log").read_text()
    assert f"worker-1: silent for more than 5 s; trial {trial} goes back to the queue" in chief_log
    assert f"trial {trial} -> worker-2 (from the retry queue)" in chief_log
    assert f"trial {trial} done by worker-2" in chief_log
    assert sorted(done_lines(chief_log)) == ["0", "1"]


def test_a_restarted_chief_resumes_and_redoes_no_finished_trial(mnist_dir, tmp_path, procs):
    """The two-machine commands, both on this machine; the chief is killed mid-search and started again."""
    out, port = tmp_path / "run", free_port()
    chief = ["--role", "chief", "--bind", f"127.0.0.1:{port}", "--out", out, *tiny(mnist_dir, trials=2)]
    first = procs.start(*chief, log=tmp_path / "chief-1.log")
    procs.start("--role", "worker", "--chief", f"127.0.0.1:{port}", "--worker-id", "w1", "--connect-timeout", 180,
                "--out", out, *tiny(mnist_dir, trials=2), log=tmp_path / "worker.log")
    wait_for(lambda: done_lines((tmp_path / "chief-1.log").read_text()) and running_trial(out, "w1"), 150,
             "a finished trial and the next one running")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    before = {k: v for k, v in trial_files(out).items() if v[0] == "COMPLETED"}
    assert before
    second = procs.start(*chief, log=tmp_path / "chief-2.log")
    search_finished(out, second, tmp_path / "chief-2.log")
    after = trial_files(out)
    assert {k: after[k] for k in before} == before  # finished trials untouched
    assert sorted(after) == ["0", "1"] and all(s == "COMPLETED" for s, _ in after.values())
    redone = set(done_lines((tmp_path / "chief-2.log").read_text())) & set(before)
    assert not redone


def test_a_worker_that_cannot_reach_its_chief_says_so_in_one_line(mnist_dir, tmp_path):
    port = free_port()  # nothing listens there
    result = subprocess.run(
        [sys.executable, "-m", "digitedge", "tune", "--role", "worker", "--chief", f"127.0.0.1:{port}",
         "--connect-timeout", "2", "--out", str(tmp_path / "run"), "--data-dir", str(mnist_dir)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert lines == [f"error: cannot reach the chief at 127.0.0.1:{port} after 2 s"]


@pytest.mark.parametrize("args, expected", [
    (["--workers", "2", "--role", "chief"], "--workers starts its own chief and workers; leave out --role"),
    (["--role", "boss", "--out", "x"], "--role 'boss': choose chief or worker"),
    (["--role", "worker", "--out", "x"], "--role worker needs --chief HOST:PORT (the chief's --bind)"),
    (["--role", "worker", "--chief", "host", "--out", "x"], "--chief 'host': expected HOST:PORT, e.g. 127.0.0.1:8470"),
    (["--chief", "127.0.0.1:8470"], "--chief goes with --role worker"),
    (["--role", "worker", "--chief", "1", "--worker-id", "chief-2", "--out", "x"],
     "--worker-id 'chief-2': must be non-empty and not contain 'chief'"),
])
def test_distributed_flags_that_do_not_fit_are_refused(tmp_path, args, expected):
    result = CliRunner().invoke(app, ["tune", *args])
    assert result.exit_code == 1, result.output
    assert [line for line in result.output.splitlines() if line.strip()] == [f"error: {expected}"]


def test_a_worker_whose_settings_differ_from_the_chiefs_is_refused(tmp_path):
    from dataclasses import asdict, replace

    from digitedge.errors import DigitedgeError
    from digitedge.train.config import PRESETS
    from digitedge.train.distributed import SETTINGS, check_settings

    cfg = PRESETS["quick"]
    (tmp_path / SETTINGS).write_text(json.dumps({"config": asdict(replace(cfg, trial_epochs=2))}))
    with pytest.raises(DigitedgeError, match=r"settings differ from the chief's \(trial_epochs: 1 here, 2 on the "):
        check_settings(cfg, tmp_path)
    (tmp_path / SETTINGS).write_text(json.dumps({"config": asdict(cfg), "worker_timeout_s": 9}))
    assert check_settings(cfg, tmp_path)["worker_timeout_s"] == 9
