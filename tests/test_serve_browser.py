"""`digitedge serve` in a real browser: Debian's headless Chromium, driven by Playwright.

The test makes a synthetic video and a photo, starts `digitedge serve --source clip.mp4` on
127.0.0.1, opens the page, waits for the live reading to show the video's number, uploads
the photo through the page's control, sees its number, corrects its first digit ("this is a 7":
saved into --samples), saves a screenshot, and stops the
server with SIGTERM while the page still streams. Nothing is downloaded: Playwright's pip
wheel carries its driver, and the browser is /usr/bin/chromium (`make browser` installs it).
Set DIGITEDGE_SCREENSHOT=path to keep the screenshot (scripts/screenshots makes the README's
docs/serve.png this way).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from edge_helpers import recognizer
from serve_helpers import clip, number_photo

from digitedge.net import free_port

pytestmark = pytest.mark.edge

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LIVE_NUMBER, PHOTO_NUMBER = "4025", "317"


pytest.importorskip("starlette", reason="needs the web extra: pip install 'digitedge[web]'")
sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (the dev extra)")
if not Path(CHROMIUM).exists():
    pytest.skip("no Chromium: apt-get install chromium (or `make browser`, as root)", allow_module_level=True)


@pytest.fixture
def server(tmp_path, edge_mnist):
    reader = recognizer()
    video = tmp_path / "clip.mp4"
    clip(edge_mnist, reader, video, [LIVE_NUMBER], frames_each=30, size=(480, 360))
    photo = number_photo(edge_mnist, reader, PHOTO_NUMBER, tmp_path / "photo.jpg", seed=11)
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    cmd = [sys.executable, "-m", "digitedge.cli", "serve", "--source", video.name, "--loop", "--port", str(port),
           "--samples", "mine"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "api/health", timeout=2).read()
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        yield {"url": url, "proc": proc, "photo": photo, "log": tmp_path / "serve.log", "tmp": tmp_path}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def test_page_shows_the_live_reading_and_reads_an_upload(server):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            problems: list[str] = []
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(server["url"])

            # the live reading follows the video, the picture streams
            page.wait_for_function(
                f"document.getElementById('reading').textContent === '{LIVE_NUMBER}'", timeout=60_000
            )
            page.wait_for_function("document.getElementById('live').naturalWidth > 0", timeout=30_000)
            assert page.inner_text("#source-status") == "running"
            assert "FPS" in page.inner_text("#reading-detail")
            page.wait_for_function("document.getElementById('model-table').textContent.includes('digits_int8')")

            # an upload through the page's own control
            page.set_input_files("#file", str(server["photo"]))
            page.wait_for_function(
                "document.getElementById('upload-text').textContent !== '…' && "
                "document.getElementById('upload-text').textContent !== ''",
                timeout=30_000,
            )
            assert page.inner_text("#upload-error") == ""
            assert page.inner_text("#upload-text") == PHOTO_NUMBER
            page.wait_for_function("document.getElementById('upload-canvas').width > 0")
            # "this is a …" under the first digit (--samples): its cut-out saved as a sample of the digit chosen
            page.select_option("#upload-digits li:first-child select", "7")
            page.wait_for_function("document.querySelector('#upload-digits .fix').textContent.includes('saved as a 7')")
            assert [p.relative_to(server["tmp"]).as_posix() for p in server["tmp"].glob("mine/*/*")] == [
                "mine/7/photo-1.png"]
            page.wait_for_function(
                f"document.getElementById('reading').textContent === '{LIVE_NUMBER}'", timeout=30_000
            )
            shot = server["tmp"] / "serve.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            if os.environ.get("DIGITEDGE_SCREENSHOT"):
                shutil.copyfile(shot, os.environ["DIGITEDGE_SCREENSHOT"])
            assert problems == []

            # SIGTERM while the page still streams: the server stops promptly and cleanly
            proc = server["proc"]
            start = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)
            assert time.monotonic() - start < 10
            log = server["log"].read_text()
            assert "Traceback" not in log and "released clip.mp4" in log, log
            page.wait_for_function("document.getElementById('status').textContent !== 'connected'", timeout=20_000)
        finally:
            browser.close()
