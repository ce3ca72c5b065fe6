"""Training and tuning on real MNIST: the report's content, resuming a search, bad input."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from cli_helpers import assert_one_error  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from digitedge.cli import app  # noqa: E402
from digitedge.train.config import PRESETS, SearchSpace  # noqa: E402

REPORT_FILES = ["model.keras", "metrics.json", "classification_report.txt", "confusion_matrix.png",
                "curves.png", "predictions.png"]
runner = CliRunner()


@pytest.fixture(scope="module")
def quick_run(mnist, tmp_path_factory):
    from digitedge.train.run import train

    out = tmp_path_factory.mktemp("quick") / "run"
    cfg = PRESETS["quick"].train
    return out, cfg, train(cfg, mnist, out, verbose=0)


def test_quick_run_writes_a_consistent_report(quick_run, mnist):
    from digitedge.train.dataset import split

    out, cfg, metrics = quick_run
    for name in REPORT_FILES:
        assert (out / name).stat().st_size > 0, name
    assert json.loads((out / "metrics.json").read_text()) == metrics
    y_test = split(mnist, cfg).y_test
    cm = np.array(metrics["confusion_matrix"])
    assert cm.sum() == metrics["test_images"] == len(y_test) == cfg.test_subset
    assert cm.trace() / cm.sum() == pytest.approx(metrics["test_accuracy"])
    support = [metrics["per_digit"][str(d)]["support"] for d in range(10)]
    assert support == np.bincount(y_test, minlength=10).tolist() == cm.sum(axis=1).tolist()
    assert metrics["test_accuracy"] > 0.90
    assert metrics["data_sha256"] == mnist.sha256 and metrics["seed"] == cfg.seed
    assert metrics["hyperparameters"]["filters"] == cfg.model.filters
    assert len(metrics["history"]["val_accuracy"]) <= cfg.epochs
    lr0, epochs = cfg.model.learning_rate, len(metrics["history"]["learning_rate"])
    cosine = [lr0 * 0.5 * (1 + math.cos(math.pi * e / cfg.epochs)) for e in range(epochs)]
    assert metrics["history"]["learning_rate"] == pytest.approx(cosine, rel=1e-5)
    assert "precision" in (out / "classification_report.txt").read_text()


def test_saved_model_reproduces_the_reported_accuracy(quick_run, mnist):
    import keras

    from digitedge.train.dataset import split

    out, cfg, metrics = quick_run
    data = split(mnist, cfg)
    model = keras.models.load_model(out / "model.keras")
    pred = model.predict(data.x_test, verbose=0).argmax(axis=1)
    assert np.mean(pred == data.y_test) == pytest.approx(metrics["test_accuracy"])


def test_report_command_prints_the_summary(quick_run):
    out, _, metrics = quick_run
    result = runner.invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    assert f"{100 * metrics['test_accuracy']:.2f}%" in result.output


def run_schedule(monkeypatch, epoch_seconds: list, epochs: int = 20, budget_s: float = 300) -> list:
    """The learning rates a CosineSchedule sets when the epochs take these many (fake) seconds."""
    import keras

    from digitedge.train import fit

    clock, pace = [0.0], iter(epoch_seconds)
    monkeypatch.setattr(fit.time, "monotonic", lambda: clock[0])
    tick = keras.callbacks.LambdaCallback(on_epoch_end=lambda *_: clock.__setitem__(0, clock[0] + next(pace)))
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    x, y = np.zeros((32, 4), np.float32), np.zeros(32, np.int32)
    callbacks = [tick, fit.CosineSchedule(epochs, budget_s=budget_s)]
    return model.fit(x, y, epochs=epochs, verbose=0, callbacks=callbacks).history["learning_rate"]


def test_cosine_schedule_ends_within_the_time_budget(monkeypatch):
    """A 20-epoch schedule given 5 minutes at 60 s an epoch ends, annealed, after epoch 5."""
    rates = run_schedule(monkeypatch, [60] * 20)
    assert len(rates) == 5  # after epoch 1: 60 s an epoch, 240 s left -> 4 more
    assert rates[0] == pytest.approx(0.01)
    assert rates[1:] == pytest.approx([0.005 * (1 + math.cos(math.pi * e / 5)) for e in range(1, 5)], rel=1e-5)


def test_one_slow_epoch_does_not_cut_the_schedule_short(monkeypatch):
    # 30 s epochs but one of 90 s: the usual pace, not the slow epoch, sets the end (8 fit in 300 s).
    assert len(run_schedule(monkeypatch, [30, 90] + [30] * 18)) == 8
    assert len(run_schedule(monkeypatch, [30] * 20)) == 10


def test_equal_compute_trials_give_costly_models_fewer_images():
    from digitedge.train.config import ModelConfig
    from digitedge.train.model import HyperModel, build_model, multiply_adds

    small, wide = build_model(ModelConfig(filters=32)), build_model(ModelConfig(filters=64))
    # 28*28*32*9 + 28*28*32*9*32 + 14*14*64*9*32 + 14*14*64*9*64 + 3136*128 + 128*10
    assert multiply_adds(small) == 18_691_840
    search = HyperModel(SearchSpace(), ModelConfig(), compute_gmacs=750, batch_size=128)
    assert search.steps(small) == 313  # 40,000 images
    assert search.steps(wide) == round(313 * multiply_adds(small) / multiply_adds(wide)) == 80


TINY_SEARCH = replace(
    PRESETS["quick"], max_trials=2, trial_epochs=1, trial_subset=1000, trial_compute=0.5,
    train=replace(PRESETS["quick"].train, epochs=1, train_subset=2000, test_subset=500, val_size=500),
    space=SearchSpace(filters=(8, 16), dense_units=(16, 32), learning_rate=(1e-3,), dropout=(0.25,),
                      conv_blocks=(1, 2)),
)


def trial_states(run_dir: Path) -> dict:
    """trial id -> (status, modification time of its trial.json)."""
    states = {}
    for path in (run_dir / "search").glob("trial_*/trial.json"):
        states[path.parent.name] = (json.loads(path.read_text())["status"], path.stat().st_mtime_ns)
    return states


def test_resumed_search_redoes_no_finished_trial(mnist, tmp_path):
    from digitedge.train.run import tune

    out = tmp_path / "search"
    first = tune(TINY_SEARCH, mnist, out, verbose=0)
    before = trial_states(out)
    assert len(before) == 2 and all(s == "COMPLETED" for s, _ in before.values())
    # Asked for one more trial in the same folder: only that one runs.
    second = tune(replace(TINY_SEARCH, max_trials=3), mnist, out, verbose=0)
    after = trial_states(out)
    assert len(after) == 3
    assert {k: after[k] for k in before} == before  # finished trials untouched
    assert len(second["trials"]) == 3 and len(first["trials"]) == 2
    for name in REPORT_FILES + ["trials.csv", "trials.png"]:
        assert (out / name).stat().st_size > 0, name
    rows = (out / "trials.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 3 and rows[0].startswith("trial,status,val_accuracy,train_accuracy,")
    assert all(0 < float(row.split(",")[3]) <= 1 for row in rows[1:])  # every trial's training accuracy
    assert second["chosen_trial"]["multiply_adds"] > 0 and second["chosen_trial"]["parameters"] == second["parameters"]


@pytest.mark.parametrize("args, expected", [
    (["--conv-blocks", "5"], "conv_blocks=5: must be 1 to 3 (28x28 images halve per block)"),
    (["--dropout", "1.5"], "dropout=1.5: must be in [0, 1)"),
    (["--learning-rate", "0"], "learning_rate=0.0: must be in (0, 1)"),
    (["--epochs", "0"], "epochs=0, batch_size=128: must be positive"),
    (["--preset", "huge"], f"unknown preset 'huge': choose {', '.join(PRESETS)}"),
    (["--init", "nowhere.keras"], "nowhere.keras: no such model file to start from"),
])
def test_impossible_settings_are_refused_before_anything_is_written(tmp_path, args, expected):
    out = tmp_path / "run"
    assert_one_error(runner.invoke(app, ["train", "--out", str(out), *args]), expected)
    assert not out.exists()


def test_fine_tuning_starts_from_the_given_model_and_records_it(quick_run, mnist_dir, tmp_path):
    """--init (issue 17's robust release: a robust run, then a few epochs of the release augmentation)."""
    source, cfg, metrics = quick_run
    common = ["--data-dir", str(mnist_dir), "--init", str(source / "model.keras"), "--epochs", "1",
              "--train-subset", "2000", "--test-subset", "2000"]
    wide = tmp_path / "wide"
    assert_one_error(runner.invoke(app, ["train", "--out", str(wide), "--filters", "32", *common]),
                     f"{source / 'model.keras'}: its weights do not fit the model being trained (other conv "
                     "blocks, filters, dense units or batch norm)")
    assert not wide.exists()
    out = tmp_path / "tuned"
    result = runner.invoke(app, ["train", "--out", str(out), "--learning-rate", "1e-4", *common])
    assert result.exit_code == 0, result.output
    tuned = json.loads((out / "metrics.json").read_text())
    assert tuned["started_from"]["model"] == str(source / "model.keras")
    assert tuned["started_from"]["epochs"] == len(metrics["history"]["loss"])
    # one epoch of 2,000 images at a low rate keeps what the source learned (from scratch: far lower)
    assert tuned["test_accuracy"] > metrics["test_accuracy"] - 0.02


@pytest.mark.parametrize("args, expected", [
    (["--space-filters", ""], "empty search space for filters"),
    (["--space-dropout", "0.1,2"], "dropout=2.0: must be in [0, 1)"),
    (["--space-dense-units", "a,b"], "--space-dense-units 'a,b': expected comma-separated numbers"),
    (["--algorithm", "grid"], "unknown algorithm 'grid': choose random, hyperband, bayesian"),
])
def test_bad_search_spaces_are_refused(tmp_path, args, expected):
    out = tmp_path / "run"
    assert_one_error(runner.invoke(app, ["tune", "--out", str(out), *args]), expected)
    assert not out.exists()


def test_workers_are_given_the_settings_flags_but_not_the_distributed_ones(mnist_dir, tmp_path, monkeypatch):
    """`tune --workers` starts `digitedge tune` children with the user's settings as flags, in --help's order."""
    from digitedge.commands import train as train_command
    from digitedge.train import distributed

    seen = {}
    monkeypatch.setattr(distributed, "supervise", lambda out, workers, flags, **kw: seen.update(flags=flags, **kw))
    monkeypatch.setattr(train_command, "print_summary", lambda metrics, out: None)
    monkeypatch.setattr(train_command, "load_metrics", lambda out: {})
    args = ["--workers", "2", "--max-restarts", "1", "--epochs", "1", "--no-augment", "--space-filters", "8,16",
            "--data-dir", str(mnist_dir), "--out", str(tmp_path / "run")]
    result = runner.invoke(app, ["tune", *args])
    assert result.exit_code == 0, result.output
    assert seen == {"flags": ["--preset", "quick", "--data-dir", str(mnist_dir), "--space-filters", "8,16",
                              "--epochs", "1", "--no-augment"],
                    "threads": 0, "max_restarts": 1, "worker_timeout": 120.0}


def test_missing_dataset(tmp_path):
    missing = tmp_path / "nowhere"
    assert_one_error(runner.invoke(app, ["train", "--data-dir", str(missing), "--out", str(tmp_path / "r")]),
                   f"{missing}: data directory not found (from --data-dir)")


def test_corrupt_dataset(mnist_copy, tmp_path):
    folder = mnist_copy()
    target = folder / "t10k-labels-idx1-ubyte.gz"
    target.write_bytes(target.read_bytes()[:100])
    assert_one_error(runner.invoke(app, ["train", "--data-dir", str(folder), "--out", str(tmp_path / "r")]),
                   f"{target}: truncated or corrupt gzip file")
    assert not (tmp_path / "r").exists()


def test_folder_of_another_tool_is_refused(mnist_dir, tmp_path):
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"not ours")
    assert_one_error(runner.invoke(app, ["train", "--data-dir", str(mnist_dir), "--out", str(foreign)]),
                   f"{foreign}: not empty and not a digitedge run folder; choose another --out")
    assert sorted(p.name for p in foreign.iterdir()) == ["holiday.jpg"]
    assert_one_error(runner.invoke(app, ["report", str(foreign)]),
                   f"{foreign}: not a finished digitedge run folder (no digitedge-run.json or metrics.json)")


