"""`digitedge train`, `digitedge tune`, `digitedge report` and `digitedge publish`."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer

from digitedge.commands import one_line_errors
from digitedge.commands.options import DataDir, default_out
from digitedge.errors import DigitedgeError

PRESET_HELP = ("quick (a subset, a few epochs: tests and demos), release (full data and search) or robust "
               "(release with noise, blur, elastic, stroke, contrast and inversion augmentation).")
DISTRIBUTED = "Distributed"  # tune's help panel for the flags of a search on several processes


def option(type_, *decls: str, **kw):
    """An option alias for train and tune; without decls typer names the flag after the parameter."""
    return Annotated[type_, typer.Option(*decls, **kw)]


# Options of both train and tune (None: keep the preset's value).
Preset = option(str, "--preset", "-p", help=PRESET_HELP)
RunDir = option(Optional[Path], "--out", "-o", help="Run folder (default: runs/<kind>-<time>).")
Epochs = option(Optional[int], help="Epochs of the (final) training.")
BatchSize = option(Optional[int], help="Batch size.")
TrainSubset = option(Optional[int], help="Use this many training images (0: all).")
TestSubset = option(Optional[int], help="Report on this many test images (0: all 10,000).")
ValSize = option(Optional[int], help="Training images held out for validation.")
Patience = option(Optional[int], help="Early-stopping patience in epochs.")
Seed = option(Optional[int], help="Random seed: the same seed gives the same run.")
TimeBudget = option(Optional[float], help="Minutes the (final) training may take; 0: no limit.")
Augment = option(Optional[bool], "--augment/--no-augment", help="Rotation, shift and zoom of training images.")
Rotation = option(Optional[float], help="Augmentation: max rotation in degrees.")
Shift = option(Optional[float], help="Augmentation: max shift, fraction of the image.")
Zoom = option(Optional[float], help="Augmentation: max zoom, fraction.")
# train only: the model and the robust augmentations (tune searches the model).
ConvBlocks = option(Optional[int], help="Conv blocks (1-3).")
Filters = option(Optional[int], help="Filters of the first block (doubling per block).")
DenseUnits = option(Optional[int], help="Units of the dense layer.")
Dropout = option(Optional[float], help="Dropout rate.")
LearningRate = option(Optional[float], help="Adam's learning rate.")
BatchNorm = option(Optional[bool], "--batch-norm/--no-batch-norm", help="Batch normalization.")
Noise = option(Optional[float], help="Augmentation: Gaussian noise, max sigma (of white); 0: off.")
Blur = option(Optional[float], help="Augmentation: Gaussian blur, max sigma in pixels; 0: off.")
Elastic = option(Optional[float], help="Augmentation: elastic distortion strength; 0: off.")
Thickness = option(Optional[int], help="Augmentation: strokes thinner/thicker by up to N 3x3 steps; 0: off.")
Contrast = option(Optional[float], help="Augmentation: contrast changed by up to this fraction; 0: off.")
Invert = option(Optional[float], help="Augmentation: share of images made dark-on-light; 0: off.")
Lines = option(Optional[float], help="Augmentation: a straight line across, up to this many px wide; 0: off.")
Lighting = option(Optional[float], help="Augmentation: uneven light, up to this share of white; 0: off.")
Init = option(Optional[Path], help="Start from this model.keras's weights (same architecture): fine-tuning.")
ROBUST = ("noise", "blur", "elastic", "thickness", "contrast", "invert", "lines", "lighting")
# tune only: the search.
Algorithm = option(Optional[str], help="random, hyperband or bayesian.")
MaxTrials = option(Optional[int], help="Trials to run (random and bayesian).")
TrialEpochs = option(Optional[int], help="Epochs per trial.")
TrialSubset = option(Optional[int], help="Training images per trial (0: all).")
TrialCompute = option(Optional[float], help="Giga multiply-adds each trial may spend (equal compute: cheap models see "
                      "more images); 0: equal epochs.")
SpaceInts = option(Optional[str], help="Search space, e.g. 32,64,128.")
SpaceLearningRate = option(Optional[str], help="Search space, e.g. 0.01,0.001,0.0001.")
SpaceDropout = option(Optional[str], help="Search space, e.g. 0.1,0.25,0.4.")
SpaceConvBlocks = option(Optional[str], help="Search space, e.g. 2,3.")
SPACE_TYPES = {"filters": int, "dense_units": int, "learning_rate": float, "dropout": float, "conv_blocks": int}
SearchOnly = option(bool, "--search-only", help="Stop after the search: trials.csv, trials.png and search.json "
                    "(the chosen trial); the same command without it, on the same --out, retrains.")
# tune only: several processes or machines.
Workers = option(Optional[int], "--workers", "-w", rich_help_panel=DISTRIBUTED,
                 help="Run the search on a chief and N worker processes on this machine.")
Role = option(Optional[str], rich_help_panel=DISTRIBUTED,
              help="Several machines: chief (serves the search, writes the report) or worker.")
Bind = option(Optional[str], rich_help_panel=DISTRIBUTED,
              help="Chief: HOST:PORT to listen on (default 127.0.0.1:8470; a bare PORT means 127.0.0.1).")
Chief = option(Optional[str], help="Worker: the chief's HOST:PORT.", rich_help_panel=DISTRIBUTED)
WorkerId = option(Optional[str], rich_help_panel=DISTRIBUTED,
                  help="Worker: its name; a worker restarted with the same name gets its unfinished trial back.")
WorkerTimeout = option(float, rich_help_panel=DISTRIBUTED,
                       help="Chief (and --workers): seconds of silence after which a worker's trial goes to another "
                       "worker.")
ThreadsPerWorker = option(int, rich_help_panel=DISTRIBUTED,
                          help="TensorFlow threads per worker (0: the cores divided among the workers; all for --role "
                          "worker).")
MaxRestarts = option(int, help="--workers: times a worker that dies is restarted.", rich_help_panel=DISTRIBUTED)
ConnectTimeout = option(float, rich_help_panel=DISTRIBUTED,
                        help="Worker: seconds to wait for the chief (at start, or when it goes away).")


def given_flags(ctx: typer.Context) -> dict:
    """Every flag of the command by parameter name, as click parsed it, in the order --help lists them."""
    return {p.name: ctx.params[p.name] for p in ctx.command.params if p.name in ctx.params}


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
    init = flags.get("init")
    return overrides(base, **pick, time_budget_min=flags.get("time_budget"), init=str(init) if init else None,
                     model=overrides(base.model, **model), augment=overrides(base.augment, **augment))


def build_tune_config(preset_name: str, flags: dict):
    """The preset's TuneConfig with the search and training flags the user gave, checked."""
    from digitedge.train.config import preset

    base = preset(preset_name)
    train_cfg = build_train_config(preset_name, flags)
    space = overrides(base.space, **{
        name: parse_list(flags[f"space_{name}"], cast, f"--space-{name.replace('_', '-')}")
        for name, cast in SPACE_TYPES.items()
    })
    search = {k: flags[k] for k in ("algorithm", "max_trials", "trial_epochs", "trial_subset", "trial_compute")}
    cfg = overrides(base, train=train_cfg, space=space, **search)
    cfg.check()
    return cfg


