"""`digitedge train`, `digitedge tune` and `digitedge report`."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer

from digitedge.commands import one_line_errors
from digitedge.errors import DigitedgeError

PRESET_HELP = ("quick (a subset, a few epochs: tests and demos), release (full data and search) or robust "
               "(release with noise, blur, elastic, stroke, contrast and inversion augmentation).")


def quiet_tensorflow() -> None:
    # Before TensorFlow loads: its C++ start-up chatter is not for users.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def default_out(kind: str) -> Path:
    return Path("runs") / f"{kind}-{datetime.now():%Y%m%d-%H%M%S}"


def parse_list(text: Optional[str], cast, flag: str) -> Optional[tuple]:
    if text is None:
        return None
    try:
        return tuple(cast(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise DigitedgeError(f"{flag} {text!r}: expected comma-separated numbers") from None


def overrides(base, **values):
    """A dataclass with the flags the user gave (None means: keep the preset's)."""
    return replace(base, **{k: v for k, v in values.items() if v is not None})


def build_train_config(preset_name: str, flags: dict):
    """The preset's TrainConfig with every flag the user gave (a flag left at None keeps the preset's)."""
    from digitedge.train.config import preset

    base = preset(preset_name).train
    pick = {k: flags.get(k) for k in ("epochs", "batch_size", "train_subset", "test_subset", "val_size",
                                      "patience", "seed")}
    model = {k: flags.get(k) for k in ("conv_blocks", "filters", "dense_units", "dropout", "learning_rate",
                                       "batch_norm")}
    augment = {"enabled": flags.get("augment"), **{k: flags.get(k) for k in ("rotation", "shift", "zoom", *ROBUST)}}
    return overrides(base, **pick, time_budget_min=flags.get("time_budget"),
                     model=overrides(base.model, **model), augment=overrides(base.augment, **augment))


# Options shared by train and tune, as a dict so each command lists them once in its signature.
OPT = {
    "preset": typer.Option("quick", "--preset", "-p", help=PRESET_HELP),
    "data_dir": typer.Option(None, "--data-dir", help="MNIST folder (else $DIGITEDGE_DATA, else the cache)."),
    "out": typer.Option(None, "--out", "-o", help="Run folder (default: runs/<kind>-<time>)."),
    "epochs": typer.Option(None, help="Epochs of the (final) training."),
    "batch_size": typer.Option(None, help="Batch size."),
    "train_subset": typer.Option(None, help="Use this many training images (0: all)."),
    "test_subset": typer.Option(None, help="Report on this many test images (0: all 10,000)."),
    "val_size": typer.Option(None, help="Training images held out for validation."),
    "patience": typer.Option(None, help="Early-stopping patience in epochs."),
    "seed": typer.Option(None, help="Random seed: the same seed gives the same run."),
    "time_budget": typer.Option(None, help="Minutes the (final) training may take; 0: no limit."),
    "conv_blocks": typer.Option(None, help="Conv blocks (1-3)."),
    "filters": typer.Option(None, help="Filters of the first block (doubling per block)."),
    "dense_units": typer.Option(None, help="Units of the dense layer."),
    "dropout": typer.Option(None, help="Dropout rate."),
    "learning_rate": typer.Option(None, help="Adam's learning rate."),
    "batch_norm": typer.Option(None, "--batch-norm/--no-batch-norm", help="Batch normalization."),
    "augment": typer.Option(None, "--augment/--no-augment", help="Rotation, shift and zoom of training images."),
    "rotation": typer.Option(None, help="Augmentation: max rotation in degrees."),
    "shift": typer.Option(None, help="Augmentation: max shift, fraction of the image."),
    "zoom": typer.Option(None, help="Augmentation: max zoom, fraction."),
    "noise": typer.Option(None, help="Augmentation: Gaussian noise, max sigma (of white); 0: off."),
    "blur": typer.Option(None, help="Augmentation: Gaussian blur, max sigma in pixels; 0: off."),
    "elastic": typer.Option(None, help="Augmentation: elastic distortion strength; 0: off."),
    "thickness": typer.Option(None, help="Augmentation: strokes thinner/thicker by up to N 3x3 steps; 0: off."),
    "contrast": typer.Option(None, help="Augmentation: contrast changed by up to this fraction; 0: off."),
    "invert": typer.Option(None, help="Augmentation: share of images made dark-on-light; 0: off."),
}
ROBUST = ("noise", "blur", "elastic", "thickness", "contrast", "invert")


@one_line_errors
def train(
    preset: str = OPT["preset"], data_dir: Optional[Path] = OPT["data_dir"], out: Optional[Path] = OPT["out"],
    epochs: Optional[int] = OPT["epochs"], batch_size: Optional[int] = OPT["batch_size"],
    train_subset: Optional[int] = OPT["train_subset"], test_subset: Optional[int] = OPT["test_subset"],
    val_size: Optional[int] = OPT["val_size"], patience: Optional[int] = OPT["patience"],
    seed: Optional[int] = OPT["seed"], time_budget: Optional[float] = OPT["time_budget"],
    conv_blocks: Optional[int] = OPT["conv_blocks"], filters: Optional[int] = OPT["filters"],
    dense_units: Optional[int] = OPT["dense_units"], dropout: Optional[float] = OPT["dropout"],
    learning_rate: Optional[float] = OPT["learning_rate"], batch_norm: Optional[bool] = OPT["batch_norm"],
    augment: Optional[bool] = OPT["augment"], rotation: Optional[float] = OPT["rotation"],
    shift: Optional[float] = OPT["shift"], zoom: Optional[float] = OPT["zoom"],
    noise: Optional[float] = OPT["noise"], blur: Optional[float] = OPT["blur"],
    elastic: Optional[float] = OPT["elastic"], thickness: Optional[int] = OPT["thickness"],
    contrast: Optional[float] = OPT["contrast"], invert: Optional[float] = OPT["invert"],
) -> None:
    """Train the CNN once with fixed settings and write its report folder."""
    cfg = build_train_config(preset, locals())
    cfg.check()
    mnist = load_data(data_dir)
    quiet_tensorflow()
    from digitedge.train.run import train as run_train

    out = out or default_out("train")
    print_summary(run_train(cfg, mnist, out), out)


@one_line_errors
def tune(
    preset: str = OPT["preset"], data_dir: Optional[Path] = OPT["data_dir"], out: Optional[Path] = OPT["out"],
    algorithm: Optional[str] = typer.Option(None, help="random, hyperband or bayesian."),
    max_trials: Optional[int] = typer.Option(None, help="Trials to run (random and bayesian)."),
    trial_epochs: Optional[int] = typer.Option(None, help="Epochs per trial."),
    trial_subset: Optional[int] = typer.Option(None, help="Training images per trial (0: all)."),
    trial_compute: Optional[float] = typer.Option(
        None, help="Giga multiply-adds each trial may spend (equal compute: cheap models see more images); 0: "
        "equal epochs."),
    space_filters: Optional[str] = typer.Option(None, help="Search space, e.g. 32,64,128."),
    space_dense_units: Optional[str] = typer.Option(None, help="Search space, e.g. 32,64,128."),
    space_learning_rate: Optional[str] = typer.Option(None, help="Search space, e.g. 0.01,0.001,0.0001."),
    space_dropout: Optional[str] = typer.Option(None, help="Search space, e.g. 0.1,0.25,0.4."),
    space_conv_blocks: Optional[str] = typer.Option(None, help="Search space, e.g. 2,3."),
    epochs: Optional[int] = OPT["epochs"], batch_size: Optional[int] = OPT["batch_size"],
    train_subset: Optional[int] = OPT["train_subset"], test_subset: Optional[int] = OPT["test_subset"],
    val_size: Optional[int] = OPT["val_size"], patience: Optional[int] = OPT["patience"],
    seed: Optional[int] = OPT["seed"], time_budget: Optional[float] = OPT["time_budget"],
    augment: Optional[bool] = OPT["augment"], rotation: Optional[float] = OPT["rotation"],
    shift: Optional[float] = OPT["shift"], zoom: Optional[float] = OPT["zoom"],
    workers: Optional[int] = typer.Option(
        None, "--workers", "-w", help="Run the search on a chief and N worker processes on this machine.",
        rich_help_panel="Distributed"),
    role: Optional[str] = typer.Option(
        None, help="Several machines: chief (serves the search, writes the report) or worker.",
        rich_help_panel="Distributed"),
    bind: Optional[str] = typer.Option(
        None, help="Chief: HOST:PORT to listen on (default 127.0.0.1:8470; a bare PORT means 127.0.0.1).",
        rich_help_panel="Distributed"),
    chief: Optional[str] = typer.Option(None, help="Worker: the chief's HOST:PORT.", rich_help_panel="Distributed"),
    worker_id: Optional[str] = typer.Option(
        None, help="Worker: its name; a worker restarted with the same name gets its unfinished trial back.",
        rich_help_panel="Distributed"),
    worker_timeout: float = typer.Option(
        120.0, help="Chief (and --workers): seconds of silence after which a worker's trial goes to another worker.",
        rich_help_panel="Distributed"),
    threads_per_worker: int = typer.Option(
        0, help="TensorFlow threads per worker (0: the cores divided among the workers; all for --role worker).",
        rich_help_panel="Distributed"),
    max_restarts: int = typer.Option(
        3, help="--workers: times a worker that dies is restarted.", rich_help_panel="Distributed"),
    connect_timeout: float = typer.Option(
        60.0, help="Worker: seconds to wait for the chief (at start, or when it goes away).",
        rich_help_panel="Distributed"),
) -> None:
    """Search hyperparameters with keras-tuner, retrain the best, write the report. Resumes in the same --out."""
    given = dict(locals())
    from digitedge.train.config import preset as get_preset

    base = get_preset(preset)
    train_cfg = build_train_config(preset, locals())
    space = overrides(
        base.space, filters=parse_list(space_filters, int, "--space-filters"),
        dense_units=parse_list(space_dense_units, int, "--space-dense-units"),
        learning_rate=parse_list(space_learning_rate, float, "--space-learning-rate"),
        dropout=parse_list(space_dropout, float, "--space-dropout"),
        conv_blocks=parse_list(space_conv_blocks, int, "--space-conv-blocks"),
    )
    cfg = overrides(base, train=train_cfg, space=space, algorithm=algorithm, max_trials=max_trials,
                    trial_epochs=trial_epochs, trial_subset=trial_subset,
                    trial_compute=trial_compute)
    cfg.check()
    distributed = check_distributed_flags(workers, role, bind, chief, worker_id, worker_timeout, threads_per_worker,
                                          max_restarts, connect_timeout)
    if role and out is None:
        raise DigitedgeError(f"--role {role} needs --out: the search's run folder, shared by every machine")
    mnist = load_data(data_dir)
    out = out or default_out("tune")
    if workers:
        from digitedge.train.distributed import flag_args, supervise

        settings = {k: v for k, v in given.items() if k not in DISTRIBUTED_FLAGS and k != "out"}
        supervise(out, workers, flag_args(settings), threads=threads_per_worker, max_restarts=max_restarts,
                  worker_timeout=worker_timeout)
        return print_summary(load_metrics(out), out)
    quiet_tensorflow()
    if role == "worker":
        from digitedge.train.distributed import default_worker_id, run_worker, thread_env

        os.environ.update(thread_env(threads_per_worker))  # before TensorFlow starts
        run_worker(cfg, mnist, out, *distributed, worker_id=worker_id or default_worker_id(),
                   threads=threads_per_worker, connect_timeout=connect_timeout)
        return None
    if role == "chief":
        from digitedge.train.distributed import run_chief

        return print_summary(run_chief(cfg, mnist, out, *distributed, worker_timeout=worker_timeout), out)
    from digitedge.train.run import tune as run_tune

    print_summary(run_tune(cfg, mnist, out), out)


DISTRIBUTED_FLAGS = ("workers", "role", "bind", "chief", "worker_id", "worker_timeout", "threads_per_worker",
                     "max_restarts", "connect_timeout")


def check_distributed_flags(workers, role, bind, chief, worker_id, worker_timeout, threads, max_restarts,
                            connect_timeout) -> Optional[tuple]:
    """The (host, port) the role needs; one-line errors for flags that do not fit together."""
    from digitedge.train.distributed import CHIEF_ID, DEFAULT_HOST, parse_address

    if workers is not None and workers < 1:
        raise DigitedgeError(f"--workers {workers}: must be 1 or more")
    if role not in (None, "chief", "worker"):
        raise DigitedgeError(f"--role {role!r}: choose chief or worker")
    if workers and role:
        raise DigitedgeError("--workers starts its own chief and workers; leave out --role")
    if worker_timeout <= 0 or connect_timeout <= 0 or threads < 0 or max_restarts < 0:
        raise DigitedgeError("--worker-timeout and --connect-timeout must be positive, "
                             "--threads-per-worker and --max-restarts 0 or more")
    for flag, value, needs in (("--bind", bind, "chief"), ("--chief", chief, "worker"), ("--worker-id", worker_id,
                                                                                         "worker")):
        if value is not None and role != needs:
            raise DigitedgeError(f"{flag} goes with --role {needs}")
    if worker_id is not None and (not worker_id.strip() or CHIEF_ID in worker_id):
        raise DigitedgeError(f"--worker-id {worker_id!r}: must be non-empty and not contain 'chief'")
    if role == "chief":
        return parse_address(bind or f"{DEFAULT_HOST}:8470", "--bind")
    if role == "worker":
        if not chief:
            raise DigitedgeError("--role worker needs --chief HOST:PORT (the chief's --bind)")
        return parse_address(chief, "--chief")
    return None


@one_line_errors
def report(run_dir: Path = typer.Argument(..., help="A run folder written by train or tune.")) -> None:
    """Print the summary of a finished run again."""
    print_summary(load_metrics(run_dir), run_dir)


def load_metrics(run_dir: Path) -> dict:
    from digitedge.train.summary import load_metrics as load

    return load(run_dir)


def load_data(data_dir):
    from digitedge import data

    return data.load_or_fetch(data_dir)


def print_summary(metrics: dict, run_dir: Path) -> None:
    from rich.console import Console

    from digitedge.train.summary import summary_table

    Console().print(summary_table(metrics, run_dir))


@one_line_errors
def publish(
    run_dir: Path = typer.Argument(..., help="A finished train or tune run folder."),
    models_dir: Path = typer.Option(Path("models"), "--to", help="Where the release model and its card go."),
    conversion_report: Path = typer.Option(
        Path("edge_runtime/models/conversion_report.json"), help="Conversion report to add to the card, if present."
    ),
) -> None:
    """Make a run the release model: models/digits.keras, its report images, MODEL_CARD.md."""
    from digitedge.train.card import publish as do_publish

    card = do_publish(run_dir, models_dir, conversion_report)
    typer.echo(f"published {run_dir} -> {models_dir / 'digits.keras'}; card: {card}")
