"""`digitedge convert` end to end. For each format:

    convert in memory -> embed metadata -> verify the final bytes -> gate -> write atomically

Every format is converted and verified before any file is written, and a refused
int8 holds back every format: the files in a folder always come from one source
model, and its conversion_report.json (written last) describes them. A refused
conversion writes nothing at all; the printed table says why.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digitedge.convert import calibration, features, output, source, tflite, verify
from digitedge.convert import metadata as meta_mod
from digitedge.convert.errors import AccuracyGateError, ConvertError, FormatError

REPORT_NAME = "conversion_report.json"
TEST_IMAGES = 10000
RAW_PIXEL = (1.0 / 255.0, 0)  # uint8 input whose value is the pixel itself


@dataclass(frozen=True)
class Settings:
    source: Path
    out: Path
    formats: list = field(default_factory=lambda: list(tflite.DEFAULT_FORMATS))
    io: str = "uint8"
    calibration_samples: int = 500
    verify_images: int = 1000
    max_int8_drop: float = 0.3  # percentage points
    seed: int = 0
    name: str | None = None  # file names NAME_<format>.tflite; default: the source's stem


@dataclass(frozen=True)
class Plan:
    settings: Settings
    source: source.Source
    formats: list
    io: str
    name: str

    def target(self, fmt: str) -> Path:
        return self.settings.out / f"{self.name}_{fmt}.tflite"


@dataclass
class Row:
    format: str
    file: str
    size: int
    comparison: verify.Comparison
    tensors: dict
    gate: str  # "passed", "refused" or "-" (no gate for this format)
    data: bytes = field(default=b"", repr=False)  # the verified bytes, metadata included
    written: bool = False
    features: dict | None = None  # the feature output against Keras' (None: one output)


@dataclass(frozen=True)
class Reference:
    """What every format is checked against: test images, labels, and Keras' outputs on them."""
    x: np.ndarray
    y: np.ndarray
    probs: np.ndarray
    features: np.ndarray | None  # None: the model has no feature layer (one output)
    feature_layer: str | None


@dataclass
class Result:
    plan: Plan
    rows: list
    calibration: dict | None
    verification: dict
    report_path: Path | None = None
    written: list = field(default_factory=list)

    @property
    def refused(self) -> list:
        return [r for r in self.rows if r.gate == "refused"]

    def raise_if_refused(self) -> None:
        for row in self.refused:
            c = row.comparison
            raise AccuracyGateError(
                f"{row.format} loses {c.drop_pp:.2f} percentage points "
                f"(Keras {100 * c.keras_accuracy:.2f}%, {row.format} {100 * c.tflite_accuracy:.2f}% "
                f"on {c.images} images), more than --max-int8-drop {self.plan.settings.max_int8_drop:g}; "
                "no model written")


def check_inputs(settings: Settings) -> Plan:
    """Everything that can be checked without TensorFlow and without writing anything."""
    formats = tflite.parse_formats(settings.formats)
    io = tflite.check_io(settings.io)
    if not calibration.MIN_SAMPLES <= settings.calibration_samples <= 60000:
        raise FormatError(f"--calibration-samples {settings.calibration_samples}: must be "
                          f"{calibration.MIN_SAMPLES} to 60000")
    if settings.verify_images < 1:
        raise FormatError(f"--verify-images {settings.verify_images}: must be at least 1")
    src = source.check_file(settings.source)
    name = settings.name or src.path.stem
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise FormatError(f"--name {name!r}: use letters, digits, '.', '_' and '-' only")
    output.check_out_dir(settings.out)
    return Plan(settings, src, formats, io, name)


def _noop(text: str) -> None:
    pass


def run(plan: Plan | Settings, mnist, progress: Callable[[str], None] = _noop) -> Result:
    """Convert, verify and (when every gate passes) write; returns what happened."""
    if isinstance(plan, Settings):
        plan = check_inputs(plan)
    s = plan.settings
    model, layer = features.with_features(source.load(plan.source))
    progress(f"loaded {plan.source.path} (sha256 {plan.source.sha256[:12]})"
             + (f"; features: the input of {layer!r}, a second output" if layer else "; no feature output"))

    cal_images, cal_info = None, None
    if "int8" in plan.formats:
        cal_images, idx = calibration.representative_images(mnist.x_train, mnist.y_train,
                                                             s.calibration_samples, s.seed)
        per_digit = np.bincount(mnist.y_train[idx], minlength=10).tolist()
        cal_info = {"samples": len(idx), "per_digit": per_digit, "seed": s.seed, "from": "MNIST training images"}
        progress(f"int8 calibration: {len(idx)} training images ({min(per_digit)}-{max(per_digit)} per digit)")

    test_idx = verify.verification_indices(len(mnist.y_test), min(s.verify_images, TEST_IMAGES), s.seed)
    from digitedge.edge_runtime.preprocess import normalize

    x_test, y_test = normalize(mnist.x_test[test_idx]), mnist.y_test[test_idx].astype(np.int64)
    full = len(test_idx) == len(mnist.y_test)
    verification = {"images": len(test_idx), "full_test_set": full, "seed": None if full else s.seed,
                    "from": "MNIST test images"}
    progress(f"verifying on {len(test_idx)} test images" + (" (the full test set)" if full else ""))
    outputs = model.predict(x_test, batch_size=256, verbose=0)
    scores, feats = (outputs[0], outputs[1]) if layer else (outputs, None)
    ref = Reference(x_test, y_test, verify.as_probabilities(scores), feats, layer)

    rows = [_convert_one(plan, fmt, model, cal_images, cal_info, ref, progress) for fmt in plan.formats]
    result = Result(plan, rows, cal_info, verification)
    if result.refused:
        return result  # nothing written: the folder keeps describing the models it holds
    output.make_dir(s.out)
    for row in rows:
        output.write_model(plan.target(row.format), row.data)
        row.written = True
        result.written.append(plan.target(row.format))
    result.report_path = s.out / REPORT_NAME
    from digitedge.convert.report import report_dict

    output.write_text(result.report_path, json.dumps(report_dict(result), indent=2) + "\n")
    return result


