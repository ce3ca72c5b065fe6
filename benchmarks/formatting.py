"""How the bench numbers read in tables: microseconds, percentages, plain numbers and runtime names."""

from __future__ import annotations


def num(value, fmt: str = ".1f", none: str = "-") -> str:
    return none if value is None else format(value, fmt)


def us(value) -> str:
    """Microseconds, shown in µs below 1 ms and in ms above."""
    if value is None:
        return "-"
    if value < 1000:
        return f"{value:.1f} µs"
    return f"{value / 1000:.2f} ms" if value < 100_000 else f"{value / 1000:.0f} ms"


def pct(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def runtime_label(row: dict) -> str:
    return {"keras-predict": "keras model.predict", "keras-call": "keras model(x)"}.get(row["runtime"],
                                                                                         row["runtime"])
