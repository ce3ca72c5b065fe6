"""The chief: keras-tuner's oracle served over gRPC, with what keras-tuner lacks; then the best trial retrained.

It needs no KERASTUNER_* variables: it never calls tuner.search, so its search folder is laid out exactly as a
single-process search's. What keras-tuner 1.4 lacks, added on the chief's oracle (ChiefOracle, mixed into its class):
  - a worker timeout: workers send a heartbeat (a GetTrial call) while they train; a worker silent for
    longer than the timeout loses its trial to the retry queue, so another worker redoes it;
  - workers with nothing to do wait (IDLE) while other trials still run, instead of leaving: if one of those
    trials comes back to the queue, someone is there to take it;
  - a trial ends once: a second result for the same trial (a worker presumed dead came back) is dropped;
  - an exception in an oracle call no longer leaves the oracle's lock held (keras-tuner's @synchronized would).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path

from digitedge import atomic
from digitedge.errors import DigitedgeError
from digitedge.train.distributed.common import PROGRESS, SETTINGS, log, read_json
from digitedge.train.distributed.kt_internals import AtomicSaves, add_servicer, guarded, mix_in, retry_queue, save_trial


class ChiefOracle(AtomicSaves):
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
        from keras_tuner.engine.trial import Trial, TrialStatus  # here: importing it starts TensorFlow

        self.touch(tuner_id)
        if self.gave_up:
            self.tuner_ids.discard(tuner_id)
            self.state_of[tuner_id] = "stopped"
            return Trial(self.get_space(), status=TrialStatus.STOPPED)
        again = tuner_id in self.ongoing_trials
        queued = bool(retry_queue(self))
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
        if tid in retry_queue(self):  # back from a worker presumed dead before anyone took it again
            retry_queue(self).remove(tid)
        try:
            super().end_trial(trial)
        except RuntimeError as e:  # keras-tuner's limit of consecutive failed trials
            self.gave_up = str(e).splitlines()[0]
            for holder, ongoing in list(self.ongoing_trials.items()):
                if ongoing.trial_id == tid:
                    self.ongoing_trials.pop(holder)
            save_trial(self, self.trials[tid])
            self.save()
            log(f"the search stops: {self.gave_up}")
            return
        ended = self.trials[tid]
        score = f"val_accuracy {ended.score:.4f}" if ended.score is not None else ended.status.lower()
        by = self.ran_by.get(tid) or tuner_id or "a worker from before the chief's restart"
        log(f"trial {tid} done by {by}: {score} ({len(self.end_order)} ended)")

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
                retry_queue(self).append(trial.trial_id)
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
        return spent and not retry_queue(self)

    @guarded
    def snapshot(self) -> dict:
        now = time.monotonic()
        ongoing = {trial.trial_id: tuner_id for tuner_id, trial in self.ongoing_trials.items()}
        trials = []
        for trial in sorted(self.trials.values(), key=lambda t: int(t.trial_id)):
            status = trial.status
            if trial.trial_id in retry_queue(self):
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
    mix_in(oracle, ChiefOracle, "Chief")
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

    address = f"{host}:{port}"
    # so_reuseport off: a second chief on the same port must fail, not share it.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1), options=[("grpc.so_reuseport", 0)])
    add_servicer(server, oracle)
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

    from digitedge.train.run import make_tuner, retrain_best
    from digitedge.train.rundir import prepare_run_dir

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
