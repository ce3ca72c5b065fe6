"""Script: python benchmarks/search_record.py BEFORE AFTER [--out benchmarks/results/search]

Two runs of the same search side by side (issue 16): for every trial its hyperparameters, what it
cost, and its validation accuracy in each run; then the trial each run chose and where its final
training ended. BEFORE and AFTER are tune run folders (metrics.json and trials.csv, as `digitedge
tune` and `digitedge publish` write them: models/report is one); where a run still holds its
search/ folder, the trials' training accuracy is shown too, so that a trial at chance can be told
from one that did not learn. Needs the train extra (multiply-adds are counted on the Keras model).
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import sys
from pathlib import Path

from digitedge.benchmarks.common import RESULTS

HP = ("conv_blocks", "filters", "dense_units", "dropout", "learning_rate")
CHANCE = 0.2  # validation accuracy at or below this: the trial says nothing about its model


def load_run(folder: Path) -> dict:
    # A finished tune's report, else what `tune --search-only` wrote (no final training yet).
    report = folder / "metrics.json" if (folder / "metrics.json").is_file() else folder / "search.json"
    metrics = json.loads(report.read_text())
    with open(folder / "trials.csv", newline="") as f:
        trials = {row["trial"]: row for row in csv.DictReader(f)}
    for trial_json in (folder / "search").glob("trial_*/trial.json"):
        trial = json.loads(trial_json.read_text())
        seen = trial["metrics"]["metrics"].get("accuracy", {}).get("observations", [])
        if trial["trial_id"] in trials and seen and not trials[trial["trial_id"]].get("train_accuracy"):
            trials[trial["trial_id"]]["train_accuracy"] = seen[-1]["value"][0]
    return {"folder": str(folder), "metrics": metrics, "trials": trials}


def cost(row: dict, compute_gmacs: float) -> tuple[int, int]:
    """(multiply-adds per image, training images the trial saw) of a trial's model."""
    from digitedge.train.config import ModelConfig
    from digitedge.train.model import build_model, multiply_adds

    model = ModelConfig(**{k: type(getattr(ModelConfig(), k))(row[k]) for k in HP})
    macs = multiply_adds(build_model(model))
    return macs, round(compute_gmacs * 1e9 / macs)


def side_by_side(before: dict, after: dict) -> list[dict]:
    compute = after["metrics"]["config"]["trial_compute"]
    rows = []
    for trial_id, row in sorted(after["trials"].items()):
        old = before["trials"].get(trial_id, {})
        same = all(old.get(k) == row[k] for k in HP)
        macs, images = cost(row, compute)
        rows.append({"trial": trial_id, **{k: row[k] for k in HP}, "multiply_adds": macs, "images": images,
                     "val_before": float(old["val_accuracy"]) if same and old.get("val_accuracy") else None,
                     "val_after": float(row["val_accuracy"]) if row["val_accuracy"] else None,
                     "train_after": float(row["train_accuracy"]) if row.get("train_accuracy") else None})
    return rows


def chosen(run: dict) -> dict:
    """The chosen trial and, for a finished tune, its final training (None after a search alone)."""
    m = run["metrics"]
    final = "history" in m
    return {"trial": m["chosen_trial"]["trial_id"], "hyperparameters": m["hyperparameters"],
            "val_accuracy": m["chosen_trial"]["val_accuracy"], "test_accuracy": m.get("test_accuracy"),
            "parameters": m["chosen_trial"]["parameters"], "multiply_adds": m["chosen_trial"]["multiply_adds"],
            "epochs": len(m["history"]["accuracy"]) if final else None,
            "wall_time_min": round(m["wall_time_s"] / 60, 1)}


def pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def markdown(rows: list[dict], before: dict, after: dict) -> str:
    command = shlex.join(["python", "benchmarks/search_record.py", *sys.argv[1:]])
    lines = ["# The release search before and after settled batch-norm statistics (issue 16)", "",
             f"Written by `{command}` from `{before['folder']}` (before) and `{after['folder']}` "
             "(after). Same seed, so the same hyperparameters in the same order; every trial spends the "
             "same compute, so a costly model sees fewer images. *train after*: the trial's training accuracy as "
             "Keras reports it, averaged over its one long epoch (the weights at the end do better).", "",
             "| trial | blocks | filters | dense | dropout | lr | M mult-adds | images | val before | val after "
             "| train after |", "|" + " --- |" * 11]
    for r in rows:
        flag = " (chance)" if r["val_before"] is not None and r["val_before"] <= CHANCE else ""
        lines.append(f"| {r['trial']} | {r['conv_blocks']} | {r['filters']} | {r['dense_units']} | {r['dropout']} | "
                     f"{r['learning_rate']} | {r['multiply_adds'] / 1e6:.1f} | {r['images']:,} | "
                     f"{pct(r['val_before'])}{flag} | {pct(r['val_after'])} | {pct(r['train_after'])} |")
    lines += ["", "| | chosen trial | hyperparameters | val | test accuracy | parameters | M mult-adds | final epochs "
              "| wall time |", "|" + " --- |" * 9]
    for name, run in (("before", before), ("after", after)):
        c = chosen(run)
        hp = ", ".join(f"{k}={c['hyperparameters'][k]}" for k in HP)
        lines.append(f"| {name} | {c['trial']} | {hp} | {pct(c['val_accuracy'])} | {pct(c['test_accuracy'])} | "
                     f"{c['parameters']:,} | {c['multiply_adds'] / 1e6:.1f} | {c['epochs'] or '- (search only)'} | "
                     f"{c['wall_time_min']} min |")
    at_chance = [r["trial"] for r in rows if r["val_after"] is not None and r["val_after"] <= CHANCE]
    lines += ["", f"Trials at chance (validation <= {CHANCE:.0%}) after: {', '.join(at_chance) or 'none'}."]
    return "\n".join(lines) + "\n"


def chart(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], [100 * (r["val_before"] or 0) for r in rows], 0.4, label="before")
    ax.bar([i + 0.2 for i in x], [100 * (r["val_after"] or 0) for r in rows], 0.4, label="after (settled BN)")
    ax.set_xticks(list(x), [f"{r['trial']}\n{r['conv_blocks']}x{r['filters']}\nlr {r['learning_rate']}"
                            for r in rows], fontsize=7)
    ax.set_ylabel("validation accuracy (%)")
    ax.axhline(10, color="grey", lw=0.8, ls=":")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--out", type=Path, default=RESULTS / "search")
    args = parser.parse_args()
    from digitedge.quiet import quiet_tensorflow

    quiet_tensorflow()
    before, after = load_run(args.before), load_run(args.after)
    rows = side_by_side(before, after)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "search.md").write_text(markdown(rows, before, after))
    (args.out / "search.json").write_text(json.dumps(
        {"trials": rows, "chosen": {"before": chosen(before), "after": chosen(after)}}, indent=1) + "\n")
    chart(rows, args.out / "trials.png")
    print(f"wrote {args.out}/search.md, search.json, trials.png")


if __name__ == "__main__":
    main()
