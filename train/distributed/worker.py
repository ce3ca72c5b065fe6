"""A worker: keras-tuner's own (KERASTUNER_TUNER_ID / _ORACLE_IP / _ORACLE_PORT) running tuner.search.

Added to keras-tuner's worker: a heartbeat while it trains, waiting (IDLE) while other workers still run
trials, and one clear error, at once, when the chief is lost (keras-tuner would fail trials first).
"""

from __future__ import annotations

import functools
import json
import os
import socket
import threading
import time
from dataclasses import asdict
from pathlib import Path

from digitedge.errors import DigitedgeError
from digitedge.train.distributed import kt_internals
from digitedge.train.distributed.common import CHIEF_ID, IMPORT_FIRST, SETTINGS, log, read_json

CLIENT_CALLS = ("get_space", "update_space", "create_trial", "update_trial", "end_trial", "get_trial",
                "get_best_trials")  # the OracleClient methods that talk to the chief


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

    def __init__(self, client, every: float):
        self.client, self.every = client, every
        self.stop_event, self.thread = None, None

    def start(self, trial_id: str) -> None:
        self.stop()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.beat, args=(trial_id, self.stop_event), daemon=True)
        self.thread.start()

    def beat(self, trial_id: str, stop: threading.Event) -> None:
        import grpc

        call = kt_internals.get_trial_call(self.client, trial_id)
        while not stop.wait(self.every):
            try:
                call(max(1.0, self.every))
            except grpc.RpcError:
                pass  # the chief is away; the worker's own next call waits for it, within its bound

    def stop(self) -> None:
        if self.thread is not None:
            self.stop_event.set()
            self.thread.join()
            self.thread = None


def start_tensorflow(threads: int):
    import tensorflow as tf

    if threads > 0:  # before TensorFlow's runtime starts
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    return tf


def run_worker(cfg, mnist, run_dir: Path, host: str, port: int, worker_id: str, threads: int,
               connect_timeout: float, verbose=None) -> int:
    """keras-tuner's worker: ask the chief for trials and run them until it says stop. Returns trials run."""
    cfg.check()
    address = f"{host}:{port}"
    if os.environ.get(IMPORT_FIRST):  # started by --workers: start up beside the chief, output goes to a log
        import tensorflow  # noqa: F401
    wait_for_chief(address, connect_timeout)  # before TensorFlow, whose start-up chatter would bury the error
    settings = check_settings(cfg, Path(run_dir))
    tf = start_tensorflow(threads)
    import keras
    from keras_tuner.errors import FatalError

    from digitedge.train.run import make_tuner, search

    class ChiefLost(FatalError):
        """A FatalError: keras-tuner lets it out of tuner.search instead of failing the trial and going on."""

    os.environ.update(KERASTUNER_TUNER_ID=worker_id, KERASTUNER_ORACLE_IP=host, KERASTUNER_ORACLE_PORT=str(port))
    kt_internals.set_client_timeout(connect_timeout)  # keras-tuner's is an hour; ours is the user's bound
    keras.utils.set_random_seed(cfg.train.seed)
    tuner = make_tuner(cfg, Path(run_dir))
    client = tuner.oracle
    channel = kt_internals.connect_client(client, address)
    for name in CLIENT_CALLS:
        setattr(client, name, fatal_when_chief_lost(getattr(client, name), address, connect_timeout, ChiefLost))
    heartbeat = Heartbeat(client, every=min(10.0, max(0.5, settings.get("worker_timeout_s", 120) / 6)))
    ran = hook_trials(tuner, worker_id, heartbeat)
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


def hook_trials(tuner, worker_id: str, heartbeat: Heartbeat) -> list:
    """Wrap the tuner's trial calls: wait when idle, log each trial, beat while it trains. Returns the trials run."""
    from keras_tuner.engine.trial import TrialStatus

    client = tuner.oracle
    create, begin, end = client.create_trial, tuner.on_trial_begin, tuner.on_trial_end
    ran, waiting = [], []

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
    return ran


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
