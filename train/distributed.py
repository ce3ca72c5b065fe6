"""Distributed tuning on keras-tuner's own chief/worker mode: one oracle served over gRPC, workers ask it for trials.

Roles (all started by `digitedge tune`):
  chief       runs keras-tuner's oracle as a gRPC service (keras-tuner's OracleServicer), then retrains the
              best trial and writes the usual report folder. It needs no KERASTUNER_* variables: it never calls
              tuner.search, so its search folder is laid out exactly as a single-process search's.
  worker      keras-tuner's own worker (KERASTUNER_TUNER_ID / _ORACLE_IP / _ORACLE_PORT) running tuner.search.
  supervisor  `--workers N`: starts a chief and N workers on 127.0.0.1, restarts a worker that dies (same ID,
              so it gets its trial back), and shows one combined progress view read from the chief's progress.json.

What keras-tuner 1.4.8 lacks, added here on the chief's oracle (ChiefOracle, mixed into its class):
  - a worker timeout: workers send a heartbeat (a GetTrial call) while they train; a worker silent for
    longer than the timeout loses its trial to the retry queue, so another worker redoes it;
  - workers with nothing to do wait (IDLE) while other trials still run, instead of leaving: if one of those
    trials comes back to the queue, someone is there to take it;
  - a trial ends once: a second result for the same trial (a worker presumed dead came back) is dropped;
  - an exception in an oracle call no longer leaves the oracle's lock held (keras-tuner's @synchronized would).
"""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

from digitedge import atomic
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


def free_port(host: str = DEFAULT_HOST) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


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


# ---------------------------------------------------------------- chief: the oracle with a worker timeout


def guarded(func):
    """keras-tuner's @synchronized, except that an exception releases the oracle's lock."""

    @functools.wraps(func)
    def wrapper(self, *args, **kwargs):
        from keras_tuner.src.engine import oracle as oracle_module  # here: importing it starts TensorFlow

        me = threading.current_thread().name
        outer = oracle_module.THREADS[self] != me
        try:
            return oracle_module.synchronized(func)(self, *args, **kwargs)
        except BaseException:
            if outer and oracle_module.THREADS[self] == me:
                oracle_module.THREADS[self] = None
                oracle_module.LOCKS[self].release()
            raise

    return wrapper


