"""Issue 18's photo records: the photo suite's accuracy per kind before and after a change to the
photo path, and the images per second `digitedge predict --jobs N` reads.

    python -m digitedge.benchmarks.photo_speed --before OLD/photos.json --after NEW/photos.json \
        --jobs 1,2 --out OUT

OLD and NEW are two `digitedge photos` results (same --per-kind). The images/s are measured on the
photo suite itself, written as JPEG files (as a user's folder would be) and read by
edge_runtime.batch, the code behind `predict --jobs`: decoding included, process start-up too.
Writes OUT/photo_speed.md and OUT/photo_speed.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import photo_kinds

MAX_DROP_POINTS = 0.2  # issue 18: no kind may lose more than this


def compare(before: dict, after: dict) -> list[dict]:
    """Per kind: the share read right before and after, in points, and whether it held."""
    old = {k["kind"]: k for k in before["kinds"]}
    rows = []
    for k in after["kinds"]:
        if k["kind"] not in old:
            continue
        b, a = 100 * old[k["kind"]]["right_rate"], 100 * k["right_rate"]
        rows.append({"kind": k["kind"], "photos": k["photos"], "before": b, "after": a, "change": a - b,
                     "held": a - b >= -MAX_DROP_POINTS - 1e-9,
                     "before_ms": old[k["kind"]]["median_ms"], "after_ms": k["median_ms"]})
    return rows


def write_suite_images(folder: Path, per_kind: int, data_dir: Path | None = None) -> list[Path]:
    """The photo suite as JPEG files (quality 92), kind by kind: what `predict` is given."""
    import cv2

    from digitedge import data

    mnist = data.load(data.resolve_dir(data_dir))
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind in photo_kinds.KINDS:
        for n in range(per_kind):
            image = photo_kinds.photo(kind.name, mnist.x_test, mnist.y_test, n).image
            path = folder / f"{kind.name}-{n:04d}.jpg"
            cv2.imwrite(str(path), np.ascontiguousarray(image[..., ::-1]) if image.ndim == 3 else image,
                        [cv2.IMWRITE_JPEG_QUALITY, 92])
            paths.append(path)
    return paths


def images_per_second(paths: list[Path], jobs: int, model: Path | None = None) -> dict:
    """Wall time for `predict --jobs` to read every path (one interpreter thread per process)."""
    from digitedge.edge_runtime.batch import Settings, read_files

    start = time.perf_counter()
    results = list(read_files([str(p) for p in paths], Settings(model, threads=1), jobs))
    seconds = time.perf_counter() - start
    return {"jobs": jobs, "images": len(paths), "seconds": round(seconds, 2),
            "images_per_s": round(len(paths) / seconds, 1), "errors": sum(r.error is not None for r in results)}


def markdown(rows: list[dict], speeds: list[dict], before: str, after: str) -> str:
    lines = ["# The photo path: accuracy before and after, images per second", "",
             f"`python -m digitedge.benchmarks.photo_speed {' '.join(sys.argv[1:])}`", "",
             f"Before: `{before}`; after: `{after}` (`digitedge photos` results).", "",
             f"Every kind must hold within {MAX_DROP_POINTS} points (issue 18).", "",
             "| kind | photos | before | after | change | held | median ms before | after |",
             "|---|---:|---:|---:|---:|---|---:|---:|"]
    lines += [f"| {r['kind']} | {r['photos']} | {r['before']:.1f}% | {r['after']:.1f}% | {r['change']:+.1f} | "
              f"{'yes' if r['held'] else 'NO'} | {r['before_ms']:.1f} | {r['after_ms']:.1f} |" for r in rows]
    if speeds:
        lines += ["", "## `digitedge predict --jobs N` on the photo suite's JPEGs", "",
                  "Wall time from the call to the last result: decoding and process start-up included.", "",
                  "| jobs | images | seconds | images/s | errors (no digit found, clutter kinds) |",
                  "|---:|---:|---:|---:|---:|"]
        lines += [f"| {s['jobs']} | {s['images']} | {s['seconds']:.2f} | {s['images_per_s']:.1f} | {s['errors']} |"
                  for s in speeds]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="photos.json of the run before")
    parser.add_argument("--after", type=Path, required=True, help="photos.json of the run after")
    parser.add_argument("--jobs", default="1,2", help="job counts to time, e.g. 1,2 ('' for none)")
    parser.add_argument("--per-kind", type=int, default=100, help="photos of each kind to time")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        before, after = (json.loads(p.read_text()) for p in (args.before, args.after))
        jobs = [int(j) for j in args.jobs.split(",") if j.strip()]
    except (OSError, ValueError) as e:
        print(f"error: {e}")
        return 1
    rows = compare(before, after)
    speeds = []
    if jobs:
        with tempfile.TemporaryDirectory() as folder:  # 1,100 JPEGs: not part of the record
            paths = write_suite_images(Path(folder), args.per_kind)
            speeds = [images_per_second(paths, j, args.model) for j in jobs]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "photo_speed.json").write_text(json.dumps({"kinds": rows, "jobs": speeds}, indent=1) + "\n")
    (args.out / "photo_speed.md").write_text(markdown(rows, speeds, str(args.before), str(args.after)))
    print(f"results: {args.out}/photo_speed.md (json)")
    return 0 if all(r["held"] for r in rows) else 2


if __name__ == "__main__":
    raise SystemExit(main())
