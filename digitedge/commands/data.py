"""`digitedge data fetch | verify | info | samples`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from digitedge.commands import one_line_errors
from digitedge.commands.options import DataDir

app = typer.Typer(help="Get, check and describe the MNIST data.", no_args_is_help=True)


@app.command()
@one_line_errors
def fetch(
    dest: Optional[Path] = typer.Option(None, help="Where to put the files (default: the per-user cache)."),
    force: bool = typer.Option(False, help="Download even if a verified copy is already there."),
) -> None:
    """Download MNIST from the first source that works, verify it, and cache it."""
    from digitedge import data
    from digitedge.fetch import fetch as do_fetch

    dest = dest or data.cache_dir()
    if not force and data.find_files(dest) is not None:
        try:
            data.load(dest)
            typer.echo(f"MNIST already in {dest} (verified)")
            return
        except data.DataError:
            pass  # a bad copy: fetch a good one over it
    typer.echo(f"fetched and verified MNIST into {do_fetch(dest)}")


@app.command()
@one_line_errors
def verify(data_dir: DataDir = None) -> None:
    """Check the SHA-256 of every file against the published MNIST checksums."""
    from digitedge import data

    mnist = data.load(data_dir)
    typer.echo(
        f"OK {mnist.source}: {len(mnist.x_train)} train + {len(mnist.x_test)} test images, "
        f"SHA-256 verified (dataset {mnist.sha256[:12]})"
    )


@app.command()
@one_line_errors
def info(data_dir: DataDir = None) -> None:
    """Counts, class balance, pixel statistics, and where the files were found."""
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from digitedge import data

    mnist = data.load(data_dir)
    console = Console()
    console.print(f"MNIST from [bold]{mnist.source}[/] (SHA-256 verified, dataset {mnist.sha256[:12]})")
    table = Table("digit", "train", "train %", "test", "test %")
    train_counts = np.bincount(mnist.y_train, minlength=10)
    test_counts = np.bincount(mnist.y_test, minlength=10)
    for d in range(10):
        table.add_row(
            str(d), str(train_counts[d]), f"{100 * train_counts[d] / len(mnist.y_train):.2f}",
            str(test_counts[d]), f"{100 * test_counts[d] / len(mnist.y_test):.2f}",
        )
    table.add_row("all", str(len(mnist.y_train)), "100.00", str(len(mnist.y_test)), "100.00", style="bold")
    console.print(table)
    stats = Table("split", "shape", "dtype", "mean", "std", "min", "max", "ink pixels %")
    for split, x in (("train", mnist.x_train), ("test", mnist.x_test)):
        stats.add_row(
            split, str(x.shape), str(x.dtype), f"{x.mean():.2f}", f"{x.std():.2f}",
            str(x.min()), str(x.max()), f"{100 * (x > 0).mean():.1f}",
        )
    console.print(stats)


@app.command()
@one_line_errors
def samples(
    out: Path = typer.Option(Path("samples"), "--out", "-o", help="Folder for the images and the clip."),
    count: int = typer.Option(8, min=1, max=1000, help="How many photos."),
    data_dir: DataDir = None,
    seed: int = typer.Option(0, help="The same seed gives the same images."),
) -> None:
    """Photos and a short video of handwritten numbers (MNIST test digits on paper), to try
    `predict`, `webcam --source` and `serve` without a camera. Needs the edge extra (OpenCV)."""
    import numpy as np

    from digitedge import data
    from digitedge.benchmarks import synthetic

    mnist = data.load(data_dir)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        photo = synthetic.number_photo(mnist.x_test, mnist.y_test, seed + i)
        synthetic.write_image(out / f"number{i:02d}_{photo.text}.jpg", photo.image)
    rng = np.random.default_rng(seed)
    shown = [[int(k) for k in rng.choice(len(mnist.x_test), n, replace=False)] for n in (4, 3, 2)]
    numbers = [([mnist.x_test[k] for k in ks], "".join(str(mnist.y_test[k]) for k in ks)) for ks in shown]
    synthetic.write_video(out / "clip.mp4", numbers, seed=seed)
    typer.echo(f"wrote {count} photos and clip.mp4 (showing {', '.join(t for _, t in numbers)}) to {out}")
