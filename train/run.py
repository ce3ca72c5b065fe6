"""A training or tuning run, from data to a report folder holding model.keras and its evidence."""

from __future__ import annotations

import json
import platform
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import keras
import keras_tuner as kt
import numpy as np

from digitedge import __version__, atomic
from digitedge.data import Mnist
from digitedge.errors import DigitedgeError
from digitedge.train.config import ModelConfig, TrainConfig, TuneConfig
from digitedge.train.dataset import Splits, split
from digitedge.train.fit import callbacks, fit, progress_mode
from digitedge.train.model import HyperModel, build_model, config_from_hp, multiply_adds, plain_copy
from digitedge.train.report import write_report, write_trials
from digitedge.train.rundir import prepare_run_dir

TUNERS = {"random": kt.RandomSearch, "hyperband": kt.Hyperband, "bayesian": kt.BayesianOptimization}
# Trials within this much validation accuracy of the best count as tied; the smallest wins.
# Short trials on a subset are noisy (the standard error on 5,000 images is ~0.2 points).
TIE = 0.003


def versions() -> dict:
    import tensorflow as tf

    return {
        "digitedge": __version__, "python": platform.python_version(), "tensorflow": tf.__version__,
        "keras": keras.__version__, "keras_tuner": kt.__version__, "numpy": np.__version__,
    }


def save_model(model: keras.Model, path: Path) -> None:
    with atomic.atomic_path(path) as tmp:
        model.save(tmp)


def finish(run_dir: Path, trained, cfg: ModelConfig, data: Splits, history: dict, info: dict,
           started: float) -> dict:
    model = plain_copy(trained, cfg)  # reported as it is saved: stock layers
    save_model(model, run_dir / "model.keras")
    return write_report(run_dir, model, data.x_test, data.y_test, history, {**info, **run_record(started)})


def run_record(started: float) -> dict:
    """What every run records of itself: how long it took, with what, started how."""
    return {"wall_time_s": round(time.time() - started, 1), "versions": versions(),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])}


def data_info(mnist: Mnist, cfg: TrainConfig, data: Splits) -> dict:
    return {"data_sha256": mnist.sha256, "data_source": str(mnist.source), "seed": cfg.seed,
            "train_images": len(data.y_train), "val_images": len(data.y_val)}


def train(cfg: TrainConfig, mnist: Mnist, run_dir: Path, verbose=None) -> dict:
    """Train one model with cfg and write the report; returns metrics."""
    cfg.check()
    started = time.time()
    keras.utils.set_random_seed(cfg.seed)
    model = build_model(cfg.model)
    if cfg.init:  # before the run folder exists: a model that does not fit leaves nothing behind
        start_from(model, Path(cfg.init))
    run_dir = prepare_run_dir(run_dir, "train")
    data = split(mnist, cfg)
    history = fit(model, data, cfg, verbose=verbose).history
    info = {"kind": "train", "config": asdict(cfg), "hyperparameters": asdict(cfg.model), **data_info(mnist, cfg, data)}
    if cfg.init:
        info["started_from"] = started_from(Path(cfg.init))
    return finish(run_dir, model, cfg.model, data, history, info, started)


def start_from(model: keras.Model, path: Path) -> None:
    """Fine-tuning: the weights of a saved model with the same layers."""
    try:
        source = keras.models.load_model(path, compile=False)  # weights only: no optimizer warning
    except (OSError, ValueError) as e:
        raise DigitedgeError(f"{path}: cannot load the model to start from ({str(e).splitlines()[0]})") from None
    ours, theirs = [w.shape for w in model.get_weights()], [w.shape for w in source.get_weights()]
    if ours != theirs:
        raise DigitedgeError(f"{path}: its weights do not fit the model being trained (other conv blocks, "
                             "filters, dense units or batch norm)")
    model.set_weights(source.get_weights())


def started_from(path: Path) -> dict:
    """What a fine-tuned model owes to the run it started from: that run's command, time and epochs."""
    found = {"model": str(path)}
    metrics = path.parent / "metrics.json"
    if metrics.exists():
        m = json.loads(metrics.read_text())
        found.update(command=m.get("command"), wall_time_s=m.get("wall_time_s"),
                     epochs=len(m.get("history", {}).get("loss", [])), test_accuracy=m.get("test_accuracy"))
    return found


def make_tuner(cfg: TuneConfig, run_dir: Path, **kwargs) -> kt.Tuner:
    common = dict(
        hypermodel=HyperModel(cfg.space, cfg.train.model, cfg.trial_compute, cfg.train.batch_size,
                              cfg.fit_epochs),
        objective="val_accuracy", seed=cfg.train.seed,
        directory=str(run_dir), project_name="search", overwrite=False, **kwargs,
    )
    if cfg.algorithm == "hyperband":
        return kt.Hyperband(max_epochs=cfg.trial_epochs, factor=3, max_consecutive_failed_trials=3, **common)
    return TUNERS[cfg.algorithm](max_trials=cfg.max_trials, max_consecutive_failed_trials=3, **common)