class ChiefOracle:
    """Mixed into the search's oracle class on the chief; see the module docstring."""

    def init_chief(self, worker_timeout: float) -> None:
        self.worker_timeout = worker_timeout
        self.seen = {}  # tuner ID -> time.monotonic() of its last call
        self.ran_by = {}  # trial ID -> tuner ID that last took it
        self.state_of = {}  # tuner ID -> "stopped" | "silent" (absent: active)
        self.stop_sent = False
        self.gave_up = None
        self.verbose = 0  # keras-tuner's own per-trial tables; we log one line per event instead

    def touch(self, tuner_id: str) -> None:
        if tuner_id not in self.seen or self.state_of.get(tuner_id) == "silent":
            log(f"{tuner_id} joined")
        self.seen[tuner_id] = time.monotonic()
        self.state_of.pop(tuner_id, None)

    def holder(self, trial_id: str):
        return next((t for t, trial in self.ongoing_trials.items() if trial.trial_id == trial_id), None)

    @guarded
    def create_trial(self, tuner_id):
        from keras_tuner.src.engine.trial import Trial, TrialStatus

        self.touch(tuner_id)
        if self.gave_up:
            self.tuner_ids.discard(tuner_id)
            self.state_of[tuner_id] = "stopped"
            return Trial(self.get_space(), status=TrialStatus.STOPPED)
        again = tuner_id in self.ongoing_trials
        queued = bool(self._retry_queue)
        trial = super().create_trial(tuner_id)
        if trial.status == TrialStatus.STOPPED:
            if self.ongoing_trials:  # wait while others run: one of their trials may come back to the queue
                self.tuner_ids.add(tuner_id)
                return Trial(self.get_space(), status=TrialStatus.IDLE)
            self.stop_sent = True
            self.state_of[tuner_id] = "stopped"
            log(f"{tuner_id}: no trials left, told to stop")
        elif trial.status == TrialStatus.RUNNING and not again:
            self.ran_by[trial.trial_id] = tuner_id
            how = " (from the retry queue)" if queued else ""
            log(f"trial {trial.trial_id} -> {tuner_id}{how}: {trial.hyperparameters.values}")
        elif again:
            log(f"trial {trial.trial_id} -> {tuner_id} again (it came back)")
        return trial

    @guarded
    def update_trial(self, trial_id, metrics, step=0):
        tuner_id = self.holder(trial_id)
        if tuner_id:
            self.touch(tuner_id)
        return super().update_trial(trial_id, metrics, step=step)

    @guarded
    def get_trial(self, trial_id):
        tuner_id = self.holder(trial_id)  # a worker's heartbeat
        if tuner_id:
            self.seen[tuner_id] = time.monotonic()
        return super().get_trial(trial_id)

    @guarded
    def end_trial(self, trial):
        tid = trial.trial_id
        tuner_id = self.holder(tid)
        if tuner_id:
            self.touch(tuner_id)
        if tid in self.end_order:  # a worker presumed dead finished after its trial was redone elsewhere
            if tuner_id:
                self.ongoing_trials.pop(tuner_id)
            log(f"trial {tid}: ended already; a second result ({trial.status}) is ignored")
            return
        if tid in self._retry_queue:  # back from a worker presumed dead before anyone took it again
            self._retry_queue.remove(tid)
        try:
            super().end_trial(trial)
        except RuntimeError as e:  # keras-tuner's limit of consecutive failed trials
            self.gave_up = str(e).splitlines()[0]
            for holder, ongoing in list(self.ongoing_trials.items()):
                if ongoing.trial_id == tid:
                    self.ongoing_trials.pop(holder)
            self._save_trial(self.trials[tid])
            self.save()
            log(f"the search stops: {self.gave_up}")
            return
        ended = self.trials[tid]
        score = f"val_accuracy {ended.score:.4f}" if ended.score is not None else ended.status.lower()
        by = self.ran_by.get(tid) or tuner_id or "a worker from before the chief's restart"
        log(f"trial {tid} done by {by}: {score} ({len(self.end_order)} ended)")

    def save(self):
        # keras-tuner writes oracle.json and trial.json in place: a chief killed mid-write could not restart.
        atomic.write_text(self._get_oracle_fname(), json.dumps(self.get_state()))

    def _save_trial(self, trial):
        atomic.write_text(os.path.join(self._get_trial_dir(trial.trial_id), "trial.json"),
                          json.dumps(trial.get_state()))

    @guarded
    def expire_silent_workers(self) -> None:
        now = time.monotonic()
        for tuner_id in sorted(set(self.tuner_ids) | set(self.ongoing_trials)):
            if now - self.seen.setdefault(tuner_id, now) <= self.worker_timeout:
                continue
            trial = self.ongoing_trials.pop(tuner_id, None)
            self.tuner_ids.discard(tuner_id)
            self.state_of[tuner_id] = "silent"
            what = "had no trial"
            if trial is not None and trial.trial_id not in self.end_order:
                self._retry_queue.append(trial.trial_id)
                what = f"trial {trial.trial_id} goes back to the queue for another worker"
            self.save()
            log(f"{tuner_id}: silent for more than {self.worker_timeout:g} s; {what}")

    @guarded
    def finished(self) -> bool:
        """Nothing left to hand out or wait for, and every worker still around has been told to stop."""
        if self.tuner_ids or self.ongoing_trials:
            return False
        if self.gave_up:
            return True
        spent = self.stop_sent or bool(self.max_trials and len(self.trials) >= self.max_trials)
        return spent and not self._retry_queue

    @guarded
    def snapshot(self) -> dict:
        now = time.monotonic()
        ongoing = {trial.trial_id: tuner_id for tuner_id, trial in self.ongoing_trials.items()}
        trials = []
        for trial in sorted(self.trials.values(), key=lambda t: int(t.trial_id)):
            status = trial.status
            if trial.trial_id in self._retry_queue:
                status = "QUEUED"
            elif trial.trial_id not in self.end_order and trial.trial_id not in ongoing:
                status = "QUEUED" if status == "RUNNING" else status
            trials.append({"trial_id": trial.trial_id, "status": status, "val_accuracy": trial.score,
                           "worker": ongoing.get(trial.trial_id) or self.ran_by.get(trial.trial_id),
                           "hyperparameters": dict(trial.hyperparameters.values)})
        workers = {}
        for tuner_id, seen in sorted(self.seen.items()):
            trial = self.ongoing_trials.get(tuner_id)
            state = self.state_of.get(tuner_id) or ("running" if trial else "waiting")
            workers[tuner_id] = {"state": state, "trial": trial.trial_id if trial else None,
                                 "seen_s_ago": round(now - seen, 1)}
        done = [t for t in trials if t["trial_id"] in self.end_order]
        scored = [t for t in done if t["val_accuracy"] is not None and t["status"] == "COMPLETED"]
        best = max(scored, key=lambda t: t["val_accuracy"], default=None)
        return {"total": self.max_trials, "ended": len(done), "failed": sum(t["status"] == "FAILED" for t in done),
                "best": best and {"trial_id": best["trial_id"], "val_accuracy": best["val_accuracy"]},
                "trials": trials, "workers": workers, "gave_up": self.gave_up}


