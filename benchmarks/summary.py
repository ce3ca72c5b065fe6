"""Ratios between configurations and the issue's goals, from the result rows alone.

Ratios use medians: on a shared machine a few slow outliers move the mean, and the
median of interleaved runs is what the two configurations had in common.
"""

from __future__ import annotations

GOAL_INT8_SPEEDUP = 2.0
GOAL_ACCURACY_POINTS = 0.1
GOAL_KERAS_SPEEDUP = 100.0
GOAL_PATH_US = 1000.0  # issue 18: the whole predict path of the one-digit bench photo, int8, 1 thread
GOAL_PATH_PER_INVOKE = 10.0
GOAL_PATH_SPEEDUP = 1.5


def ok_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("status") == "ok"]


def median(row: dict, metric: str) -> float | None:
    stats = row.get(f"{metric}_us")
    return stats["median"] if stats else None


def ratio(slow: float | None, fast: float | None) -> float | None:
    return slow / fast if slow and fast else None


def pick(rows: list[dict], word: str) -> str | None:
    """The model name containing `word` (float32, int8), else the first one."""
    names = list(dict.fromkeys(r["model"] for r in rows))
    return next((n for n in names if word in n), names[0] if names else None)


def float_and_int8(rows: list[dict]) -> tuple[str | None, str | None]:
    tfl = [r for r in ok_rows(rows) if r["kind"] == "tflite"]
    return (pick([r for r in tfl if not r.get("quantized")], "float32"),
            pick([r for r in tfl if r.get("quantized")], "int8"))


def find(rows: list[dict], model: str | None, runtime: str | None = None, threads: int | None = None):
    for r in ok_rows(rows):
        if r["model"] == model and (runtime is None or r["runtime"] == runtime) and (
                threads is None or r["threads"] == threads):
            return r
    return None


def comparisons(rows: list[dict]) -> dict:
    float_name, _ = float_and_int8(rows)
    tfl = [r for r in ok_rows(rows) if r["kind"] == "tflite"]
    versus_float = []
    for r in tfl:
        ref = find(rows, float_name, r["runtime"], r["threads"])
        if ref is None or r["model"] == float_name:
            continue
        versus_float.append({
            "model": r["model"], "float_model": float_name, "runtime": r["runtime"], "threads": r["threads"],
            "invoke_speedup": ratio(median(ref, "invoke"), median(r, "invoke")),
            "predict_speedup": ratio(median(ref, "predict"), median(r, "predict")),
            "size_ratio": ratio(ref.get("file_bytes"), r.get("file_bytes")),
            "accuracy_delta_points": (100 * (r["accuracy"] - ref["accuracy"])
                                      if r.get("accuracy") is not None and ref.get("accuracy") is not None
                                      else None),
        })
    versus_keras = []
    for k in (r for r in ok_rows(rows) if r["kind"] == "keras"):
        for r in (r for r in tfl if r["threads"] == k["threads"]):
            versus_keras.append({
                "model": r["model"], "runtime": r["runtime"], "threads": r["threads"],
                "keras_model": k["model"], "keras_runtime": k["runtime"],
                "invoke_speedup": ratio(median(k, "invoke"), median(r, "invoke")),
                "predict_speedup": ratio(median(k, "predict"), median(r, "predict")),
            })
    return {"versus_float": versus_float, "versus_keras": versus_keras}


def goal(name: str, target: str, value: float | None, met: bool | None, measured: str, note: str = "") -> dict:
    return {"goal": name, "target": target, "value": value, "measured": measured,
            "status": "not measured" if met is None else ("met" if met else "missed"), "note": note}


