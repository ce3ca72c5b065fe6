"""Script: python benchmarks/serve_load.py [--clients 8 --seconds 30]: load on `digitedge serve`, measured.

Bounded concurrent uploads from 127.0.0.1: starts the server in a child process on 127.0.0.1
(a free port), then N client threads each POST synthetic photos of numbers, one request at a
time on a kept-alive connection, for a fixed time. A client told 503 (busy) waits `--backoff`
seconds and goes on, as a client that honours Retry-After would (sooner, to keep the pressure
on). Records requests per second, latency percentiles, answers by status, wrong readings,
errors (anything but 200 and the deliberate 503s: must be 0) and the server's peak memory
(VmHWM from /proc).

    python benchmarks/serve_load.py                    # 8 clients, 30 s
    python benchmarks/serve_load.py --clients 4 --seconds 10 --live   # with a video playing too

Writes benchmarks/results/serve_load.json and serve_load.md (--out: another folder). Needs the
web extra and MNIST ($DIGITEDGE_DATA or ../shared/mnist) for the photos. No TensorFlow.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from digitedge.benchmarks import machine
from digitedge.benchmarks.common import REPO, RESULTS, versions
from digitedge.net import free_port

WEB_PACKAGES = ("starlette", "uvicorn", "python-multipart")


def proc_status(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) of a process, in MB."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = round(int(value.split()[0]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return out


def load_mnist():
    from digitedge import data

    mnist = data.load_first((os.environ.get(data.ENV_VAR), REPO.parent / "shared" / "mnist", None))
    if mnist is None:
        sys.exit("MNIST not found: set DIGITEDGE_DATA to a folder with the IDX files")
    return mnist


def make_photos(count: int, seed: int = 0) -> list[tuple[bytes, str]]:
    """Synthetic phone photos of 3-6 digit numbers (JPEG bytes, the number), 480-1280 px."""
    import cv2

    from digitedge.benchmarks import synthetic

    mnist = load_mnist()
    rng = np.random.default_rng(seed)
    photos = []
    for i in range(count):
        photo = synthetic.number_photo(mnist.x_test, mnist.y_test, seed=1000 + i, out_side=int(rng.integers(480, 1280)))
        ok, data = cv2.imencode(".jpg", photo.image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
        photos.append((data.tobytes(), photo.text))
    return photos


def make_clip(folder: Path) -> Path:
    from digitedge.benchmarks import synthetic

    mnist = load_mnist()
    numbers = []
    for text in ("4025", "317"):
        picks = [int(np.nonzero(mnist.y_test == int(c))[0][0]) for c in text]
        numbers.append(([mnist.x_test[i] for i in picks], text))
    path = folder / "clip.mp4"
    synthetic.write_video(path, numbers, frames_each=30)
    return path


def start_server(port: int, args, folder: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "digitedge.cli", "serve", "--port", str(port)]
    cmd += ["--max-waiting", str(args.max_waiting), "--workers", str(args.workers)]
    if args.live:
        cmd += ["--source", str(make_clip(folder)), "--loop"]
    log = (folder / "serve.log").open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("the server stopped:\n" + (folder / "serve.log").read_text())
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    sys.exit("the server did not start in 60 s")


def judge(read: str, shown: str) -> str:
    """right; unsure (every digit read is right, one or more marked '?'); or wrong (a digit read as
    another, or a number of another length)."""
    if len(read) != len(shown) or any(r not in (s, "?") for r, s in zip(read, shown)):
        return "wrong"
    return "unsure" if "?" in read else "right"


def client(port: int, photos, deadline: float, backoff: float, seed: int, out: list) -> None:
    rng = np.random.default_rng(seed)
    conn = None
    while time.monotonic() < deadline:
        data, text = photos[int(rng.integers(len(photos)))]
        start = time.perf_counter()
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("POST", "/api/predict", body=data, headers={"Content-Type": "image/jpeg"})
            response = conn.getresponse()
            body = response.read()
            status = response.status
            if response.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as e:
            out.append({"status": f"exception: {type(e).__name__}", "seconds": time.perf_counter() - start})
            if conn is not None:
                conn.close()
            conn = None
            continue
        seconds = time.perf_counter() - start
        answer = {"status": status, "seconds": seconds}
        if status == 200:
            answer["reading"] = judge(json.loads(body)["text"], text)
        out.append(answer)
        if status == 503:
            time.sleep(backoff)
    if conn is not None:
        conn.close()


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ms = 1000 * np.asarray(values)
    return {f"p{q}": round(float(np.percentile(ms, q)), 1) for q in (50, 90, 99)} | {
        "mean": round(float(ms.mean()), 1),
        "max": round(float(ms.max()), 1),
    }


def main(argv=None) -> dict:
    args = parse_args(argv)
    photos = make_photos(args.photos)
    report = summarize(args, run_load(args, photos))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "serve_load.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "serve_load.md").write_text(markdown(report))
    print(markdown(report))
    return report


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--photos", type=int, default=200,
                        help="distinct synthetic photos to send (enough that the share of unsure readings is typical)")
    parser.add_argument("--backoff", type=float, default=0.1, help="seconds a client waits after a 503")
    parser.add_argument("--max-waiting", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--live", action="store_true", help="also play a synthetic video in the live view")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--note", default="", help="a line about the conditions, kept in the results")
    return parser.parse_args(argv)


def run_load(args, photos) -> dict:
    """Start the server, drive it with the clients, stop it: what was measured on the way."""
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        port = free_port()
        proc = start_server(port, args, Path(tmp))
        try:
            measured = drive(port, proc, args, photos)
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        measured["stopped"] = proc.returncode
    return measured


def drive(port: int, proc: subprocess.Popen, args, photos) -> dict:
    """args.clients threads uploading for args.seconds, the server's memory sampled meanwhile."""
    idle = proc_status(proc.pid)
    load_before = machine.load_average()
    results: list[list[dict]] = [[] for _ in range(args.clients)]
    deadline = time.monotonic() + args.seconds
    started = time.perf_counter()
    threads = [
        threading.Thread(target=client, args=(port, photos, deadline, args.backoff, i, results[i]))
        for i in range(args.clients)
    ]
    peak_rss = 0.0
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        peak_rss = max(peak_rss, proc_status(proc.pid).get("VmRSS", 0.0))
        time.sleep(0.2)
    elapsed = time.perf_counter() - started
    final = proc_status(proc.pid)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/api/health")
    health = json.loads(conn.getresponse().read())
    return {"answers": [r for rs in results for r in rs], "elapsed": elapsed, "idle": idle, "final": final,
            "peak_rss": peak_rss, "health": health, "load_before": load_before,
            "load_after": machine.load_average()}