def make_chief_oracle(oracle, worker_timeout: float):
    """The tuner's oracle, turned (in place: the tuner and keras-tuner's lock table keep it) into a ChiefOracle."""
    cls = type(oracle)
    oracle.__class__ = type(f"Chief{cls.__name__}", (ChiefOracle, cls), {})
    oracle.init_chief(worker_timeout)
    return oracle


def write_progress(run_dir: Path, state: str, address: str, oracle=None, started: float = 0, **extra) -> None:
    snap = oracle.snapshot() if oracle is not None else (read_json(run_dir / PROGRESS) or {})
    snap.update(state=state, chief=address, elapsed_s=round(time.time() - started, 1) if started else
                snap.get("elapsed_s"), pid=os.getpid(), **extra)
    atomic.write_text(run_dir / PROGRESS, json.dumps(snap, indent=1))


def serve(oracle, host: str, port: int, run_dir: Path, started: float, poll: float = 0.5) -> None:
    """keras-tuner's OracleServicer on host:port until the search is over; progress.json along the way."""
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer

    address = f"{host}:{port}"
    # so_reuseport off: a second chief on the same port must fail, not share it.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1), options=[("grpc.so_reuseport", 0)])
    protos.get_service_grpc().add_OracleServicer_to_server(OracleServicer(oracle), server)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise DigitedgeError(f"cannot listen on {address} (port in use, or not an address of this machine)")
    server.start()
    log(f"chief listening on {address}; search folder {run_dir / 'search'}")
    try:
        while not oracle.finished():
            oracle.expire_silent_workers()
            write_progress(run_dir, "searching", address, oracle, started)
            time.sleep(poll)
    finally:
        server.stop(grace=2)
    write_progress(run_dir, "retraining" if not oracle.gave_up else "failed", address, oracle, started)


def run_chief(cfg, mnist, run_dir: Path, host: str, port: int, worker_timeout: float, verbose=None) -> dict:
    """Serve the search to the workers, then retrain the best trial and write the report (as `tune` does)."""
    import keras

    from digitedge.train.run import make_tuner, prepare_run_dir, retrain_best

    cfg.check()
    started = time.time()
    run_dir = prepare_run_dir(run_dir, "tune")
    atomic.write_text(run_dir / SETTINGS, json.dumps(
        {"config": asdict(cfg), "chief": f"{host}:{port}", "worker_timeout_s": worker_timeout}, indent=1))
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        os.environ.pop(name, None)  # the chief's tuner is an ordinary one: tuner0.json, like a single process
    keras.utils.set_random_seed(cfg.train.seed)
    tuner = make_tuner(cfg, run_dir)
    tuner.save()
    oracle = make_chief_oracle(tuner.oracle, worker_timeout)
    serve(oracle, host, port, run_dir, started)
    if oracle.gave_up:
        raise DigitedgeError(f"the search stopped: {oracle.gave_up}")
    log("search finished; retraining the chosen trial")
    metrics = retrain_best(tuner, cfg, mnist, run_dir, started, verbose)
    write_progress(run_dir, "done", f"{host}:{port}", test_accuracy=metrics["test_accuracy"])
    return metrics


