"""The calibration records: calibration.json (everything), calibration.md (the table and how the
default was chosen), reliability.png and coverage.png. matplotlib is imported only to draw."""

from __future__ import annotations

import json
from pathlib import Path

from digitedge import atomic


def write_outputs(results: dict, out: Path) -> None:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out / "calibration.json", json.dumps(results, indent=2) + "\n")
    atomic.write_text(out / "calibration.md", to_markdown(results))
    plot_reliability(results, out / "reliability.png")
    plot_coverage(results, out / "coverage.png")


def pct(v, digits: int = 2) -> str:
    return "-" if v is None else f"{100 * v:.{digits}f}%"


def to_markdown(r: dict) -> str:
    chosen, targets = r["chosen"], r["targets"]
    t = chosen["threshold"]
    lines = [
        "# Calibration and the default --min-confidence",
        "",
        f"Written by `{r['command']}` in {r['seconds']} s"
        + (" (quick: a subset, an indication only)." if r["quick"] else "."),
        "",
        "Each digit's confidence is its top-1 probability checked by a second look (the digit read again "
        "with its strokes thinned when that probability is under 0.999; the lower of the two: "
        "edge_runtime/confidence.py), as the Recognizer gives it. ECE: expected calibration error over "
        f"{r['bins']} equal-width bins. A digit under --min-confidence is marked unsure (`?`).",
        "",
        "| model | dataset | digits | accuracy | ECE | unsure at "
        f"{t:g} | right among the rest at {t:g} |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for model, per in r["results"].items():
        for name, s in per.items():
            point = next(p for p in s["curve"] if abs(p["threshold"] - t) < 1e-9)
            lines.append(f"| {model} | {name} | {s['digits']:,} | {pct(s['accuracy'])} | {pct(s['ece'])} | "
                         f"{pct(1 - point['coverage'])} | {pct(point['kept_accuracy'])} |")
    lines += ["", "Datasets:", ""]
    lines += [f"- {name} ({', '.join(d['roles'])}): {d['describe']}" for name, d in r["datasets"].items()]
    lines += [
        "",
        "## How the default was chosen",
        "",
        f"Targets at the default: at least {pct(targets['kept_accuracy'], 1)} of the digits not marked unsure "
        "are right on every `kept` dataset, and at most "
        f"{pct(targets['max_unsure_clean'], 0)} of the digits of every `coverage` dataset are marked unsure.",
        f"Measured on {r['default_model']} (the runtime's default model), over the thresholds of the curve: "
        f"{chosen['rule']}.",
        "",
        f"**Default --min-confidence: {t:g}** (targets {'met' if chosen['targets_met'] else 'NOT met'}).",
        "",
    ]
    # three decimals: 99.498% must not read as the target's 99.50%
    lines += [f"- {d}: {pct(v['unsure'])} marked unsure, {pct(v['kept_accuracy'], 3)} of the rest right"
              for d, v in chosen["at_threshold"].items()]
    lines += ["", "Each model's own best threshold by the same rule:", ""]
    lines += [f"- {m}: {c['threshold']:g} (targets {'met' if c['targets_met'] else 'not met'})"
              for m, c in r["per_model"].items()]
    lines += curve_table(r)
    lines += ["", "![reliability](reliability.png)", "", "![accuracy vs coverage](coverage.png)", ""]
    return "\n".join(lines)


CURVE_ROWS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.96, 0.97, 0.98, 0.99, 0.995, 0.999)


def curve_table(r: dict) -> list[str]:
    """A few points of the default model's accuracy-vs-coverage curve (all of them: the JSON)."""
    per = r["results"][r["default_model"]]
    names = list(per)
    lines = ["", f"## Accuracy vs coverage ({r['default_model']})", "",
             "Each cell: share kept (not unsure) / accuracy of those kept.", "",
             "| --min-confidence | " + " | ".join(names) + " |",
             "| ---: | " + " | ".join("---:" for _ in names) + " |"]
    for t in sorted({*CURVE_ROWS, r["chosen"]["threshold"]}):  # the default's own row too
        cells = []
        for name in names:
            p = next((p for p in per[name]["curve"] if abs(p["threshold"] - t) < 1e-9), None)
            cells.append("-" if p is None else f"{pct(p['coverage'], 1)} / {pct(p['kept_accuracy'])}")
        lines.append(f"| {t:g} | " + " | ".join(cells) + " |")
    return lines


def _figure(n: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4), squeeze=False)
    return plt, fig, list(axes.flat)


def _save(plt, fig, path: Path) -> None:
    fig.tight_layout()
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)


def plot_reliability(r: dict, path: Path) -> None:
    """Per dataset: accuracy vs mean confidence per bin, each model; the diagonal is perfect."""
    names = list(r["datasets"])
    plt, fig, axes = _figure(len(names))
    for ax, name in zip(axes, names):
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
        for model, per in r["results"].items():
            bins = [b for b in per[name]["bins"] if b["count"]]
            ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker="o",
                    label=f"{model} (ECE {pct(per[name]['ece'])})")
        ax.set_title(name)
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"Reliability ({r['bins']} bins)")
    _save(plt, fig, path)


def plot_coverage(r: dict, path: Path) -> None:
    """Per dataset: accuracy of the digits kept vs the share kept, the default marked."""
    names = list(r["datasets"])
    t = r["chosen"]["threshold"]
    plt, fig, axes = _figure(len(names))
    for ax, name in zip(axes, names):
        for model, per in r["results"].items():
            curve = [p for p in per[name]["curve"] if p["kept_accuracy"] is not None]
            line, = ax.plot([p["coverage"] for p in curve], [p["kept_accuracy"] for p in curve], label=model)
            point = next(p for p in per[name]["curve"] if abs(p["threshold"] - t) < 1e-9)
            if point["kept_accuracy"] is not None:
                ax.plot(point["coverage"], point["kept_accuracy"], "o", color=line.get_color())
        ax.axhline(r["targets"]["kept_accuracy"], color="grey", linestyle=":", linewidth=1)
        ax.set_title(f"{name} (dot: {t:g})")
        ax.set_xlabel("share kept (not unsure)")
        ax.set_ylabel("accuracy of those kept")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle("Accuracy vs coverage over --min-confidence")
    _save(plt, fig, path)