def summarize(args, m: dict) -> dict:
    """serve_load.json: the answers counted by status, latencies, the server's memory and the conditions."""
    answers, elapsed = m["answers"], m["elapsed"]
    by_status: dict[str, int] = {}
    for r in answers:
        by_status[str(r["status"])] = by_status.get(str(r["status"]), 0) + 1
    ok = [r for r in answers if r["status"] == 200]
    busy = [r for r in answers if r["status"] == 503]
    return {
        "benchmark": "serve_load",
        "clients": args.clients,
        "seconds": round(elapsed, 1),
        "config": {
            "workers": args.workers,
            "max_waiting": args.max_waiting,
            "backoff_s": args.backoff,
            "live_video": args.live,
            "photos": args.photos,
        },
        "requests": len(answers),
        "requests_per_s": round(len(answers) / elapsed, 2),
        "readings_per_s": round(len(ok) / elapsed, 2),
        "by_status": by_status,
        "errors": len(answers) - len(ok) - len(busy),
        "wrong_readings": sum(r["reading"] == "wrong" for r in ok),
        "unsure_readings": sum(r["reading"] == "unsure" for r in ok),
        "latency_ms_200": percentiles([r["seconds"] for r in ok]),
        "latency_ms_503": percentiles([r["seconds"] for r in busy]),
        "server_memory_mb": {
            "idle_rss": m["idle"].get("VmRSS"),
            "peak_rss_sampled": m["peak_rss"],
            "peak_rss_vmhwm": m["final"].get("VmHWM"),
        },
        "server_health_after": {k: m["health"][k] for k in ("uploads", "frames_processed", "last_error")},
        "server_exit_code_on_sigterm": m["stopped"],
        "load_average_before": m["load_before"],
        "load_average_after": m["load_after"],
        "machine": machine.describe(),
        "web_versions": versions(WEB_PACKAGES),
        "note": args.note,
    }


def markdown(r: dict) -> str:
    lat, busy, mem = r["latency_ms_200"], r["latency_ms_503"], r["server_memory_mb"]
    m = r["machine"]
    lines = [
        "# `digitedge serve` under load",
        "",
        f"{r['clients']} clients on 127.0.0.1 for {r['seconds']} s, POST /api/predict with synthetic photos "
        f"(3-6 digit numbers, 480-1280 px JPEG); {r['config']['workers']} inference worker(s), "
        f"--max-waiting {r['config']['max_waiting']}, a client waits {r['config']['backoff_s']} s after a 503"
        + ("; a video playing in the live view" if r["config"]["live_video"] else "")
        + ".",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| requests | {r['requests']} ({r['requests_per_s']}/s) |",
        f"| readings (200) | {r['by_status'].get('200', 0)} ({r['readings_per_s']}/s) |",
        f"| busy (503, deliberate) | {r['by_status'].get('503', 0)} |",
        f"| errors (anything else) | {r['errors']} |",
        f"| readings with a digit read wrong, or another number of digits | {r['wrong_readings']} |",
        f"| readings right but for digits marked unsure (`?`) | {r['unsure_readings']} |",
        f"| latency of a reading p50 / p90 / p99 / max | {lat.get('p50')} / {lat.get('p90')} / {lat.get('p99')} / "
        f"{lat.get('max')} ms |",
        f"| latency of a 503 p50 / p99 | {busy.get('p50', '-')} / {busy.get('p99', '-')} ms |",
        f"| server memory idle / peak | {mem['idle_rss']} / {mem['peak_rss_vmhwm']} MB |",
        f"| load average before / after | {r['load_average_before']} / {r['load_average_after']} |",
        "",
        f"Machine: {m.get('cpu')}, {m.get('cores') or m.get('usable_cores')} cores, Python {m.get('python')}.",
    ]
    if r.get("note"):
        lines += ["", r["note"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
