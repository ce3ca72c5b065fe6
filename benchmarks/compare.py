"""`digitedge bench --compare A.json B.json`: two recorded runs side by side, nothing measured or written."""

from __future__ import annotations

import json
from pathlib import Path

from digitedge.errors import DigitedgeError

from .formatting import pct, runtime_label, us


def load_results(path: Path) -> dict:
    try:
        results = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise DigitedgeError(f"{path}: not a results.json ({e.msg} at line {e.lineno})") from None
    if not isinstance(results, dict) or results.get("kind") != "bench" or "rows" not in results:
        raise DigitedgeError(f"{path}: not a digitedge bench results.json")
    return results


def compare_table(a: dict, b: dict, name_a: str, name_b: str):
    """Rows of both runs matched by configuration; B/A ratios (below 1: B is faster)."""
    from rich.table import Table

    table = Table(title=f"A: {name_a}\nB: {name_b}")
    for c in ("model", "runtime", "threads", "invoke A", "invoke B", "B/A", "predict A", "predict B", "B/A",
              "accuracy A", "accuracy B", "peak RSS A", "peak RSS B"):
        table.add_column(c)
    rows_a = {r["id"]: r for r in a["rows"]}
    rows_b = {r["id"]: r for r in b["rows"]}
    for key in list(dict.fromkeys([*rows_a, *rows_b])):
        ra, rb = rows_a.get(key, {}), rows_b.get(key, {})
        any_row = ra or rb
        table.add_row(any_row["model"], runtime_label(any_row), str(any_row["threads"]),
                      us(med(ra, "invoke")) if ra.get("status") == "ok" else status_of(ra),
                      us(med(rb, "invoke")) if rb.get("status") == "ok" else status_of(rb), rel(ra, rb, "invoke"),
                      us(med(ra, "predict")), us(med(rb, "predict")), rel(ra, rb, "predict"),
                      pct(ra.get("accuracy")), pct(rb.get("accuracy")), mem(ra), mem(rb))
    return table


def med(r: dict, metric: str):
    return (r.get(f"{metric}_us") or {}).get("median")


def rel(ra: dict, rb: dict, metric: str) -> str:
    x, y = med(ra, metric), med(rb, metric)
    return f"{y / x:.2f}" if x and y else "-"


def mem(r: dict) -> str:
    v = (r.get("memory") or {}).get("peak_rss_mb")
    return "-" if v is None else f"{v:.0f} MB"


def status_of(row: dict) -> str:
    return "absent" if not row else row.get("status", "?")


def compare_header(results: dict, name: str) -> str:
    m = results["machine"]
    return (f"{name}: {results['started']}, {m['cpu']}, {len(m['usable_cores'])} usable cores, "
            f"profile {results['settings']['profile']}, load {m.get('load_average_start')}")
