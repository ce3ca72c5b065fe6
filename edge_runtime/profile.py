"""Where a photo's time goes: a stage timer the photo path marks as it goes.

Off by default (OFF: its marks do nothing, a method call each). A StageTimer given to a
Recognizer (`recognizer.timer = StageTimer()`) keeps, per call of predict/read/detect, the
seconds spent in each stage; `digitedge predict --profile` and `digitedge bench` summarise them.
"""

from __future__ import annotations

import time

import numpy as np

# In the order a photo meets them.
STAGES = ("decode", "grey", "ink", "segment", "crop", "invoke", "post")
ABOUT = {
    "decode": "reading and decoding the file",
    "grey": "grey, small copy, light evened",
    "ink": "ink mask (hysteresis)",
    "segment": "ink grouped into digits",
    "crop": "each digit cut to 28x28",
    "invoke": "the model, softmax",
    "post": "top 3, confidence, box",
}


class Off:
    """The timer when nobody asked: every mark is a no-op."""

    def start(self) -> None:
        pass

    def mark(self, stage: str) -> None:
        pass


OFF = Off()


class StageTimer(Off):
    """Seconds per stage per call: start() opens a call, mark(stage) books the time since the last mark."""

    def __init__(self) -> None:
        self.calls: list[dict[str, float]] = []
        self._last = 0.0

    def start(self) -> None:
        self.calls.append(dict.fromkeys(STAGES, 0.0))
        self._last = time.perf_counter()

    def mark(self, stage: str) -> None:
        now = time.perf_counter()
        if self.calls:
            self.calls[-1][stage] += now - self._last
        self._last = now

    def clear(self) -> None:
        self.calls.clear()

    def summary(self) -> dict[str, dict]:
        """Per stage (and "total"): median and p99 in microseconds over the calls, and n."""
        if not self.calls:
            return {}
        table = np.array([[c[s] for s in STAGES] for c in self.calls]) * 1e6
        out = {}
        for name, column in zip(STAGES + ("total",), list(table.T) + [table.sum(axis=1)]):
            median, p99 = np.percentile(column, (50, 99))
            out[name] = {"median": round(float(median), 2), "p99": round(float(p99), 2), "n": len(column)}
        return out
