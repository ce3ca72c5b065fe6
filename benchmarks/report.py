"""The results folder: results.json, results.csv, report.md and two charts; the console table.

`digitedge bench --compare` (reading two results.json) is compare.py's.

Every file is written atomically (digitedge.atomic). matplotlib is imported only to
draw the charts: on a device without it they are skipped with a one-line note.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from digitedge import atomic

from . import stages
from .common import size_text
from .formatting import num, pct, runtime_label, us
from .timing import STAT_KEYS

CHART_ACCURACY = "latency_vs_accuracy.png"
CHART_LATENCY = "latency.png"


# ---------- tables ----------

def speedup_vs_float(row: dict, results: dict) -> str:
    for c in results.get("comparisons", {}).get("versus_float", []):
        if (c["model"], c["runtime"], c["threads"]) == (row["model"], row["runtime"], row["threads"]):
            return num(c["invoke_speedup"], ".2f") + "x"
    from .summary import float_and_int8

    return "1x (ref)" if row["kind"] == "tflite" and row["model"] == float_and_int8(results["rows"])[0] else "-"


COLUMNS = ["model", "runtime", "threads", "size", "load", "invoke median", "invoke p99", "predict median",
           "predict p99", "images/s", "accuracy", "agrees w/ float", "invoke vs float", "peak RSS", "status"]


def table_rows(results: dict) -> list[list[str]]:
    out = []
    for r in results["rows"]:
        if r["status"] != "ok":
            out.append([r["model"], runtime_label(r), str(r["threads"] or "-"), size_text(r.get("file_bytes"))]
                       + ["-"] * (len(COLUMNS) - 5) + [f"FAILED: {r['error']}"])
            continue
        inv, pre = r.get("invoke_us") or {}, r.get("predict_us") or {}
        mem = r.get("memory") or {}
        out.append([
            r["model"], runtime_label(r), str(r["threads"]), size_text(r.get("file_bytes")),
            num((r.get("load_ms") or {}).get("median"), ".1f") + " ms",
            us(inv.get("median")), us(inv.get("p99")), us(pre.get("median")), us(pre.get("p99")),
            num((r.get("throughput") or {}).get("predict_ips"), ".0f"),
            pct(r.get("accuracy")), pct(r.get("agreement")), speedup_vs_float(r, results),
            num(mem.get("peak_rss_mb"), ".0f") + " MB" if "peak_rss_mb" in mem else "-",
            "ok",
        ])
    return out


# ---------- files ----------

def write_json(results: dict, path: Path) -> None:
    atomic.write_text(path, json.dumps(results, indent=2, ensure_ascii=False) + "\n")


CSV_FIELDS = (["id", "model", "path", "kind", "runtime", "threads", "status", "error", "file_bytes",
               "load_ms_median", "load_ms_min"]
              + [f"{m}_us_{k}" for m in ("invoke", "predict") for k in STAT_KEYS]
              + ["runs_invoke", "runs_predict", "invoke_ips", "predict_ips", "batch_ips", "accuracy", "agreement",
                 "peak_rss_mb", "model_rss_mb"])


def csv_row(r: dict) -> dict:
    row = {k: r.get(k) for k in ("id", "model", "path", "kind", "runtime", "threads", "status", "error",
                                 "file_bytes", "accuracy", "agreement")}
    load = r.get("load_ms") or {}
    row.update(load_ms_median=load.get("median"), load_ms_min=load.get("min"))
    for m in ("invoke", "predict"):
        stats = r.get(f"{m}_us") or {}
        row[f"runs_{m}"] = stats.get("n")
        for k in STAT_KEYS:
            row[f"{m}_us_{k}"] = stats.get(k)
    row.update({k: (r.get("throughput") or {}).get(k) for k in ("invoke_ips", "predict_ips", "batch_ips")})
    row.update({k: (r.get("memory") or {}).get(k) for k in ("peak_rss_mb", "model_rss_mb")})
    return row


def write_csv(results: dict, path: Path) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in results["rows"]:
        writer.writerow(csv_row(r))
    atomic.write_text(path, buf.getvalue())


def md_table(header: list[str], rows: list[list[str]]) -> str:
    esc = [[c.replace("|", "\\|") for c in r] for r in rows]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in esc])


def machine_line(m: dict) -> str:
    v = m.get("versions", {})
    libs = ", ".join(f"{k} {v[k]}" for k in ("numpy", "ai-edge-litert", "tflite-runtime", "tensorflow",
                                             "tensorflow-cpu", "keras", "opencv-python-headless") if k in v)
    return (f"{m['cpu']} ({m['arch']}), {m['cores']} cores ({len(m['usable_cores'])} usable), "
            f"{num(m.get('memory_mb'), '.0f')} MB RAM; {m['os']}; {m['python']}; {libs}")


def busy_note(results: dict) -> str:
    m = results["machine"]
    loads = [x for x in (m.get("load_average_start"), m.get("load_average_end")) if x]
    if not loads:
        return ""
    worst = max(x[0] for x in loads)
    cores = m.get("cores") or len(m["usable_cores"])  # the load average is the whole machine's
    if worst < 0.75 * cores:
        return f"The machine was quiet (1-minute load average at most {worst:.1f} on {cores} cores)."
    return (f"**The machine was busy** (1-minute load average up to {worst:.1f} on {cores} cores, other work "
            "running): absolute latencies are inflated and noisy; the ratios, from interleaved runs that "
            "shared the same conditions, are the reliable part.")


DRIFT = 1.25  # slowest / fastest round of the reference row's invoke beyond this: the speed moved


def drift_note(results: dict) -> str:
    """How steady the machine was: the fastest TFLite row's invoke, median per round of the interleaving."""
    rows = [r for r in results["rows"] if (r.get("invoke_us") or {}).get("round_medians") and r["kind"] != "keras"]
    if not rows:
        return ""
    row = min(rows, key=lambda r: r["invoke_us"]["median"])
    rounds = row["invoke_us"]["round_medians"]
    span = f"{row['model']} invoke, median per round of {len(rounds)}: {min(rounds):.1f} to {max(rounds):.1f} µs"
    if max(rounds) <= DRIFT * min(rounds):
        return f"The machine's speed held during the run ({span})."
    return (f"**The machine's speed moved during the run** ({span}; this virtual machine has slow periods): "
            "the absolute latencies carry that; the ratios, from interleaved runs, less so.")