# ---------------------------------------------------------------- worker


def wait_for_chief(address: str, timeout: float) -> None:
    import grpc

    channel = grpc.insecure_channel(address)
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        raise DigitedgeError(f"cannot reach the chief at {address} after {timeout:g} s") from None
    finally:
        channel.close()


def check_settings(cfg, run_dir: Path) -> dict:
    """The chief's settings file: it proves the folder is shared, and the trials must be the same everywhere."""
    settings = read_json(run_dir / SETTINGS, tries=10)
    if settings is None:
        raise DigitedgeError(f"{run_dir / SETTINGS}: not found; --out must be the chief's run folder, "
                             "on a folder every machine shares")
    mine, chiefs = flatten(json.loads(json.dumps(asdict(cfg)))), flatten(settings["config"])
    for key in sorted(set(mine) | set(chiefs)):
        if mine.get(key) != chiefs.get(key):
            raise DigitedgeError(f"this worker's settings differ from the chief's ({key}: {mine.get(key)} here, "
                                 f"{chiefs.get(key)} on the chief); give every machine the same tune flags")
    return settings


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


class Heartbeat:
    """While this worker trains, a GetTrial call every few seconds tells the chief it is alive."""

    def __init__(self, stub, every: float):
        self.stub, self.every = stub, every
        self.stop_event, self.thread = None, None

    def start(self, trial_id: str) -> None:
        self.stop()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.beat, args=(trial_id, self.stop_event), daemon=True)
        self.thread.start()

    def beat(self, trial_id: str, stop: threading.Event) -> None:
        import grpc
        from keras_tuner.src import protos

        request = protos.get_service().GetTrialRequest(trial_id=trial_id)
        while not stop.wait(self.every):
            try:
                self.stub.GetTrial(request, timeout=max(1.0, self.every))
            except grpc.RpcError:
                pass  # the chief is away; the worker's own next call waits for it, within its bound

    def stop(self) -> None:
        if self.thread is not None:
            self.stop_event.set()
            self.thread.join()
            self.thread = None


