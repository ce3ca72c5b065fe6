"""digitedge.data: the real files load and verify; a bad copy is refused with its exact message."""

from __future__ import annotations

import gzip
import hashlib
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from digitedge import data
from digitedge.errors import DataError

# TensorFlow-free: runs in the edge-only environments too. Never $DIGITEDGE_DATA or the user's cache.
pytestmark = [pytest.mark.edge, pytest.mark.usefixtures("isolated_env")]

NO_FILES = (
    "no MNIST files (expected train-images-idx3-ubyte, train-labels-idx1-ubyte, "
    "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte [.gz] or mnist.npz); "
    "run `digitedge data fetch` or pass --data-dir"
)


@contextmanager
def data_error(message: str):
    """Expect a DataError whose message is exactly `message`."""
    with pytest.raises(DataError) as info:
        yield
    assert str(info.value) == message


def save_npz(path: Path, **arrays) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def npz_arrays(mnist: data.Mnist) -> dict[str, np.ndarray]:
    return {key: getattr(mnist, key) for key in data.NPZ_KEYS}


def assert_same(got: data.Mnist, want: data.Mnist) -> None:
    for key in data.NPZ_KEYS:
        np.testing.assert_array_equal(getattr(got, key), getattr(want, key))


# --- the real files ---------------------------------------------------------


def test_real_files_load_verified(mnist, mnist_dir):
    assert mnist.x_train.shape == (60000, 28, 28)
    assert mnist.y_train.shape == (60000,)
    assert mnist.x_test.shape == (10000, 28, 28)
    assert mnist.y_test.shape == (10000,)
    for array in (mnist.x_train, mnist.y_train, mnist.x_test, mnist.y_test):
        assert array.dtype == np.uint8
    assert set(np.unique(mnist.y_train)) == set(range(10))
    assert set(np.unique(mnist.y_test)) == set(range(10))
    assert mnist.verified is True
    assert mnist.source == mnist_dir
    # Known facts about MNIST, independent of the code under test.
    assert np.bincount(mnist.y_train)[0] == 5923
    test_counts = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert np.bincount(mnist.y_test).tolist() == test_counts
    assert (mnist.x_train.min(), mnist.x_train.max()) == (0, 255)
    assert mnist.sha256 == hashlib.sha256("".join(data.SHA256.values()).encode()).hexdigest()


def test_checksums_match_the_files_and_their_sha256sums(mnist_dir):
    """The table in data.py is the files' own SHA-256, and the folder's SHA256SUMS when it has one
    (../shared/mnist does; a fetched cache does not)."""
    files = data.find_files(mnist_dir)
    assert {name: hashlib.sha256(data.read_bytes(path)).hexdigest() for name, path in files.items()} == data.SHA256
    sums = mnist_dir / "SHA256SUMS"
    if sums.is_file():
        listed = dict(reversed(line.split()) for line in sums.read_text().splitlines() if line.strip())
        assert listed == data.SHA256


@pytest.mark.parametrize("dotted", [False, True], ids=["standard-names", "dotted-names"])
def test_loads_raw_idx(mnist_copy, mnist, dotted):
    folder = mnist_copy(raw=True, dotted=dotted)
    assert not list(folder.glob("*.gz"))
    if dotted:
        assert (folder / "train-images.idx3-ubyte").is_file()
    loaded = data.load(folder)
    assert loaded.verified and loaded.source == folder
    assert_same(loaded, mnist)


def test_loads_dotted_gzip(mnist_copy, mnist):
    folder = mnist_copy(dotted=True)
    assert (folder / "t10k-labels.idx1-ubyte.gz").is_file()
    assert_same(data.load(folder), mnist)


def test_loads_npz(tmp_path, mnist):
    npz = save_npz(tmp_path / "keras" / "mnist.npz", **npz_arrays(mnist))
    loaded = data.load(npz.parent)
    assert loaded.verified and loaded.source == npz.parent
    assert_same(loaded, mnist)


def test_incomplete_idx_falls_back_to_npz(tmp_path, mnist, mnist_copy):
    folder = mnist_copy()
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    save_npz(folder / "mnist.npz", **npz_arrays(mnist))
    assert_same(data.load(folder), mnist)


@pytest.fixture
def broken_copy_checksum(mnist_copy):
    folder = mnist_copy()
    path = folder / "t10k-images-idx3-ubyte.gz"
    content = bytearray(gzip.decompress(path.read_bytes()))
    content[1000] ^= 0xFF
    path.write_bytes(gzip.compress(bytes(content), 1))
    return folder, path


def test_verify_false_skips_checksums(broken_copy_checksum, mnist):
    folder, _ = broken_copy_checksum
    loaded = data.load(folder, verify=False)
    assert loaded.verified is False
    assert loaded.x_test.reshape(-1)[1000 - 16] == mnist.x_test.reshape(-1)[1000 - 16] ^ 0xFF


# --- where the files are looked for -------------------------------------------


def test_resolution_order(tmp_path, monkeypatch, mnist_copy):
    explicit, from_env = tmp_path / "explicit", tmp_path / "from-env"
    explicit.mkdir()
    from_env.mkdir()
    cache = mnist_copy(tmp_path / "cache" / "mnist")
    assert data.cache_dir() == cache

    assert data.resolve_dir() == cache
    assert data.load(verify=False).source == cache

    monkeypatch.setenv(data.ENV_VAR, str(from_env))
    assert data.resolve_dir() == from_env
    with data_error(f"{from_env}: {NO_FILES}"):  # $DIGITEDGE_DATA wins over a full cache
        data.load()
    assert data.resolve_dir(explicit) == explicit
    assert data.resolve_dir(str(explicit)) == explicit