def report_md(results: dict, charts: bool = True) -> str:
    s, m = results["settings"], results["machine"]
    out = [f"# Benchmark: {', '.join(dict.fromkeys(r['model'] for r in results['rows']))}", ""]
    out += [f"Run {results['started']} ({results['seconds']} s) with `{results['command']}`.", ""]
    out += [f"Machine: {machine_line(m)}.", ""]
    profile = (f"**--pi profile**: pinned to core {s['pinned_core']}, 1 thread (approximates a Raspberry "
               "Pi-class device's single core)." if s["profile"] == "pi" else
               f"Threads: {', '.join(map(str, s['threads']))}; interpreters: {', '.join(s['backends']) or 'none'}.")
    out += [" ".join(x for x in (profile, busy_note(results), drift_note(results)) if x), ""]

    out += ["## Goals", ""]
    out += [md_table(["goal", "target", "measured", "status", "note"],
                     [[g["goal"], g["target"], g["measured"], g["status"].upper() if g["status"] == "missed"
                       else g["status"], g["note"]] for g in results["goals"]]), ""]

    out += ["## Results", ""]
    out += ["*invoke*: `interpreter.invoke()` alone (Keras: `model.predict(x)` or `model(x, training=False)` "
            "on the prepared 1x28x28x1 input). *predict*: the whole path from the photo to the digit "
            "(`Recognizer.predict`: find and crop the digit, scale, normalize, quantize, invoke, softmax). "
            "*images/s*: predict path, one image after another (runs / total time: slow outliers count). "
            "*invoke vs float*: float32 median / this median, "
            "same interpreter and threads.", ""]
    out += [md_table(COLUMNS, table_rows(results)), ""]

    comp = results.get("comparisons", {})
    if comp.get("versus_float"):
        out += ["### float32 / int8", ""]
        out += [md_table(["model", "runtime", "threads", "invoke speed-up", "predict speed-up", "smaller by",
                          "accuracy change"],
                         [[c["model"], c["runtime"], str(c["threads"]), num(c["invoke_speedup"], ".2f") + "x",
                           num(c["predict_speedup"], ".2f") + "x", num(c["size_ratio"], ".1f") + "x",
                           num(c["accuracy_delta_points"], "+.2f") + " points"] for c in comp["versus_float"]]), ""]
    if comp.get("versus_keras"):
        out += ["### TFLite / Keras", ""]
        out += ["How many times faster than Keras each TFLite model is (Keras median / TFLite median, same thread "
                "count).", ""]
        out += [md_table(["TFLite model", "runtime", "threads", "Keras", "inference speed-up",
                          "predict path speed-up"],
                         [[c["model"], c["runtime"], str(c["threads"]),
                           runtime_label({"runtime": c["keras_runtime"]}),
                           num(c["invoke_speedup"], ".0f") + "x", num(c["predict_speedup"], ".1f") + "x"]
                          for c in comp["versus_keras"]]), ""]

    out += stages.report_lines(results)  # the predict path by stage (issue 18)
    from .webcam_fps import report_lines  # the webcam frame rate (issue 18)

    out += report_lines(results)
    out += ["## Full latency statistics (µs)", ""]
    stat_rows = []
    for r in results["rows"]:
        for metric in ("invoke", "predict"):
            st = r.get(f"{metric}_us")
            if st:
                stat_rows.append([r["model"], runtime_label(r), str(r["threads"]), metric, str(st["n"])]
                                 + [num(st[k], ".1f") for k in STAT_KEYS])
    out += [md_table(["model", "runtime", "threads", "metric", "runs", *STAT_KEYS], stat_rows), ""]
    if charts:
        out += [f"![latency vs accuracy]({CHART_ACCURACY})", "", f"![latency]({CHART_LATENCY})", ""]
    out += ["## Method", "", *method_notes(results), ""]
    return "\n".join(out)