def test_unwritable_output_folder(mnist_dir, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should go")
    out = blocker / "run"
    result = runner.invoke(app, ["train", "--data-dir", str(mnist_dir), "--out", str(out)])
    assert_one_error(result, f"{out}: cannot write the run folder (Not a directory)")


def test_release_model_reaches_99_6_percent_on_the_full_test_set(mnist):
    import keras

    from digitedge.edge_runtime.preprocess import normalize

    path = Path(__file__).resolve().parents[1] / "models" / "digits.keras"
    model = keras.models.load_model(path)
    pred = model.predict(normalize(mnist.x_test), batch_size=1000, verbose=0).argmax(axis=1)
    accuracy = np.mean(pred == mnist.y_test)
    assert accuracy >= 0.996, f"release model: {100 * accuracy:.2f}% on the 10,000 test images"


def test_publish_writes_the_model_and_a_card_from_measured_numbers(quick_run, tmp_path):
    out, _, metrics = quick_run
    result = runner.invoke(app, ["publish", str(out), "--to", str(tmp_path / "models")])
    assert result.exit_code == 0, result.output
    card = (tmp_path / "models" / "MODEL_CARD.md").read_text()
    assert f"**{100 * metrics['test_accuracy']:.2f}%**" in card
    assert f"{metrics['parameters']:,}" in card
    assert (tmp_path / "models" / "digits.keras").read_bytes() == (out / "model.keras").read_bytes()
    assert (tmp_path / "models" / "report" / "confusion_matrix.png").exists()


def test_search_only_stops_after_the_search_and_the_same_command_then_retrains(mnist_dir, tmp_path):
    out = tmp_path / "run"
    args = ["tune", "--max-trials", "2", "--trial-subset", "1000", "--epochs", "1", "--train-subset", "2000",
            "--test-subset", "500", "--val-size", "500", "--data-dir", str(mnist_dir), "--out", str(out)]
    result = runner.invoke(app, [*args, "--search-only"])
    assert result.exit_code == 0, result.output
    search = json.loads((out / "search.json").read_text())
    assert search["kind"] == "search" and len(search["trials"]) == 2
    assert result.output.splitlines()[-1].startswith(f"search done: trial {search['chosen_trial']['trial_id']} chosen")
    assert (out / "trials.csv").is_file() and not (out / "model.keras").exists()
    before = trial_states(out)
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert trial_states(out) == before  # no trial run again: only the retraining
    assert json.loads((out / "metrics.json").read_text())["chosen_trial"] == search["chosen_trial"]
