"""Distributed tuning on keras-tuner's own chief/worker mode: one oracle served over gRPC, workers ask it for trials.

Roles (all started by `digitedge tune`), one module each:
  chief       chief.py: keras-tuner's oracle as a gRPC service (keras-tuner's OracleServicer) with a worker
              timeout; then it retrains the best trial and writes the usual report folder.
  worker      worker.py: keras-tuner's own worker (KERASTUNER_TUNER_ID / _ORACLE_IP / _ORACLE_PORT) running
              tuner.search, with a heartbeat.
  supervisor  supervisor.py: `--workers N` starts a chief and N workers on 127.0.0.1, restarts a worker that dies
              (same ID, so it gets its trial back), and shows one combined progress view read from the chief's
              progress.json.
common.py holds what they share; kt_internals.py every use of keras-tuner's internals, and why.
Importing this package does not start TensorFlow: the supervisor and the flag checks need none.
"""

from digitedge.train.distributed.chief import run_chief
from digitedge.train.distributed.common import CHIEF_ID, DEFAULT_HOST, PROGRESS, SETTINGS, parse_address, thread_env
from digitedge.train.distributed.supervisor import flag_args, supervise
from digitedge.train.distributed.worker import check_settings, default_worker_id, run_worker

__all__ = ["CHIEF_ID", "DEFAULT_HOST", "PROGRESS", "SETTINGS", "check_settings", "default_worker_id", "flag_args",
           "parse_address", "run_chief", "run_worker", "supervise", "thread_env"]
