"""Shared pieces of the `digitedge serve` tests: clear synthetic photos and clips.

No TensorFlow, no web extra: only the edge one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from edge_helpers import clear_digits, recognizer

from digitedge.benchmarks import synthetic


def number_photo(mnist, reader, text: str, path: Path, seed: int = 7, side: int = 480) -> Path:
    """A clear photo of `text` written on paper, saved at `path` (JPEG or PNG by its extension)."""
    photo = synthetic.render_number(
        clear_digits(mnist, reader, text, skip=seed % 3), [int(c) for c in text], seed, out_side=side
    )
    return synthetic.write_image(path, photo.image)


def clip(mnist, reader, path: Path, numbers: list[str], frames_each: int, size=(320, 240), fps: int = 10):
    """A synthetic video of a camera over paper showing each number in turn; (first, last, text) each."""
    shown = [(clear_digits(mnist, reader, t, skip=i), t) for i, t in enumerate(numbers)]
    return synthetic.write_video(path, shown, frames_each=frames_each, fps=fps, size=size)


@pytest.fixture(scope="module", name="files")
def files_fixture(tmp_path_factory, edge_mnist):
    """The server tests' inputs, made once per module: a photo of 86, a clip of 4025 then 317 (8 frames each)."""
    folder = tmp_path_factory.mktemp("serve")
    reader = recognizer()
    photo = number_photo(edge_mnist, reader, "86", folder / "eighty-six.jpg")
    video = folder / "clip.mp4"
    shown = clip(edge_mnist, reader, video, ["4025", "317"], frames_each=8)
    return {"photo": photo, "video": video, "shown": shown, "folder": folder}