def method_notes(results: dict) -> list[str]:
    s = results["settings"]
    keras_threads = next((r.get("tf_threads") for r in results["rows"] if r.get("tf_threads")), None)
    keras = (f"; TensorFlow's intra-op pool ({keras_threads} thread(s), inter-op 1) for Keras, set once per "
             "process, so Keras runs at the lowest thread count only." if keras_threads else ".")
    photo = s["photo"]
    return [
        f"- **Side by side.** Every configuration is loaded in one process and timed round-robin: {s['rounds']} "
        f"rounds, each running a chunk of every configuration's invoke and predict, so machine drift hits all "
        f"alike. {s['warmup']} untimed warm-up calls first; then {s['runs']} timed calls of each metric "
        f"({s['keras_runs']} for Keras, whose calls take ~1000x longer). Each call is timed alone with "
        "`time.perf_counter_ns`; the garbage collector is off during a chunk.",
        "- **Threads** are fixed: the interpreter's `num_threads`, and OpenCV's thread count for the predict "
        "path's preprocessing (`cv2.setNumThreads`, set again before each chunk)" + keras,
        f"- **Predict input**: {photo['source']}, {photo['shape'][1]}x{photo['shape'][0]} px RGB, "
        f"a {photo['label']}. The preprocessing is most of the predict path; invoke is the model alone.",
        f"- **Load**: building the Recognizer (interpreter + allocate_tensors + metadata) or "
        f"`keras.models.load_model`, median of {s['load_runs']['tflite']} (Keras {s['load_runs']['keras']}) "
        "loads, interleaved, file in the page cache.",
        f"- **Accuracy** on the first {s['accuracy_images']} MNIST test images, through the model's own "
        "quantization and edge_runtime's top-1 rule (batched when the interpreter allows a batch dimension; "
        "the digits equal Recognizer.classify's). *agrees w/ float*: share of those images on which a model reads "
        "the same digit as the float32 TFLite model.",
        "- **Peak memory**: each configuration in a fresh child process (the runtime imported, the model loaded, "
        "10 predicts): `peak RSS` is that process's high-water mark (VmHWM in /proc/self/status), which includes "
        "Python, numpy, OpenCV and the interpreter (or TensorFlow); results.json also has the RSS the model "
        "itself added (`model_rss_mb`). A child per configuration, because a process's high-water mark never "
        f"goes down. This benchmark's own process peaked at {results.get('process_peak_rss_mb')} MB.",
        "- **--pi** pins the process (and its children) to one core with `sched_setaffinity` and uses 1 thread: "
        "a single x86 core is still several times faster than a Pi's Cortex-A, so it approximates the shape "
        "(no parallelism), not the speed.",
    ]