def test_cache_dir_default_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv(data.CACHE_ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.cache_dir() == tmp_path / "xdg" / "digitedge" / "mnist"


def test_explicit_dir_beats_env_when_loading(monkeypatch, mnist_copy, tmp_path):
    good = mnist_copy("good")
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv(data.ENV_VAR, str(empty))
    assert data.load(good, verify=False).source == good
    with data_error(f"{empty}: {NO_FILES}"):
        data.load()


def test_load_or_fetch_fetches_only_into_an_empty_cache(monkeypatch, mnist_copy):
    import digitedge.fetch

    calls = []

    def fake_fetch():
        calls.append(data.cache_dir())
        mnist_copy(data.cache_dir())

    monkeypatch.setattr(digitedge.fetch, "fetch", fake_fetch)
    assert data.load_or_fetch().source == data.cache_dir()
    assert calls == [data.cache_dir()]
    data.load_or_fetch()  # the cache is full now: no second fetch
    assert len(calls) == 1


# --- bad input: the exact message -------------------------------------------


def test_broken_file_is_refused(broken_copy):
    folder, _, message = broken_copy
    with data_error(message):
        data.load(folder)


def test_image_label_count_mismatch(mnist_copy):
    folder = mnist_copy()
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    content = gzip.decompress(labels.read_bytes())
    # A consistent IDX file of 9999 labels: only the counts disagree.
    content = content[:4] + (9999).to_bytes(4, "big") + content[8:-1]
    labels.write_bytes(gzip.compress(content, 1))
    with data_error(f"{folder}: test has 10000 images but 9999 labels"):
        data.load(folder, verify=False)


def test_missing_directory(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    with data_error(f"{missing}: data directory not found (from --data-dir)"):
        data.load(missing)
    monkeypatch.setenv(data.ENV_VAR, str(missing))
    with data_error(f"{missing}: data directory not found (from DIGITEDGE_DATA)"):
        data.load()


def test_empty_cache():
    with data_error(
        f"{data.cache_dir()}: no MNIST here; run `digitedge data fetch` or pass --data-dir"
    ):
        data.load()


def test_unreadable_cache_file(mnist_copy):
    cache = mnist_copy(data.cache_dir())
    path = cache / "train-labels-idx1-ubyte.gz"
    if os.geteuid() != 0:
        path.chmod(0)
        reason = "Permission denied"
    else:  # root reads any file whatever its mode: make it one whose reads fail
        if not Path("/proc/self/mem").is_file():
            pytest.skip("root without /proc/self/mem: no way to make an unreadable file")
        path.unlink()
        path.symlink_to("/proc/self/mem")
        reason = "Input/output error"
    with data_error(f"{path}: cannot read ({reason})"):
        data.load()


def test_directory_named_like_a_file_is_not_taken_for_it(mnist_copy):
    folder = mnist_copy()
    (folder / "train-images-idx3-ubyte.gz").unlink()
    (folder / "train-images-idx3-ubyte.gz").mkdir()
    with data_error(f"{folder}: {NO_FILES}"):
        data.load(folder)


def test_directory_without_mnist(tmp_path, mnist_copy):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README.md").write_text("not MNIST")
    with data_error(f"{empty}: {NO_FILES}"):
        data.load(empty)
    three = mnist_copy("three")
    (three / "train-labels-idx1-ubyte.gz").unlink()
    with data_error(f"{three}: {NO_FILES}"):
        data.load(three)


def test_npz_missing_key(tmp_path):
    tiny = {"x_train": np.zeros((2, 28, 28), np.uint8), "y_train": np.zeros(2, np.uint8)}
    npz = save_npz(tmp_path / "mnist.npz", **tiny, x_test=tiny["x_train"])
    with data_error(f"{npz}: missing array y_test"):
        data.load(tmp_path)


def test_npz_wrong_dimensions(tmp_path):
    images, labels = np.zeros((2, 28, 28), np.uint8), np.zeros(2, np.uint8)
    npz = save_npz(
        tmp_path / "mnist.npz", x_train=images.reshape(2, 784), y_train=labels,
        x_test=images, y_test=labels,
    )
    with data_error(f"{npz}: x_train is 2-D, should be 3-D"):
        data.load(tmp_path)


def test_npz_checksum_mismatch(tmp_path, mnist, mnist_dir):
    arrays = npz_arrays(mnist)
    arrays["x_test"] = arrays["x_test"].copy()
    arrays["x_test"].reshape(-1)[1000 - 16] ^= 0xFF
    npz = save_npz(tmp_path / "mnist.npz", **arrays)
    idx = bytearray(data.read_bytes(mnist_dir / "t10k-images-idx3-ubyte.gz"))
    idx[1000] ^= 0xFF
    got = hashlib.sha256(idx).hexdigest()
    with data_error(
        f"{npz}: SHA-256 mismatch for t10k-images-idx3-ubyte "
        f"(got {got[:12]}…, expected 0fa7898d5092…)"
    ):
        data.load(tmp_path)


def test_npz_truncated(tmp_path, mnist):
    npz = save_npz(tmp_path / "mnist.npz", **npz_arrays(mnist))
    npz.write_bytes(npz.read_bytes()[:100_000])
    with data_error(f"{npz}: not a readable .npz file (File is not a zip file)"):
        data.load(tmp_path)


def test_npy_named_npz(tmp_path):
    npz = tmp_path / "mnist.npz"
    with npz.open("wb") as f:
        np.save(f, np.zeros((2, 28, 28), np.uint8))
    with data_error(f"{npz}: not a readable .npz file (a single .npy array, not an .npz archive)"):
        data.load(tmp_path)