def trial_rows(tuner: kt.Tuner) -> list[dict]:
    rows = []
    for trial in sorted(tuner.oracle.trials.values(), key=lambda t: int(t.trial_id)):
        # Its training accuracy beside: a trial that learned but validates at chance is judged wrongly.
        trained = trial.metrics.get_last_value("accuracy") if trial.metrics.exists("accuracy") else None
        rows.append({"trial_id": trial.trial_id, "status": trial.status, "val_accuracy": trial.score,
                     "train_accuracy": trained, "hyperparameters": dict(trial.hyperparameters.values)})
    return rows


def choose(tuner: kt.Tuner, cfg: TuneConfig) -> tuple[ModelConfig, dict]:
    """The best trial, or the cheapest model tied with it (fewest multiply-adds, then parameters).

    Cheaper models train more epochs within the final time budget and run faster on the device.
    """
    ranked = tuner.oracle.get_best_trials(num_trials=len(tuner.oracle.trials))
    if not ranked:
        raise DigitedgeError("the search finished no trial; see the errors above")
    top = ranked[0].score
    tied = [t for t in ranked if t.score is not None and t.score >= top - TIE]
    costed = []
    for t in tied:
        model = build_model(config_from_hp(t.hyperparameters, cfg.space, cfg.train.model))
        costed.append((multiply_adds(model), model.count_params(), -t.score, t))
    macs, params, _, best = min(costed, key=lambda c: c[:3])
    return config_from_hp(best.hyperparameters, cfg.space, cfg.train.model), {
        "trial_id": best.trial_id, "val_accuracy": best.score, "parameters": params, "multiply_adds": macs,
        "tied_trials": len(tied)}


def tune(cfg: TuneConfig, mnist: Mnist, run_dir: Path, verbose=None, search_only: bool = False,
         **tuner_kwargs) -> dict:
    """Search, retrain the chosen model on the full training split, write the report with trials.

    With search_only, stop after the search: trials.csv, trials.png and search.json (the chosen
    trial); the same command without it, on the same folder, then retrains.
    """
    cfg.check()
    started = time.time()
    run_dir = prepare_run_dir(run_dir, "tune")
    keras.utils.set_random_seed(cfg.train.seed)
    tuner = make_tuner(cfg, run_dir, **tuner_kwargs)
    search(tuner, cfg, mnist, verbose)
    if search_only:
        return write_search(tuner, cfg, run_dir, started)
    return retrain_best(tuner, cfg, mnist, run_dir, started, verbose)


def search_outcome(tuner: kt.Tuner, cfg: TuneConfig, run_dir: Path) -> tuple[ModelConfig, dict]:
    """(the chosen model, what the search found): trials.csv and trials.png are written here."""
    best_model, chosen = choose(tuner, cfg)
    trials = trial_rows(tuner)
    write_trials(trials, run_dir)
    return best_model, {"algorithm": cfg.algorithm, "config": asdict(cfg), "hyperparameters": asdict(best_model),
                        "chosen_trial": chosen, "trials": trials}


def write_search(tuner: kt.Tuner, cfg: TuneConfig, run_dir: Path, started: float) -> dict:
    _, found = search_outcome(tuner, cfg, run_dir)
    info = {"kind": "search", **found, **run_record(started)}
    atomic.write_text(run_dir / "search.json", json.dumps(info, indent=1) + "\n")
    return info


def search(tuner: kt.Tuner, cfg: TuneConfig, mnist: Mnist, verbose=None) -> None:
    """Run the tuner's trials on the trial subset (in a distributed search: this worker's share)."""
    trial_cfg = replace(cfg.train, epochs=cfg.fit_epochs)
    trial_data = split(mnist, trial_cfg, train_subset=cfg.trial_subset)
    train_ds, val_ds = pipeline_pair(trial_data, trial_cfg)
    try:
        tuner.search(
            train_ds, validation_data=val_ds, epochs=trial_cfg.epochs,
            callbacks=callbacks(trial_cfg, train_ds), verbose=progress_mode() if verbose is None else verbose,
        )
    except RuntimeError as e:  # keras-tuner gives up after repeated failed trials
        raise DigitedgeError(f"the search stopped: {e}") from None


def pipeline_pair(data: Splits, cfg: TrainConfig) -> tuple:
    from digitedge.train.dataset import pipeline

    return pipeline(data.x_train, data.y_train, cfg, True), pipeline(data.x_val, data.y_val, cfg, False)


def retrain_best(tuner: kt.Tuner, cfg: TuneConfig, mnist: Mnist, run_dir: Path, started: float, verbose) -> dict:
    best_model, found = search_outcome(tuner, cfg, run_dir)
    final_cfg = replace(cfg.train, model=best_model)
    data = split(mnist, final_cfg)
    keras.utils.set_random_seed(cfg.train.seed)
    model = build_model(best_model)
    history = fit(model, data, final_cfg, verbose=verbose).history
    info = {"kind": "tune", **found, **data_info(mnist, final_cfg, data)}
    return finish(run_dir, model, best_model, data, history, info, started)
