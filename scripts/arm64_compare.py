"""The host side of scripts/arm64-check: test images, and whether arm64 gave the same answers.

    python scripts/arm64_compare.py images OUT        # PNGs + clip.mp4 + truth.json (needs MNIST)
    python scripts/arm64_compare.py tolerance MODEL   # the probability tolerance for a model
    python scripts/arm64_compare.py predict HOST.jsonl ARM.jsonl --tolerance T [--label float32]
    python scripts/arm64_compare.py webcam HOST.jsonl ARM.jsonl --tolerance T

`predict` and `webcam` compare what `digitedge predict --json` / `digitedge webcam --headless`
printed on x86-64 and under emulated arm64. Exit 0 when the answers are the same, 1 when not:

- digits: equal, always; any difference fails (a digit, the text, the number of digits, an error
  on one side only, a missing image or frame);
- a digit found in the same box on both: its probabilities within the tolerance (float32: 5e-3,
  since the interpreter's x86 (AVX, FMA) and ARM (NEON) kernels round differently; int8: one
  output quantization step plus the 4-decimal rounding of --json). Same box, same pixels: this
  compares the interpreters' arithmetic;
- a box may move by up to BOX_PIXELS (a video frame: DECODED_BOX_PIXELS): OpenCV's image
  operations (resize, blur, warp) are not bit-exact across CPU architectures, and lossy video
  decoding neither. The crop then differs slightly, so its probabilities only within
  MOVED_TOLERANCE. A box moved further fails.

Timings are dropped, never compared or shown: under QEMU they are not a device's.

The comparison functions need only the standard library (they are unit-tested in
tests/test_arm64_compare.py); `images` and `tolerance` use the installed digitedge.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

# --json prints probabilities with 4 decimals: 1e-4 is the finest difference it can show.
JSON_RESOLUTION = 1e-4
# float32: XNNPACK's x86-64 and arm64 kernels sum in another order (and fuse multiply-adds
# differently): measured up to 0.0002 apart on the first release model, 0.0033 on the robust one
# (its least sure digit, a 9 at 71%: a flat softmax turns tiny logit differences into more)
FLOAT_TOLERANCE = 5e-3
SLACK = 1e-9  # float noise in the subtraction of two 4-decimal numbers
BOX_PIXELS = 2  # how far a box edge may move between architectures (OpenCV's rounding)
# A frame decoded by each architecture's own video code: the ink is found on a 160-px copy, so a
# box edge of a 640-px frame moves by 4 px when one pixel of that copy flips (measured: 3 px)
DECODED_BOX_PIXELS = 6
MOVED_TOLERANCE = 0.05  # probabilities of a crop that moved, or of a frame decoded differently


@dataclass
class Comparison:
    """What differed between two runs; `same` only when nothing did."""

    label: str
    tolerance: float
    items: int = 0
    digits: int = 0
    max_diff: float = 0.0  # digits with the same box (and the same input pixels)
    moved: int = 0  # digits whose box moved, or whose input pixels may differ (video)
    max_moved_diff: float = 0.0
    digit_differences: list[str] = field(default_factory=list)
    other_differences: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return not self.digit_differences and not self.other_differences

    def summary(self) -> str:
        verdict = "same" if self.same else "DIFFERENT"
        text = (
            f"{self.label}: {verdict}: {self.items} items, {self.digits} digits, "
            f"{len(self.digit_differences)} digit differences; "
            f"same input: {self.digits - self.moved} digits, largest probability difference "
            f"{self.max_diff:.4f} (tolerance {self.tolerance:.4g})"
        )
        if self.moved:
            text += (
                f"; moved or re-decoded input: {self.moved} digits, largest probability difference "
                f"{self.max_moved_diff:.4f} (tolerance {MOVED_TOLERANCE})"
            )
        return text


def read_jsonl(path: str | Path) -> list[dict]:
    lines = Path(path).read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip().startswith("{")]


def key(record: dict) -> str:
    """Images are matched by file name: the host and the arm64 root see different folders."""
    return Path(record["path"]).name


def box_moved(a, b) -> int:
    """The largest change of a box coordinate, in pixels (0: the same box)."""
    if a is None or b is None or len(a) != len(b):
        return 0 if a == b else 10**9
    return max((abs(u - v) for u, v in zip(a, b)), default=0)


def compare_digit(where: str, a: dict, b: dict, tol: float, out: Comparison, same_pixels: bool = True) -> None:
    """One recognized digit (host a, arm64 b): the digit, its box, its probability, its top 3.

    same_pixels: both sides decoded the same image (PNG), so the same box means the same input."""
    out.digits += 1
    if a["digit"] != b["digit"]:
        out.digit_differences.append(f"{where}: digit {a['digit']} on x86-64, {b['digit']} on arm64")
        return
    moved = box_moved(a.get("box"), b.get("box"))
    if moved > (BOX_PIXELS if same_pixels else DECODED_BOX_PIXELS):
        out.other_differences.append(f"{where}: box {a.get('box')} on x86-64, {b.get('box')} on arm64")
    same_input = same_pixels and moved == 0
    if not same_input:
        out.moved += 1
        tol = max(tol, MOVED_TOLERANCE)

    def seen(d: float) -> None:
        if same_input:
            out.max_diff = max(out.max_diff, d)
        else:
            out.max_moved_diff = max(out.max_moved_diff, d)

    diff = abs(a["probability"] - b["probability"])
    seen(diff)
    if diff > tol + SLACK:
        out.other_differences.append(
            f"{where}: probability {a['probability']:.4f} on x86-64, {b['probability']:.4f} on arm64"
        )
    for side_a, side_b, name in ((a, b, "x86-64"), (b, a, "arm64")):
        top_a, top_b = dict(map(tuple, side_a.get("top3", []))), dict(map(tuple, side_b.get("top3", [])))
        floor_b = min(top_b.values(), default=0.0)
        for digit, p in top_a.items():
            if digit in top_b:
                d = abs(p - top_b[digit])
                seen(d)
                if d > tol + SLACK and name == "x86-64":  # each pair once
                    out.other_differences.append(f"{where}: top-3 probability of {digit} differs by {d:.4f}")
            elif p > floor_b + tol + SLACK:  # missing from the other top 3 only if it ranks below it
                out.other_differences.append(f"{where}: {digit} ({p:.4f}) in the top 3 on {name} only")


def compare_predict(host: list[dict], arm: list[dict], tolerance: float, label: str = "predict") -> Comparison:
    """`digitedge predict --json` lines from x86-64 (host) and arm64 (arm), image by image."""
    out = Comparison(label, tolerance)
    a_by, b_by = {key(r): r for r in host}, {key(r): r for r in arm}
    for name in sorted(set(a_by) | set(b_by)):
        out.items += 1
        if name not in b_by or name not in a_by:
            missing = "arm64" if name not in b_by else "x86-64"
            out.digit_differences.append(f"{name}: no answer on {missing}")
            continue
        a, b = a_by[name], b_by[name]
        if "error" in a or "error" in b:
            if ("error" in a) != ("error" in b):
                said_a, said_b = (r.get("error") or r.get("text") for r in (a, b))
                out.digit_differences.append(f"{name}: {said_a!r} on x86-64, {said_b!r} on arm64")
            continue
        if a["text"] != b["text"] or len(a["digits"]) != len(b["digits"]):
            out.digit_differences.append(f"{name}: read {a['text']!r} on x86-64, {b['text']!r} on arm64")
            continue
        for i, (da, db) in enumerate(zip(a["digits"], b["digits"])):
            compare_digit(f"{name} digit {i + 1}", da, db, tolerance, out)
    return out


def compare_webcam(host: list[dict], arm: list[dict], tolerance: float, label: str = "webcam") -> Comparison:
    """`digitedge webcam --headless` lines, frame by frame; time, fps and latency are ignored."""
    out = Comparison(label, tolerance)
    if len(host) != len(arm):
        out.digit_differences.append(f"{len(host)} frames on x86-64, {len(arm)} on arm64")
    for a, b in zip(host, arm):
        out.items += 1
        where = f"frame {a.get('frame')}"
        if a.get("frame") != b.get("frame") or a["text"] != b["text"] or len(a["detections"]) != len(b["detections"]):
            out.digit_differences.append(f"{where}: read {a['text']!r} on x86-64, {b['text']!r} on arm64")
            continue
        for i, (da, db) in enumerate(zip(a["detections"], b["detections"])):
            # a lossy video is decoded by each architecture's own code: the pixels may differ
            compare_digit(f"{where} digit {i + 1}", da, db, tolerance, out, same_pixels=False)
            if da.get("raw_digit") != db.get("raw_digit"):  # before the label smoothing
                out.digit_differences.append(
                    f"{where} digit {i + 1}: unsmoothed digit {da.get('raw_digit')} on x86-64, "
                    f"{db.get('raw_digit')} on arm64"
                )
    return out


def report(result: Comparison, limit: int = 20, names: tuple[str, str] = ("x86-64", "arm64")) -> int:
    """Print the summary and the first differences; names: what the two sides are called."""
    print(result.summary())
    for line in (result.digit_differences + result.other_differences)[:limit]:
        line = line.replace("on x86-64", f"on {names[0]}").replace("on arm64", f"on {names[1]}")
        print(f"  {line}")
    hidden = len(result.digit_differences) + len(result.other_differences) - limit
    if hidden > 0:
        print(f"  ... and {hidden} more")
    return 0 if result.same else 1


def tolerance_for(model: str | Path) -> float:
    """float32: FLOAT_TOLERANCE. A quantized output: one quantization step (its scale), plus the
    4-decimal rounding of --json, since the interpreter's integer result may land one step apart."""
    from digitedge.edge_runtime.interpreter import Model

    m = Model(model)
    if m.output.quantized:
        return m.output.scale + JSON_RESOLUTION
    return FLOAT_TOLERANCE


