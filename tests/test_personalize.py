"""`digitedge personalize` (issue #20): a synthetic writer's labelled photos -> a head that reads
their digits, with only the edge extra; the head file; and one clear line for each bad input.

The model is the shipped int8 once it has a features output; until then models/digits.keras
converted here (TensorFlow). MNIST features are computed from $DIGITEDGE_DATA when the stored
ones are for another model.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cli_helpers
import numpy as np
import pytest
from personal_helpers import PER_DIGIT, feature_model_fixture, samples_fixture, write_writer  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


def run_edge_only(*args, env_data: Path) -> subprocess.CompletedProcess:
    """`digitedge ARGS` in a process where TensorFlow, Keras and scikit-learn cannot be imported."""
    code = ("import sys\n"
            "for m in ('tensorflow', 'keras', 'sklearn'):\n    sys.modules[m] = None\n"
            "from digitedge.cli import main\n"
            f"sys.argv = ['digitedge', *{[str(a) for a in args]!r}]\nmain()\n")
    import os

    env = {**os.environ, "DIGITEDGE_DATA": str(env_data), "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)


def test_a_head_learns_a_writer_the_model_misreads_without_tensorflow(feature_model, samples, tmp_path, mnist_dir):
    from digitedge.benchmarks import writers
    from digitedge.benchmarks.personalize import read_photos
    from digitedge.edge_runtime.features import FeatureModel
    from digitedge.edge_runtime.personal import Head

    head_file = tmp_path / "my.head"
    done = run_edge_only("personalize", samples, "--out", head_file, "--model", feature_model, env_data=mnist_dir)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == (f"{samples}: 40 labelled photos, 40 used: 40 digits ("
                        + ", ".join(f"4 of {d}" for d in range(10)) + ")")
    assert lines[-1].startswith(f"wrote {head_file} (for model sha256 ")
    assert lines[-1].endswith("; samples of 0-9: 4 4 4 4 4 4 4 4 4 4)")

    model = FeatureModel(feature_model)
    head = Head.load(head_file, model.sha256)
    assert head.samples_per_digit == (PER_DIGIT,) * 10
    # The writer's other photos: the head at least halves the model's errors (many, on round 6s and flagged 1s).
    labels, probs, feats, unread = read_photos(writers.BY_NAME["round"], range(PER_DIGIT, PER_DIGIT + 10), model)
    base = unread + int(np.sum(probs.argmax(axis=1) != labels))
    personal = unread + int(np.sum(head.probabilities(feats, probs).argmax(axis=1) != labels))
    assert base >= 10 and personal <= base / 2, (base, personal)


def test_the_head_file_records_the_model_samples_and_date(feature_model, samples, tmp_path):
    from digitedge.edge_runtime.personal import FORMAT

    head_file = tmp_path / "h.head"
    result = cli_helpers.run("personalize", samples, "--out", head_file, "--model", feature_model)
    assert result.exit_code == 0, result.output
    with np.load(head_file, allow_pickle=False) as z:  # no pickle: plain arrays and a JSON record
        record = json.loads(str(z["record"]))
        assert z["weights"].shape == (10, z["mean"].shape[0])
    from digitedge.edge_runtime.features import sha256_of

    assert record["format"] == FORMAT and record["model_sha256"] == sha256_of(feature_model)
    assert record["samples_per_digit"] == [PER_DIGIT] * 10
    assert record["created"].startswith("20") and record["created"].endswith("+00:00")


def test_only_the_digits_given_move(feature_model, tmp_path, mnist):
    """Samples of 1 and 6 only: allowed; the other digits' scores are the model's own."""
    from digitedge.edge_runtime.features import FeatureModel
    from digitedge.edge_runtime.personal import FLOOR, Head

    folder = write_writer(tmp_path / "ones-and-sixes", "round", range(3), digits=(1, 6))
    result = cli_helpers.run("personalize", folder, "--out", tmp_path / "h.head", "--model", feature_model)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        f"{folder}: 6 labelled photos, 6 used: 6 digits (3 of 1, 3 of 6); no samples of 0, 2, 3, 4, 5, 7, 8, 9 "
        "(the head leaves them as the model reads them)")
    model = FeatureModel(feature_model)
    head = Head.load(tmp_path / "h.head", model.sha256)
    assert head.samples_per_digit == (0, 3, 0, 0, 0, 0, 3, 0, 0, 0)
    probs, feats = model.run(mnist.x_test[:200])
    logits = head.logits(feats, probs)
    still = [d for d in range(10) if d not in (1, 6)]
    assert np.array_equal(logits[:, still], np.log(np.maximum(probs, FLOOR))[:, still])
    assert not np.allclose(logits[:, [1, 6]], np.log(np.maximum(probs, FLOOR))[:, [1, 6]])


def test_unreadable_and_digitless_photos_are_skipped_and_counted(feature_model, samples, tmp_path):
    import shutil

    from helpers import blank_png

    folder = tmp_path / "mixed"
    shutil.copytree(samples, folder)
    (folder / "7").mkdir(exist_ok=True)
    (folder / "7" / "broken.jpg").write_bytes(b"not a jpeg at all")
    (folder / "3_blank.png").write_bytes(blank_png())
    (folder / "notes.txt").write_text("not a photo, not counted")
    result = cli_helpers.run("personalize", folder, "--out", tmp_path / "h.head", "--model", feature_model)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{folder}: 42 labelled photos, 40 used: 40 digits (")
    assert lines[0].endswith("; 2 skipped (1 unreadable, 1 no digit)")
    assert lines[1].startswith(f"  skipped (no digit): {folder / '3_blank.png'}: ")
    assert lines[2].startswith(f"  skipped (unreadable): {folder / '7' / 'broken.jpg'}: ")


def test_a_photo_of_a_number_needs_a_label_of_as_many_digits(feature_model, tmp_path, mnist):
    from digitedge.benchmarks.synthetic import number_photo, write_image

    folder = tmp_path / "numbers"
    folder.mkdir()
    photo = number_photo(mnist.x_test, mnist.y_test, seed=3, count=2, out_side=400)
    write_image(folder / f"{photo.text}_door.jpg", photo.image)
    write_image(folder / f"{photo.text[0]}_door.jpg", photo.image)  # labelled with one digit only
    result = cli_helpers.run("personalize", folder, "--out", tmp_path / "h.head", "--model", feature_model)
    assert result.exit_code == 0, result.output
    a, b = sorted(photo.text)
    lines = result.stdout.splitlines()
    counts = f"1 of {a}, 1 of {b}" if a != b else f"2 of {a}"
    assert lines[0].startswith(f"{folder}: 2 labelled photos, 1 used: 2 digits ({counts}); no samples of ")
    assert lines[0].endswith("; 1 skipped (1 digits not as labelled)")
    assert lines[1] == (f"  skipped (digits not as labelled): {folder / (photo.text[0] + '_door.jpg')}: 2 digits "
                        f"found, the label {photo.text[0]} has 1")


def test_evaluate_compares_the_model_and_the_head_and_writes_nothing(feature_model, samples, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli_helpers.run("personalize", samples, "--evaluate", "--folds", 4, "--model", feature_model)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[2] == ("k-fold over the samples (4 folds of 40 photos, 40 digits), each fold read by a head "
                        "fitted without it:")
    base, personal = (int(line.split("(")[1].split()[0]) for line in lines[3:5])
    assert lines[3].startswith("  model alone") and lines[4].startswith("  personalized")
    assert base >= 4 and personal < base, result.stdout  # wrong digits
    assert lines[5].startswith("MNIST test set (10,000 images): model alone ")
    assert list(tmp_path.iterdir()) == []  # no my.head


def test_stored_features_are_used_only_for_their_model(feature_model, tmp_path, mnist_dir, mnist):
    from digitedge.edge_runtime.features import FeatureModel, compute_anchor, stored_anchor

    out = tmp_path / "mnist_features.npz"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "mnist_features"), "--model", str(feature_model),
                           "--out", str(out), "--data-dir", str(mnist_dir)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    model = FeatureModel(feature_model)
    stored = stored_anchor(model, out)
    assert stored is not None and np.bincount(stored.labels).tolist() == [500] * 10
    computed = compute_anchor(model, mnist.x_train, mnist.y_train, "MNIST training images")
    assert np.array_equal(stored.labels, computed.labels)
    assert np.abs(stored.features - computed.features).max() < 0.01  # float16 storage
    other = tmp_path / "other.tflite"
    other.write_bytes(feature_model.read_bytes() + b"\0")  # another file, another sha256
    assert stored_anchor(FeatureModel(other), out) is None


# ---- bad input: one line, exit 1 ----

def test_a_folder_without_a_labelled_photo(tmp_path, feature_model):
    from helpers import blank_png

    folder = tmp_path / "unlabelled"
    folder.mkdir()
    (folder / "photo.png").write_bytes(blank_png())
    (folder / "notes").mkdir()
    result = cli_helpers.run("personalize", folder, "--model", feature_model)
    cli_helpers.assert_one_error(result, f"{folder}: no labelled photo (put them in subfolders 0 to 9, or start each "
                                         "file name with its digits, e.g. 7_01.jpg)")
    missing = tmp_path / "nowhere"
    cli_helpers.assert_one_error(cli_helpers.run("personalize", missing, "--model", feature_model),
                                 f"{missing}: samples folder not found")


def test_bad_out_and_folds(tmp_path, samples, feature_model):
    out = tmp_path / "no" / "my.head"
    cli_helpers.assert_one_error(cli_helpers.run("personalize", samples, "--out", out, "--model", feature_model),
                                 f"{out}: no folder {out.parent} to write it in")
    cli_helpers.assert_one_error(cli_helpers.run("personalize", samples, "--out", tmp_path),
                                 f"{tmp_path}: is a folder")
    cli_helpers.assert_one_error(cli_helpers.run("personalize", samples, "--evaluate", "--folds", 1),
                                 "--folds 1: must be at least 2")


def test_labelled_photos_of_which_none_gives_a_digit(tmp_path, feature_model):
    from helpers import blank_png

    folder = tmp_path / "blank"
    (folder / "4").mkdir(parents=True)
    (folder / "4" / "a.png").write_bytes(blank_png())
    result = cli_helpers.run("personalize", folder, "--model", feature_model)
    assert result.exit_code == 1 and result.stderr.startswith(
        f"error: {folder}: none of the 1 labelled photos gave its digits ({folder / '4' / 'a.png'}: ")
    assert result.stderr.count("\n") == 1


def test_no_stored_features_for_the_model_and_no_mnist(tmp_path, samples, feature_model, isolated_env):
    other = tmp_path / "other.tflite"
    other.write_bytes(feature_model.read_bytes() + b"\0")  # not the model the stored features are for
    result = cli_helpers.run("personalize", samples, "--model", other)
    cli_helpers.assert_one_error(
        result, f"{other}: no stored MNIST features for this model (they come with the shipped one), and MNIST to "
        f"compute them is not there ({isolated_env / 'mnist'}: no MNIST here; run `digitedge data fetch` or pass "
        "--data-dir)")


def test_a_model_without_features(tmp_path, samples, feature_model):
    """A model whose metadata marks no features output (foreign, or converted before #20): one error."""
    plain = tmp_path / "plain.tflite"
    data = feature_model.read_bytes()
    assert data.count(b'"outputs"') == 1
    plain.write_bytes(data.replace(b'"outputs"', b'"outputz"'))  # the same length: a valid model still
    result = cli_helpers.run("personalize", samples, "--model", plain)
    cli_helpers.assert_one_error(result, f"{plain}: the model has no features output, so it cannot learn a "
                                         "writer's digits (convert it again with digitedge convert)")


def test_a_head_for_another_model_is_refused_naming_both(feature_model, samples, tmp_path):
    from digitedge.edge_runtime.personal import Head, HeadError

    head_file = tmp_path / "h.head"
    assert cli_helpers.run("personalize", samples, "--out", head_file, "--model", feature_model).exit_code == 0
    made_for = json.loads(str(np.load(head_file)["record"]))["model_sha256"]
    with pytest.raises(HeadError) as e:
        Head.load(head_file, "0" * 64)
    assert str(e.value) == f"{head_file}: made for the model with sha256 {made_for}, not this one (sha256 {'0' * 64})"


@pytest.mark.parametrize("damage", ["truncated", "text", "empty", "wrong-arrays"])
def test_a_corrupt_head_file_is_one_clear_error(feature_model, samples, tmp_path, damage):
    from digitedge.edge_runtime.personal import Head, HeadError

    head_file = tmp_path / "h.head"
    assert cli_helpers.run("personalize", samples, "--out", head_file, "--model", feature_model).exit_code == 0
    whole = head_file.read_bytes()
    if damage == "truncated":
        head_file.write_bytes(whole[: len(whole) // 2])
    elif damage == "text":
        head_file.write_text("my head\n")
    elif damage == "empty":
        head_file.write_bytes(b"")
    else:
        np.savez(head_file.open("wb"), weights=np.zeros(3), record=np.array("{}"))
    with pytest.raises(HeadError) as e:
        Head.load(head_file, "0" * 64)
    assert str(e.value) == f"{head_file}: not a digitedge head file (corrupt or truncated)"
    missing = tmp_path / "none.head"
    with pytest.raises(HeadError, match=f"^{missing}: head file not found$"):
        Head.load(missing, "0" * 64)


def test_the_stored_mnist_features_are_the_shipped_models():
    """The device has no MNIST: the shipped int8 model's features of MNIST digits ship with it. Fails
    when the shipped model changed and `scripts/mnist_features` was not run again (NOTES, "Ship a model")."""
    from digitedge.edge_runtime.features import STORED, FeatureModel, stored_anchor
    from digitedge.edge_runtime.metadata import read_metadata
    from digitedge.edge_runtime.recognizer import DEFAULT_MODEL

    if "features" not in ((read_metadata(DEFAULT_MODEL) or {}).get("outputs") or {}):
        assert not STORED.exists()  # a model without a features output: nothing to store for it
        return
    anchor = stored_anchor(FeatureModel(DEFAULT_MODEL))
    assert anchor is not None, f"{STORED} is not for the shipped model: run scripts/mnist_features"
    assert np.bincount(anchor.labels).tolist() == [500] * 10 and anchor.source == f"stored features ({STORED.name})"