def run_worker(cfg, mnist, run_dir: Path, host: str, port: int, worker_id: str, threads: int,
               connect_timeout: float, verbose=None) -> int:
    """keras-tuner's worker: ask the chief for trials and run them until it says stop. Returns trials run."""
    cfg.check()
    address = f"{host}:{port}"
    if os.environ.get(IMPORT_FIRST):  # started by --workers: start up beside the chief, output goes to a log
        import tensorflow  # noqa: F401
    wait_for_chief(address, connect_timeout)  # before TensorFlow, whose start-up chatter would bury the error
    settings = check_settings(cfg, Path(run_dir))
    import tensorflow as tf

    if threads > 0:  # before TensorFlow's runtime starts
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    import grpc
    import keras
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_client
    from keras_tuner.src.engine.trial import TrialStatus
    from keras_tuner.src.errors import FatalError

    from digitedge.train.run import make_tuner, search

    class ChiefLost(FatalError):
        """A FatalError: keras-tuner lets it out of tuner.search instead of failing the trial and going on."""

    os.environ.update(KERASTUNER_TUNER_ID=worker_id, KERASTUNER_ORACLE_IP=host, KERASTUNER_ORACLE_PORT=str(port))
    oracle_client.TIMEOUT = connect_timeout  # keras-tuner's is an hour; ours is the user's bound
    keras.utils.set_random_seed(cfg.train.seed)
    tuner = make_tuner(cfg, Path(run_dir))
    client = tuner.oracle
    # Reconnect quickly when a chief comes back (gRPC's default backoff grows to 2 minutes).
    channel = grpc.insecure_channel(address, options=[("grpc.max_reconnect_backoff_ms", 2000)])
    client.stub = protos.get_service_grpc().OracleStub(channel)

    for name in ("get_space", "update_space", "create_trial", "update_trial", "end_trial", "get_trial",
                 "get_best_trials"):
        setattr(client, name, fatal_when_chief_lost(getattr(client, name), address, connect_timeout, ChiefLost))
    heartbeat = Heartbeat(client.stub, every=min(10.0, max(0.5, settings.get("worker_timeout_s", 120) / 6)))
    ran = []
    create, begin, end = client.create_trial, tuner.on_trial_begin, tuner.on_trial_end
    waiting = []

    def create_trial(tuner_id):
        trial = create(tuner_id)
        if trial.status == TrialStatus.IDLE:  # others still run trials; stay in case one comes back
            if not waiting:
                log(f"{worker_id}: every trial is handed out; waiting while the others finish")
                waiting.append(True)
            time.sleep(1)
        else:
            waiting.clear()
        return trial

    def on_trial_begin(trial):
        log(f"{worker_id}: trial {trial.trial_id} {trial.hyperparameters.values}")
        heartbeat.start(trial.trial_id)
        ran.append(trial.trial_id)
        begin(trial)

    def on_trial_end(trial):
        heartbeat.stop()
        log(f"{worker_id}: trial {trial.trial_id} {trial.status.lower()}")
        end(trial)

    client.create_trial, tuner.on_trial_begin, tuner.on_trial_end = create_trial, on_trial_begin, on_trial_end
    threads_used = tf.config.threading.get_intra_op_parallelism_threads() or "all the cores'"
    log(f"{worker_id}: connected to the chief at {address}; {threads_used} TensorFlow threads")
    try:
        search(tuner, cfg, mnist, verbose)
    except ChiefLost as e:
        raise DigitedgeError(str(e)) from None
    finally:
        heartbeat.stop()
        channel.close()
    log(f"{worker_id}: the chief has no more trials; {len(ran)} run here")
    return len(ran)


def fatal_when_chief_lost(call, address: str, timeout: float, fatal: type):
    """An OracleClient call whose gRPC failure ends the search at once (keras-tuner would fail the trial first)."""
    import grpc

    @functools.wraps(call)
    def wrapper(*args, **kwargs):
        try:
            return call(*args, **kwargs)
        except grpc.RpcError as e:
            if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise fatal(f"lost the chief at {address}: no answer for {timeout:g} s") from None
            raise fatal(f"the chief at {address} refused a request: {e.details()}") from None

    return wrapper


def default_worker_id() -> str:
    # Unique per process; give --worker-id to let a restarted machine resume its trial.
    return f"worker-{socket.gethostname()}-{os.getpid()}".replace(CHIEF_ID, "chf")


# ---------------------------------------------------------------- supervisor: --workers N on one machine


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
    address = f"{DEFAULT_HOST}:{free_port()}"
    base = [sys.executable, "-m", "digitedge", "tune", "--out", str(run_dir), *flags]
    chief = Child(CHIEF_ID, [*base, "--role", "chief", "--bind", address, "--worker-timeout", str(worker_timeout)],
                  logs / "chief.log", {})
    team = [Child(f"worker-{i}", [*base, "--role", "worker", "--chief", address, "--worker-id", f"worker-{i}",
                                  "--threads-per-worker", str(threads), "--connect-timeout", str(connect_timeout)],
                  logs / f"worker-{i}.log", {**thread_env(threads), IMPORT_FIRST: "1"}) for i in range(1, workers + 1)]
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
                searching = (progress or {}).get("state", "searching") == "searching"
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
                if searching and team and all(c.state != "running" for c in team) and \
                        any(c.state.startswith("exited") for c in team):
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