def goals(rows: list[dict]) -> list[dict]:
    """The issue's three goals on this machine, one thread, the first TFLite runtime measured."""
    float_name, int8_name = float_and_int8(rows)
    runtime = next((r["runtime"] for r in ok_rows(rows) if r["kind"] == "tflite"), None)
    f1, i1 = find(rows, float_name, runtime, 1), find(rows, int8_name, runtime, 1)
    keras = find(rows, pick([r for r in ok_rows(rows) if r["runtime"] == "keras-predict"], ""), "keras-predict", 1)
    where = f"{runtime}, 1 thread"
    out = []

    speed = ratio(median(f1, "invoke") if f1 else None, median(i1, "invoke") if i1 else None)
    if speed is None:
        out.append(goal("int8 invoke at least 2x faster than float32", ">= 2.0x", None, None, "-",
                        "needs a float and an int8 TFLite model measured with 1 thread"))
    else:
        out.append(goal("int8 invoke at least 2x faster than float32", ">= 2.0x", speed, speed >= GOAL_INT8_SPEEDUP,
                        f"{speed:.2f}x ({where}: {median(f1, 'invoke'):.1f} vs {median(i1, 'invoke'):.1f} µs median)",
                        "" if speed >= GOAL_INT8_SPEEDUP else f"missed by {GOAL_INT8_SPEEDUP - speed:.2f}x"))

    acc_f, acc_i = (f1 or {}).get("accuracy"), (i1 or {}).get("accuracy")
    if acc_f is None or acc_i is None:
        out.append(goal("int8 accuracy within 0.1 point of float32", "<= 0.1 point lower", None, None, "-",
                        "needs the accuracy of both models"))
    else:
        drop = round(100 * (acc_f - acc_i), 6)
        change = -drop + 0.0  # +0.0: never "-0.00"
        ok = drop <= GOAL_ACCURACY_POINTS + 1e-9
        out.append(goal("int8 accuracy within 0.1 point of float32", "<= 0.1 point lower", change, ok,
                        f"{100 * acc_i:.2f}% vs {100 * acc_f:.2f}% ({change:+.2f} points)",
                        "" if ok else f"missed by {drop - GOAL_ACCURACY_POINTS:.2f} points"))

    fast = ratio(median(keras, "invoke") if keras else None, median(i1, "invoke") if i1 else None)
    if fast is None:
        why = ("no Keras model measured: models/digits.keras (written by `digitedge publish`) was not there, "
               "TensorFlow is not installed, or --model named none" if keras is None else "")
        out.append(goal("TFLite int8 single-image inference at least 100x faster than Keras model.predict",
                        ">= 100x", None, None, "-", why))
    else:
        path = ratio(median(keras, "predict"), median(i1, "predict"))
        ok = fast >= GOAL_KERAS_SPEEDUP
        out.append(goal("TFLite int8 single-image inference at least 100x faster than Keras model.predict",
                        ">= 100x", fast, ok,
                        f"{fast:.0f}x ({where}: model.predict {median(keras, 'invoke') / 1000:.2f} ms vs "
                        f"invoke {median(i1, 'invoke'):.1f} µs median)",
                        (f"with the photo preprocessing both share, the whole predict path is {path:.1f}x faster"
                         if path else "") + ("" if ok else f"; missed by {GOAL_KERAS_SPEEDUP - fast:.0f}x")))
    return out + path_goals(f1, i1, where)


def path_goals(f1: dict | None, i1: dict | None, where: str) -> list[dict]:
    """Issue 18: the whole predict path as fast as the model (int8, 1 thread)."""
    path, invoke = (median(i1, "predict"), median(i1, "invoke")) if i1 else (None, None)
    speed = ratio(median(f1, "predict") if f1 else None, path)
    names = ("predict path at most 1.0 ms (int8)", "predict path at most 10x the int8 invoke",
             "whole predict path: int8 at least 1.5x faster than float32")
    if path is None or invoke is None:
        return [goal(n, t, None, None, "-", "needs an int8 TFLite model measured with 1 thread")
                for n, t in zip(names, ("<= 1.0 ms", "<= 10x", ">= 1.5x"))]
    per_invoke = path / invoke
    out = [goal(names[0], "<= 1.0 ms", path, path <= GOAL_PATH_US, f"{path / 1000:.3f} ms ({where}, median)"),
           goal(names[1], "<= 10x", per_invoke, per_invoke <= GOAL_PATH_PER_INVOKE,
                f"{per_invoke:.1f}x ({path:.0f} vs {invoke:.1f} µs median)")]
    if speed is None:
        return out + [goal(names[2], ">= 1.5x", None, None, "-", "needs the float32 model measured too")]
    return out + [goal(names[2], ">= 1.5x", speed, speed >= GOAL_PATH_SPEEDUP,
                       f"{speed:.2f}x ({median(f1, 'predict'):.0f} vs {path:.0f} µs median)")]
