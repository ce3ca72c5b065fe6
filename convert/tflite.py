"""One converter per format, all through tf.lite.TFLiteConverter.from_keras_model.

float32  the model as it is
float16  weights stored as float16 (half the size; computed in float32 on a CPU)
dynamic  weights int8, activations float, quantized on the fly (no calibration)
int8     full integer: every op int8 (TFLITE_BUILTINS_INT8), calibrated on a
         representative dataset, integer input and output (uint8 by default: the raw
         0-255 pixel, so the device does no float work before the model)
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from digitedge.convert.calibration import representative_dataset
from digitedge.convert.errors import ConvertError, FormatError
from digitedge.quiet import quiet

FORMATS = ("float32", "float16", "dynamic", "int8")
IO_TYPES = ("uint8", "int8", "float32")
DEFAULT_FORMATS = ("float32", "int8")


def parse_formats(values: Iterable[str] | None) -> list[str]:
    """["float32,int8", "dynamic"] -> ["float32", "dynamic", "int8"]: known names, canonical order."""
    names = [v.strip().lower() for value in (values or DEFAULT_FORMATS) for v in value.split(",")]
    names = [n for n in names if n]
    for n in names:
        if n not in FORMATS:
            raise FormatError(f"unknown format {n!r}: choose {', '.join(FORMATS)}")
    if not names:
        raise FormatError(f"no format given: choose {', '.join(FORMATS)}")
    return [f for f in FORMATS if f in names]


def check_io(io: str) -> str:
    if io.lower() not in IO_TYPES:
        raise FormatError(f"unknown --io {io!r}: choose {', '.join(IO_TYPES)}")
    return io.lower()


def converter_for(model, fmt: str, calibration: np.ndarray | None = None, io: str = "uint8"):
    """The configured TFLiteConverter for one format."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if fmt == "float32":
        return converter
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if fmt == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif fmt == "int8":
        if calibration is None or len(calibration) == 0:
            raise ConvertError("int8 needs calibration images")
        converter.representative_dataset = representative_dataset(calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        dtype = {"uint8": tf.uint8, "int8": tf.int8, "float32": tf.float32}[io]
        converter.inference_input_type = dtype
        converter.inference_output_type = dtype
    elif fmt != "dynamic":
        raise FormatError(f"unknown format {fmt!r}: choose {', '.join(FORMATS)}")
    return converter


def convert(model, fmt: str, calibration: np.ndarray | None = None, io: str = "uint8") -> bytes:
    """The .tflite bytes of model in one format (no metadata yet)."""
    try:
        with quiet():
            return bytes(converter_for(model, fmt, calibration, io).convert())
    except ConvertError:
        raise
    except Exception as e:  # the converter raises ConverterError, RuntimeError, ValueError...
        text = str(e).strip().splitlines()
        raise ConvertError(f"{fmt} conversion failed ({text[0] if text else type(e).__name__})") from None
