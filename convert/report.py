"""What a conversion did: a rich table for the terminal and conversion_report.json."""

from __future__ import annotations

from datetime import datetime, timezone

from digitedge import __version__


def report_dict(result) -> dict:
    plan, s = result.plan, result.plan.settings
    float32 = next((r.size for r in result.rows if r.format == "float32"), None)
    formats = {}
    for r in result.rows:
        formats[r.format] = {
            "file": r.file, "bytes": r.size, "written": r.written,
            "size_vs_float32": round(r.size / float32, 4) if float32 else None,
            "input": r.tensors["input"], "output": r.tensors["output"], "features": r.features,
            **r.comparison.as_dict(), "gate": r.gate,
        }
    return {
        "tool": "digitedge convert",
        "digitedge_version": __version__,
        "created": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "source_model": {"path": str(plan.source.path), "name": plan.source.path.name,
                         "sha256": plan.source.sha256, "bytes": plan.source.size},
        "int8_io": plan.io,
        "calibration": result.calibration,
        "verification": result.verification,
        "max_int8_drop_pp": s.max_int8_drop,
        "passed": not result.refused,
        "written": [p.name for p in result.written],
        "formats": formats,
    }


def results_table(result):
    """The table of formats, then notes on how they were measured (a renderable for rich)."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    s = result.plan.settings
    float32 = next((r.size for r in result.rows if r.format == "float32"), None)
    table = Table(title=Text(f"{result.plan.source.path.name} -> {s.out}"), title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for col in ("format", "KB", "÷ f32", "Keras", "TFLite", "drop", "agree", "max Δp", "written"):
        table.add_column(col, justify="left" if col in ("format", "written") else "right", no_wrap=True)
    for r in result.rows:
        c = r.comparison
        if r.written:
            written = "[green]yes[/green]"
        elif r.gate == "refused":
            written = "[red]no: gate[/red]"
        else:
            written = "[red]no[/red]"
        table.add_row(
            r.format, f"{r.size / 1024:.0f}", f"{100 * r.size / float32:.0f}%" if float32 else "-",
            f"{100 * c.keras_accuracy:.2f}", f"{100 * c.tflite_accuracy:.2f}", f"{c.drop_pp:+.2f}",
            f"{100 * c.agreement:.2f}", f"{c.max_prob_diff:.4f}", written,
        )
    v, cal = result.verification, result.calibration
    lines = [f"files: {result.plan.name}_<format>.tflite; accuracy and agree (the same top-1 digit "
             "as Keras) in %, drop in percentage points, max Δp: largest probability difference"]
    lines += [f"verified on {v['images']} MNIST test images"
             + (" (the full test set)" if v["full_test_set"] else f" (seed {v['seed']})")]
    if cal:
        lines.append(f"int8 calibrated on {cal['samples']} training images, balanced across the digits "
                     f"({min(cal['per_digit'])}-{max(cal['per_digit'])} each, seed {cal['seed']}); "
                     f"int8 input/output {result.plan.io}")
    with_features = [r for r in result.rows if r.features]
    if with_features:
        worst = max(with_features, key=lambda r: r.features["mean_relative_error"])
        lines.append(f"features ({worst.features['size']}, the input of {worst.features['layer']!r}) are a second "
                     f"output; largest mean relative error against Keras {worst.features['mean_relative_error']:.4f} "
                     f"({worst.format}), allowed {worst.features['tolerance']:g}")
    if any(r.gate != "-" for r in result.rows):
        lines.append(f"gate: int8 may lose at most {s.max_int8_drop:g} percentage points; "
                     "a refused int8 holds back every format")
    if result.report_path:
        lines.append(f"report: {result.report_path}")
    elif result.refused:
        lines.append(f"nothing written to {s.out}")
    return Group(table, Text("\n".join(lines)))
