"""`digitedge personalize`: learn a writer's digits from their labelled photos, on the device (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import typer

from digitedge.commands import one_line_errors
from digitedge.commands.options import DataDir, Model

SAMPLES_HELP = ("A folder of your labelled photos: subfolders 0 to 9 (42/ for photos of 42), or file names that "
                "start with the digits shown (7_01.jpg).")


@one_line_errors
def personalize(
    samples: Path = typer.Argument(..., help=SAMPLES_HELP, show_default=False),
    out: Path = typer.Option(Path("my.head"), "--out", "-o", help="The head file to write."),
    evaluate: bool = typer.Option(
        False, "--evaluate",
        help="Write nothing: k-fold over the samples (model alone vs personalized), and MNIST test accuracy "
        "with a head of all of them (needs MNIST)."),
    folds: int = typer.Option(5, "--folds", help="Folds for --evaluate (photos are dealt round them)."),
    model: Model = None,
    data_dir: DataDir = None,
) -> None:
    """Learn your handwriting: fit a small head on the model's features of your photos, beside MNIST digits."""
    from digitedge.edge_runtime.features import FeatureModel
    from digitedge.edge_runtime.learn import learn
    from digitedge.edge_runtime.recognizer import DEFAULT_MODEL
    from digitedge.errors import DigitedgeError

    if folds < 2:
        raise DigitedgeError(f"--folds {folds}: must be at least 2")
    if not evaluate and (out.is_dir() or not out.parent.is_dir()):  # checked before the work, not after
        raise DigitedgeError(f"{out}: is a folder" if out.is_dir() else f"{out}: no folder {out.parent} to write it in")
    feature_model = FeatureModel(model or DEFAULT_MODEL)
    learned = learn(samples, feature_model, data_dir=data_dir)
    show_samples(samples, learned.samples)
    typer.echo(f"model {feature_model.path.name} (sha256 {feature_model.sha256[:12]}), beside "
               f"{len(learned.anchor.labels)} MNIST digits ({learned.anchor.source})")
    if evaluate:
        show_evaluation(learned, feature_model, folds, data_dir)
        return
    s = learned.seconds
    typer.echo(f"learned in {sum(s.values()):.1f} s (reading the photos {s['read']:.1f} s, features "
               f"{s['features']:.1f} s, MNIST features {s['anchor']:.1f} s, fit {s['fit']:.1f} s)")
    learned.head.save(out)
    per = " ".join(str(n) for n in learned.head.samples_per_digit)
    typer.echo(f"wrote {out} (for model sha256 {feature_model.sha256[:12]}; samples of 0-9: {per})")


def show_samples(folder: Path, samples) -> None:
    typer.echo(samples.summary(folder))
    for _, reason, message in samples.skipped:
        typer.echo(f"  skipped ({reason}): {message}")


def show_evaluation(learned, feature_model, folds: int, data_dir) -> None:
    from digitedge import data
    from digitedge.edge_runtime.learn import cross_validate, mnist_accuracy

    cv = cross_validate(learned, folds)
    n = cv["digits"]
    typer.echo(f"k-fold over the samples ({cv['folds']} folds of {cv['photos']} photos, {n} digits), each fold read "
               "by a head fitted without it:")
    typer.echo(f"  model alone    {100 * cv['base_right'] / n:5.1f}% right ({n - cv['base_right']} wrong)")
    typer.echo(f"  personalized   {100 * cv['personal_right'] / n:5.1f}% right ({n - cv['personal_right']} wrong)")
    mnist = data.load(data_dir)
    base, personal = mnist_accuracy(feature_model, mnist.x_test, mnist.y_test, [learned.head])
    typer.echo(f"MNIST test set ({len(mnist.y_test):,} images): model alone {100 * base:.2f}%, with a head of all "
               f"the samples {100 * personal:.2f}% ({100 * (personal - base):+.2f} points)")