def write_images(out: Path, count_digits: int = 10, count_numbers: int = 6, count_mnist: int = 6) -> dict:
    """Synthetic photos of single digits and of numbers, plain MNIST test digits, and a short
    clip, all from MNIST's test set, seeded: the same files on every run. Returns the truth."""
    import numpy as np

    from digitedge import data
    from digitedge.benchmarks import synthetic
    from digitedge.edge_runtime.imageio import EXTENSIONS  # noqa: F401  (the formats predict reads)

    mnist = data.load(None)
    images_dir = out / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    truth = {}
    sides = [64, 120, 300, 640]
    for i in range(count_digits):
        p = synthetic.digit_photo(mnist.x_test, mnist.y_test, 100 + i, out_side=sides[i % len(sides)])
        truth[synthetic.write_image(images_dir / f"digit{i:02d}.png", p.image).name] = p.text
    for i in range(count_numbers):
        p = synthetic.number_photo(mnist.x_test, mnist.y_test, seed=200 + i, out_side=640)
        truth[synthetic.write_image(images_dir / f"number{i:02d}.png", p.image).name] = p.text
    for i in range(count_mnist):
        index = 300 + i
        pixels = np.ascontiguousarray(np.repeat(mnist.x_test[index][..., None], 3, axis=2))
        name = synthetic.write_image(images_dir / f"mnist{index}.png", pixels).name
        truth[name] = str(int(mnist.y_test[index]))
    # the clip: three numbers, each shown for 8 frames, as the webcam test does
    numbers = []
    for n, text in enumerate(["4025", "317", "86"]):
        digits = []
        for c in text:
            candidates = np.nonzero(mnist.y_test == int(c))[0]
            digits.append(mnist.x_test[candidates[n]])
        numbers.append((digits, text))
    shown = synthetic.write_video(out / "clip.mp4", numbers, frames_each=8)
    (out / "truth.json").write_text(json.dumps({"images": truth, "clip": shown}, indent=1))
    return truth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("images", help="write the test images and the clip")
    p.add_argument("out", type=Path)
    p = sub.add_parser("tolerance", help="print the probability tolerance for a model")
    p.add_argument("model", type=Path)
    for name in ("predict", "webcam"):
        p = sub.add_parser(name, help=f"compare `digitedge {name}` output from x86-64 and arm64")
        p.add_argument("host", type=Path)
        p.add_argument("arm", type=Path)
        p.add_argument("--tolerance", type=float, required=True)
        p.add_argument("--label", default=name)
        p.add_argument("--names", default="x86-64,arm64", help="what the two sides are called")
    args = parser.parse_args(argv)
    if args.command == "images":
        truth = write_images(args.out)
        print(f"{len(truth)} images and a clip in {args.out}")
        return 0
    if args.command == "tolerance":
        print(f"{tolerance_for(args.model):.6g}")
        return 0
    compare = compare_predict if args.command == "predict" else compare_webcam
    result = compare(read_jsonl(args.host), read_jsonl(args.arm), args.tolerance, args.label)
    return report(result, names=tuple(args.names.split(",", 1)))


if __name__ == "__main__":
    sys.exit(main())