def _convert_one(plan: Plan, fmt, model, cal_images, cal_info, ref: Reference, progress) -> Row:
    s = plan.settings
    raw = tflite.convert(model, fmt, cal_images, plan.io)
    if ref.feature_layer:
        raw = features.order_outputs(raw)
    tensors = verify.io_info(raw)
    if fmt == "int8" and plan.io == "uint8":
        check_raw_pixel(tensors["input"])
    outputs = verify.run_outputs(raw, ref.x)
    probs = verify.as_probabilities(outputs[0])
    cmp = verify.compare(ref.probs, probs, ref.y)
    accuracy = {"tflite": cmp.tflite_accuracy, "keras": cmp.keras_accuracy, "agreement": cmp.agreement,
                "max_prob_diff": round(cmp.max_prob_diff, 6), "images": cmp.images,
                "full_test_set": cmp.images == TEST_IMAGES}
    extra = {"calibration_samples": cal_info["samples"]} if fmt == "int8" and cal_info else {}
    if ref.feature_layer:
        extra.update(feature_metadata(fmt, ref, tensors, outputs[1]))
    meta = meta_mod.build(quantization=fmt, tensors=tensors, source_name=plan.source.path.name,
                          source_sha256=plan.source.sha256, accuracy=accuracy, extra=extra)
    data = meta_mod.embed(raw, meta)
    # The final bytes are the ones verified: metadata reads back, outputs unchanged.
    if read_back(data) != meta:
        raise ConvertError(f"{fmt}: the embedded metadata does not read back")
    if not all(np.array_equal(a, b) for a, b in zip(verify.run_outputs(data, ref.x), outputs)):
        raise ConvertError(f"{fmt}: embedding the metadata changed the model's outputs")
    gate = "-"
    if fmt == "int8":
        gate = "refused" if cmp.drop_pp > s.max_int8_drop else "passed"
    progress(f"{fmt}: {len(data) / 1024:.0f} KB, accuracy {100 * cmp.tflite_accuracy:.2f}% "
             f"(Keras {100 * cmp.keras_accuracy:.2f}%), agreement {100 * cmp.agreement:.2f}%")
    return Row(fmt, plan.target(fmt).name, len(data), cmp, tensors, gate, data, features=extra.get("features"))


def feature_metadata(fmt: str, ref: Reference, tensors: dict, tflite_features: np.ndarray) -> dict:
    """The metadata's "outputs" (which output is which) and "features" (how close to Keras);
    features too far from Keras' stop the conversion."""
    error = features.feature_error(ref.features, tflite_features)
    if error["mean_relative_error"] > features.MAX_FEATURE_ERROR:
        raise ConvertError(f"{fmt}: the features differ from Keras' by {error['mean_relative_error']:.3f} "
                           f"(mean relative error), more than {features.MAX_FEATURE_ERROR:g}; no model written")
    return {"outputs": {"scores": features.SCORES, "features": features.FEATURES},
            "features": {"layer": ref.feature_layer, **tensors["features"], **error}}


def read_back(data: bytes) -> dict | None:
    """The metadata as the device will read it: edge_runtime's TensorFlow-free reader."""
    try:
        from digitedge.edge_runtime.metadata import read_metadata
    except ImportError:  # the edge runtime's reader not there yet: the schema's object API
        return meta_mod.read(data)
    return read_metadata(data)


def check_raw_pixel(info: dict) -> None:
    """A uint8 int8-model must take the pixel itself (scale 1/255, zero point 0)."""
    if abs(info["scale"] - RAW_PIXEL[0]) > 1e-6 or info["zero_point"] != RAW_PIXEL[1]:
        raise ConvertError(f"int8 input quantization is scale {info['scale']:.6g}, zero point "
                           f"{info['zero_point']}, not the raw pixel (1/255, 0); the calibration "
                           "images do not span black to white: use more --calibration-samples")
