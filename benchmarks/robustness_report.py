"""The files of `digitedge evaluate`: robustness.json, .csv, .md, robustness.png and examples.png.

robustness.py measures; this module only writes what it measured. Every file is written
atomically (digitedge.atomic); matplotlib is imported only to draw the two charts.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from digitedge import atomic


def write_outputs(results: dict, examples: dict, out: Path) -> None:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out / "robustness.json", json.dumps(results, indent=2) + "\n")
    atomic.write_text(out / "robustness.csv", to_csv(results))
    atomic.write_text(out / "robustness.md", to_markdown(results))
    plot_sweeps(results, out / "robustness.png")
    plot_examples(results, examples, out / "examples.png")


def csv_rows(results: dict) -> list[dict]:
    rows = []
    for name, a in results["accuracy"].items():
        rows.append({"model": name, "group": "clean", "condition": "clean", "level": "", "accuracy": a["clean"]})
        for c, v in a["corruptions"].items():
            rows.append({"model": name, "group": "corruption", "condition": c,
                         "level": results["corruptions"][c]["severity"], "accuracy": v})
        for s, values in a["sweeps"].items():
            for level, v in zip(results["sweeps"][s]["values"], values):
                rows.append({"model": name, "group": "sweep", "condition": s, "level": level, "accuracy": v})
    for r in rows:
        r["images"], r["error"] = results["images"], 1 - r["accuracy"]
    return rows


def to_csv(results: dict) -> str:
    buf = io.StringIO()
    fields = ["model", "group", "condition", "level", "images", "accuracy", "error"]
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in csv_rows(results):
        w.writerow({**r, "accuracy": f"{r['accuracy']:.4f}", "error": f"{r['error']:.4f}"})
    return buf.getvalue()


def pct(v: float) -> str:
    return f"{100 * v:.2f}"


def pp(v: float) -> str:
    return f"{100 * v:+.2f}"


def to_markdown(results: dict) -> str:
    names = list(results["accuracy"])
    diffs = results["int8_minus_float"]
    acc, summ = results["accuracy"], results["summary"]
    head = names + [f"{d['int8']} − {d['float']} (pp)" for d in diffs]
    lines = [
        "# Robustness: clean MNIST and MNIST-C",
        "",
        f"Accuracy (%) on {results['images']:,} MNIST test images ({results['test_images']}), clean and under "
        "each of MNIST-C's 15 corruptions (Mu & Gilmer, 2019) as implemented in `benchmarks/corruptions.py` "
        f"(seed {results['seed']}). mCE: mean error over the 15 corruptions; relative mCE: mCE / clean error. "
        + ("**Quick run** (`--quick`): a subset, an indication only. " if results["quick"] else "")
        + f"Written by `{results['command']}` on {results['created']}.",
        "",
        "| corruption | severity | " + " | ".join(head) + " |",
        "| --- | --- |" + " --- |" * len(head),
        "| clean | - | " + " | ".join([pct(acc[n]["clean"]) for n in names] + [pp(d["clean"]) for d in diffs]) + " |",
    ]
    for c, info in results["corruptions"].items():
        cells = [pct(acc[n]["corruptions"][c]) for n in names] + [pp(d["corruptions"][c]) for d in diffs]
        lines.append(f"| {c} | {info['severity']} | " + " | ".join(cells) + " |")
    mce = [f"**{pct(summ[n]['mce'])}**" for n in names] + [pp(d["mce"]) for d in diffs]
    rel = [f"{summ[n]['relative_mce']:.1f}x" if summ[n]["relative_mce"] is not None else "-" for n in names]
    lines += ["| **mCE (error, %)** | | " + " | ".join(mce) + " |",
              "| relative mCE | | " + " | ".join(rel + [""] * len(diffs)) + " |", ""]
    if results["sweeps"]:
        lines += ["## Graded sweeps", "", "Accuracy (%) per level; see robustness.png.", ""]
        for s, info in results["sweeps"].items():
            lines += [f"**{s}** ({info['unit']})", "", "| model | " + " | ".join(str(v) for v in info["values"]) + " |",
                      "| --- |" + " --- |" * len(info["values"])]
            lines += [f"| {n} | " + " | ".join(pct(v) for v in acc[n]["sweeps"][s]) + " |" for n in names]
            lines.append("")
    lines += ["## Models", "", "| model | kind | size | SHA-256 |", "| --- | --- | --- | --- |"]
    lines += [f"| {m['name']} | {m['kind']} | {m['bytes'] / 1024:.0f} KB | `{m['sha256'][:12]}` |"
              for m in results["models"]]
    lines += ["", "![accuracy vs severity](robustness.png)", "", "![examples](examples.png)", ""]
    return "\n".join(lines)


def plot_sweeps(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweeps = results["sweeps"]
    cols = 4
    rows = max(1, -(-len(sweeps) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax, (s, info) in zip(axes.flat, sweeps.items()):
        for name, a in results["accuracy"].items():
            ax.plot(info["values"], [100 * v for v in a["sweeps"][s]], marker="o", label=name)
        ax.set_title(s)
        ax.set_xlabel(info["unit"], fontsize=8)
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(sweeps):]:
        ax.axis("off")
    if sweeps:
        axes.flat[0].legend(fontsize=8)
        if len(sweeps) < rows * cols:  # the clean and mCE numbers in the free panel
            ax = list(axes.flat)[len(sweeps)]
            text = "\n".join(f"{n}: clean {pct(v['clean_accuracy'])}%, mCE {pct(v['mce'])}%"
                             for n, v in results["summary"].items())
            ax.text(0, 0.5, text, fontsize=9, va="center", wrap=True)
    fig.suptitle(f"Accuracy vs severity ({results['images']:,} MNIST test images)")
    fig.tight_layout()
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)


def plot_examples(results: dict, examples: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["accuracy"])
    rows = examples["rows"]
    labels = examples["labels"]
    fig, axes = plt.subplots(len(rows), len(labels), figsize=(1.3 * len(labels) + 1.2, 1.35 * len(rows)),
                             squeeze=False)
    for r, (condition, row) in enumerate(rows.items()):
        for c, label in enumerate(labels):
            ax = axes[r, c]
            ax.imshow(row["images"][c], cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            found = [row["digits"][n][c] for n in names]
            wrong = any(f != label for f in found)
            ax.set_title(f"{label}: " + "/".join(str(f) for f in found), fontsize=8,
                         color="crimson" if wrong else "black")
        axes[r, 0].set_ylabel(condition, fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle("label: " + " / ".join(names) + " (red: a model is wrong)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / len(rows)))
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=60)
    plt.close(fig)
