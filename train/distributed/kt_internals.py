"""Every use of keras-tuner's internals in one place: what the distributed search needs and keras-tuner does not export.

Tested with keras-tuner 1.4.7 and 1.4.8 (tests/test_distributed.py; the two releases' src/engine/oracle.py and
src/distribute/ are the same code), the range pyproject.toml pins. Before widening it for a new release, run
tests/test_distributed.py against it and read what it changed in those two places.

What each one is for:
  guarded             keras_tuner.src.engine.oracle's LOCKS and THREADS: keras-tuner's @synchronized leaves the
                      oracle's lock held when the call raises, and on the chief one stuck lock stalls every worker.
  AtomicSaves         overrides Oracle.save and Oracle._save_trial (with _get_oracle_fname, _get_trial_dir):
                      keras-tuner writes oracle.json and trial.json in place, so a chief killed mid-write could
                      not restart.
  retry_queue         Oracle._retry_queue: the worker timeout puts a silent worker's trial back on it, a trial that
                      ends after all is taken off it, and the progress view shows its trials as QUEUED.
  save_trial          Oracle._save_trial: keras-tuner does not save the trial whose failure ends the search.
  mix_in              the class swap: the tuner builds its oracle, and keras-tuner's lock table holds it by identity,
                      so the chief's behaviour goes onto that very object by changing its class.
  add_servicer        keras_tuner.src.distribute.oracle_chief.OracleServicer and keras_tuner.src.protos: keras-tuner's
                      own gRPC service for the chief (it only starts it from inside tuner.search).
  connect_client      OracleClient.stub, replaced by one on a channel that reconnects within seconds when a chief
                      comes back (gRPC's default backoff grows to 2 minutes).
  set_client_timeout  keras_tuner.src.distribute.oracle_client.TIMEOUT: keras-tuner waits an hour for a chief;
                      ours is --connect-timeout.
  get_trial_call      keras_tuner.src.protos' GetTrialRequest: the worker's heartbeat.

keras-tuner is imported inside the functions: importing it starts TensorFlow, which the supervisor never needs.
"""

from __future__ import annotations

import functools
import json
import os
import threading

from digitedge import atomic


def guarded(func):
    """keras-tuner's @synchronized, except that an exception releases the oracle's lock."""

    @functools.wraps(func)
    def wrapper(self, *args, **kwargs):
        from keras_tuner.src.engine import oracle as oracle_module

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


class AtomicSaves:
    """Mixed into an Oracle: oracle.json and each trial.json are written whole or not at all."""

    def save(self):
        atomic.write_text(self._get_oracle_fname(), json.dumps(self.get_state()))

    def _save_trial(self, trial):
        atomic.write_text(os.path.join(self._get_trial_dir(trial.trial_id), "trial.json"),
                          json.dumps(trial.get_state()))


def retry_queue(oracle) -> list:
    """The oracle's queue of trial IDs to hand out again (the list itself: changes to it count)."""
    return oracle._retry_queue


def save_trial(oracle, trial) -> None:
    oracle._save_trial(trial)


def mix_in(obj, mixin: type, prefix: str):
    """obj, its class changed in place to one with `mixin` first: every reference to obj sees the change."""
    cls = type(obj)
    obj.__class__ = type(f"{prefix}{cls.__name__}", (mixin, cls), {})
    return obj


def add_servicer(server, oracle) -> None:
    """keras-tuner's OracleServicer for `oracle` on a grpc.server."""
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer

    protos.get_service_grpc().add_OracleServicer_to_server(OracleServicer(oracle), server)


def connect_client(client, address: str):
    """Point an OracleClient at address over a quickly reconnecting channel; returns the channel (to close)."""
    import grpc
    from keras_tuner.src import protos

    channel = grpc.insecure_channel(address, options=[("grpc.max_reconnect_backoff_ms", 2000)])
    client.stub = protos.get_service_grpc().OracleStub(channel)
    return channel


def set_client_timeout(seconds: float) -> None:
    """How long an OracleClient call waits for the chief."""
    from keras_tuner.src.distribute import oracle_client

    oracle_client.TIMEOUT = seconds


def get_trial_call(client, trial_id: str):
    """call(timeout): the chief's GetTrial for trial_id, through the client's stub (raises grpc.RpcError)."""
    from keras_tuner.src import protos

    request = protos.get_service().GetTrialRequest(trial_id=trial_id)
    return lambda timeout: client.stub.GetTrial(request, timeout=timeout)