def write_charts(results: dict, out: Path) -> str | None:
    """The two PNGs; None when written, else the one-line reason they were skipped."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot  # noqa: F401  (a broken install fails here, not halfway through)
    except ImportError:
        return "matplotlib is not installed: charts skipped (pip install matplotlib)"
    rows = [r for r in results["rows"] if r["status"] == "ok" and r.get("invoke_us")]
    labels = [f"{r['model']}\n{runtime_label(r)}, {r['threads']}t" for r in rows]
    accuracy_chart(rows, labels, out / CHART_ACCURACY)
    latency_chart(rows, labels, out / CHART_LATENCY)
    return None


def accuracy_chart(rows: list[dict], labels: list[str], path: Path) -> None:
    import matplotlib.pyplot as plt  # write_charts chose the Agg backend

    fig, ax = plt.subplots(figsize=(9, 5))
    markers = "osD^vP*Xh"
    models = list(dict.fromkeys(r["model"] for r in rows))
    for r, label in zip(rows, labels):
        if r.get("accuracy") is not None:
            ax.scatter(r["invoke_us"]["median"], 100 * r["accuracy"], s=70, alpha=0.85,
                       marker=markers[models.index(r["model"]) % len(markers)], label=label.replace("\n", ", "))
    if any(r.get("accuracy") is not None for r in rows):
        ax.legend(fontsize=8, loc="best")
    else:
        ax.text(0.5, 0.5, "accuracy not measured (--images 0)", transform=ax.transAxes, ha="center")
    ax.set_xscale("log")
    ax.set_xlabel("single-image inference latency, median (µs, log scale)")
    ax.set_ylabel("accuracy on MNIST test images (%)")
    ax.set_title("Latency vs accuracy")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def latency_chart(rows: list[dict], labels: list[str], path: Path) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    fig, axes = plt.subplots(1, 2, figsize=(12, 0.55 * len(rows) + 1.8), sharey=True)
    for ax, metric, title in zip(axes, ("invoke", "predict"), ("inference (invoke)", "whole predict path")):
        med = [r[f"{metric}_us"]["median"] for r in rows]
        p90 = [r[f"{metric}_us"]["p90"] for r in rows]
        ax.barh(range(len(rows)), med, xerr=[[0] * len(rows), [b - a for a, b in zip(med, p90)]],
                color="tab:blue", alpha=0.8, error_kw={"ecolor": "0.4"})
        for i, (v, end) in enumerate(zip(med, p90)):
            ax.text(end * 1.08, i, us(v), va="center", ha="left", fontsize=8)
        ax.set_xscale("log")
        ax.set_xlim(min(med) / 2, max(p90) * 6)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{title}: median, bar to p90 (µs, log)")
        ax.grid(True, axis="x", which="both", alpha=0.3)
    axes[0].set_yticks(range(len(rows)), labels, fontsize=8)
    axes[0].invert_yaxis()
    fig.tight_layout()
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def write_all(results: dict, out: Path) -> list[str]:
    """Write the folder; returns notes (a skipped chart) for the user."""
    out.mkdir(parents=True, exist_ok=True)
    write_json(results, out / "results.json")
    write_csv(results, out / "results.csv")
    note = write_charts(results, out)
    atomic.write_text(out / "report.md", report_md(results, charts=note is None))
    return [note] if note else []


# ---------- console ----------

def console_table(results: dict):
    from rich.table import Table

    table = Table(title="digitedge bench", show_lines=False)
    skip = {"predict p99", "invoke p99", "size"}
    for c in COLUMNS:
        if c not in skip:
            table.add_column(c, overflow="fold")
    for row in table_rows(results):
        table.add_row(*[v for c, v in zip(COLUMNS, row) if c not in skip])
    return table


def goals_lines(results: dict) -> list[str]:
    return [f"{g['status']:>12}  {g['goal']}: {g['measured']}" + (f" ({g['note']})" if g["note"] else "")
            for g in results["goals"]]