@one_line_errors
def train(
    ctx: typer.Context, preset: Preset = "quick", data_dir: DataDir = None, out: RunDir = None,
    epochs: Epochs = None, batch_size: BatchSize = None, train_subset: TrainSubset = None,
    test_subset: TestSubset = None, val_size: ValSize = None, patience: Patience = None, seed: Seed = None,
    time_budget: TimeBudget = None, conv_blocks: ConvBlocks = None, filters: Filters = None,
    dense_units: DenseUnits = None, dropout: Dropout = None, learning_rate: LearningRate = None,
    batch_norm: BatchNorm = None, augment: Augment = None, rotation: Rotation = None, shift: Shift = None,
    zoom: Zoom = None, noise: Noise = None, blur: Blur = None, elastic: Elastic = None, thickness: Thickness = None,
    contrast: Contrast = None, invert: Invert = None, lines: Lines = None, lighting: Lighting = None,
    init: Init = None,
) -> None:
    """Train the CNN once with fixed settings and write its report folder."""
    cfg = build_train_config(preset, given_flags(ctx))
    cfg.check()
    mnist = load_data(data_dir)
    from digitedge.train.run import train as run_train

    out = out or default_out("train")
    print_summary(run_train(cfg, mnist, out), out)


@one_line_errors
def tune(
    ctx: typer.Context, preset: Preset = "quick", data_dir: DataDir = None, out: RunDir = None,
    algorithm: Algorithm = None, max_trials: MaxTrials = None, trial_epochs: TrialEpochs = None,
    trial_subset: TrialSubset = None, trial_compute: TrialCompute = None, space_filters: SpaceInts = None,
    space_dense_units: SpaceInts = None, space_learning_rate: SpaceLearningRate = None,
    space_dropout: SpaceDropout = None, space_conv_blocks: SpaceConvBlocks = None,
    epochs: Epochs = None, batch_size: BatchSize = None, train_subset: TrainSubset = None,
    test_subset: TestSubset = None, val_size: ValSize = None, patience: Patience = None, seed: Seed = None,
    time_budget: TimeBudget = None, augment: Augment = None, rotation: Rotation = None, shift: Shift = None,
    zoom: Zoom = None, search_only: SearchOnly = False,
    workers: Workers = None, role: Role = None, bind: Bind = None, chief: Chief = None, worker_id: WorkerId = None,
    worker_timeout: WorkerTimeout = 120.0, threads_per_worker: ThreadsPerWorker = 0, max_restarts: MaxRestarts = 3,
    connect_timeout: ConnectTimeout = 60.0,
) -> None:
    """Search hyperparameters with keras-tuner, retrain the best, write the report. Resumes in the same --out."""
    flags = given_flags(ctx)
    cfg = build_tune_config(preset, flags)
    address = check_distributed_flags(workers, role, bind, chief, worker_id, worker_timeout, threads_per_worker,
                                      max_restarts, connect_timeout)
    if role and out is None:
        raise DigitedgeError(f"--role {role} needs --out: the search's run folder, shared by every machine")
    if search_only and (workers or role):
        raise DigitedgeError("--search-only runs in one process: not with --workers or --role")
    mnist = load_data(data_dir)
    out = out or default_out("tune")
    if workers:
        from digitedge.train.distributed import flag_args, supervise

        settings = {k: v for k, v in flags.items() if k not in (*DISTRIBUTED_FLAGS, "out", "search_only")}
        supervise(out, workers, flag_args(settings), threads=threads_per_worker, max_restarts=max_restarts,
                  worker_timeout=worker_timeout)
        return print_summary(load_metrics(out), out)
    if role == "worker":
        from digitedge.train.distributed import default_worker_id, run_worker, thread_env

        os.environ.update(thread_env(threads_per_worker))  # before TensorFlow starts
        run_worker(cfg, mnist, out, *address, worker_id=worker_id or default_worker_id(),
                   threads=threads_per_worker, connect_timeout=connect_timeout)
        return None
    if role == "chief":
        from digitedge.train.distributed import run_chief

        return print_summary(run_chief(cfg, mnist, out, *address, worker_timeout=worker_timeout), out)
    from digitedge.train.run import tune as run_tune

    if search_only:
        chosen = run_tune(cfg, mnist, out, search_only=True)["chosen_trial"]
        return typer.echo(f"search done: trial {chosen['trial_id']} chosen ({100 * chosen['val_accuracy']:.2f}% "
                          f"validation); {out}/trials.csv; retrain: the same command without --search-only")
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
