"""A TFLite interpreter behind one small class, whichever package provides it.

Backends: ai-edge-litert (the current one) and tflite-runtime (older Pis, numpy<2).
Shapes, dtypes, scale and zero point are read from the model's own tensor details,
never assumed, so float32, uint8 and int8 models all run through the same code.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitedge.errors import ModelError

from .metadata import FlatBufferError
from .modelfile import check_model_bytes
from .nativelog import captured_stderr

# name -> module that provides `Interpreter`; "auto" tries them in this order.
BACKENDS = {
    "litert": "ai_edge_litert.interpreter",
    "tflite-runtime": "tflite_runtime.interpreter",
}
ALIASES = {
    "ai-edge-litert": "litert",
    "ai_edge_litert": "litert",
    "tflite_runtime": "tflite-runtime",
}
PIP_NAMES = {"litert": "ai-edge-litert", "tflite-runtime": "tflite-runtime"}


def available_backends() -> list[str]:
    """The backends whose package can be imported here, in "auto" order."""
    found = []
    for name, module in BACKENDS.items():
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        found.append(name)
    return found


def interpreter_class(backend: str = "auto") -> tuple[str, type]:
    """(backend name, its Interpreter class); imported here, lazily, never at module load."""
    backend = ALIASES.get(backend, backend)
    if backend != "auto" and backend not in BACKENDS:
        raise ModelError(f"unknown backend {backend!r} (choose auto, {', '.join(BACKENDS)})")
    names = list(BACKENDS) if backend == "auto" else [backend]
    for name in names:
        try:
            return name, importlib.import_module(BACKENDS[name]).Interpreter
        except ImportError:
            continue
    wanted = " or ".join(PIP_NAMES[n] for n in names)
    raise ModelError(f"no TFLite interpreter: install {wanted} (pip install digitedge[edge])")


@dataclass(frozen=True)
class TensorSpec:
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float  # 0.0 when the tensor is not quantized
    zero_point: int

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0 and np.issubdtype(self.dtype, np.integer)


def _spec(detail: dict) -> TensorSpec:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return TensorSpec(
        tuple(int(d) for d in detail["shape"]),
        np.dtype(detail["dtype"]),
        float(scale),
        int(zero_point),
    )


class Model:
    """One loaded .tflite: floats in [0, 1] of shape (28, 28, 1) in, class scores out."""

    def __init__(self, path: str | Path, backend: str = "auto", threads: int | None = None):
        self.path = Path(path)
        if threads is not None and threads < 1:
            raise ModelError(f"threads must be at least 1, not {threads}")
        self.backend, cls = interpreter_class(backend)
        check_model_file(self.path)
        try:
            # drop "INFO: Created TensorFlow Lite XNNPACK delegate", which no setting turns off
            with captured_stderr(keep=lambda line: not line.startswith("INFO: ")):
                self.interpreter = cls(model_path=str(self.path), num_threads=threads)
                self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ModelError(f"{self.path}: not a usable TFLite model ({first})") from None
        inputs, outputs = (
            self.interpreter.get_input_details(),
            self.interpreter.get_output_details(),
        )
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(
                f"{self.path}: model has {len(inputs)} inputs and {len(outputs)} outputs, expected 1 and 1"
            )
        self.input, self.output = _spec(inputs[0]), _spec(outputs[0])
        self._input_index, self._output_index = inputs[0]["index"], outputs[0]["index"]
        self._check_shapes()

    def _check_shapes(self) -> None:
        size = tuple(d for d in self.input.shape[1:] if d != 1) if len(self.input.shape) > 1 else ()
        if len(self.input.shape) not in (3, 4) or self.input.shape[0] not in (1, -1) or size != (28, 28):
            raise ModelError(
                f"{self.path}: model input is {shape_text(self.input.shape)}, "
                "expected 1x28x28x1 (a 28x28 grayscale image)"
            )
        if len(self.output.shape) != 2 or self.output.shape[0] not in (1, -1) or self.output.shape[1] < 2:
            raise ModelError(f"{self.path}: model output is {shape_text(self.output.shape)}, expected 1xN class scores")

    @property
    def num_classes(self) -> int:
        return self.output.shape[1]

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        """Floats in [0, 1] -> the model's input dtype, via its own scale and zero point."""
        x = x.reshape((1,) + tuple(abs(d) for d in self.input.shape[1:]))
        if not self.input.quantized:
            return x.astype(self.input.dtype)
        info = np.iinfo(self.input.dtype)
        q = np.round(x / self.input.scale + self.input.zero_point)
        return np.clip(q, info.min, info.max).astype(self.input.dtype)

    def dequantize_output(self, y: np.ndarray) -> np.ndarray:
        y = y.reshape(-1)
        if self.output.quantized:
            return (y.astype(np.float32) - self.output.zero_point) * self.output.scale
        return y.astype(np.float32)

    def run(self, x: np.ndarray) -> np.ndarray:
        """One image as floats in [0, 1] (28, 28, 1) -> class probabilities (num_classes,)."""
        self.interpreter.set_tensor(self._input_index, self.quantize_input(x))
        self.interpreter.invoke()
        scores = self.dequantize_output(self.interpreter.get_tensor(self._output_index))
        return as_probabilities(scores)


def as_probabilities(scores: np.ndarray) -> np.ndarray:
    """Softmax outputs pass through; logits (negative or not summing to 1) get a softmax."""
    if scores.min() >= 0 and abs(float(scores.sum()) - 1.0) < 0.05:
        return scores / scores.sum()
    e = np.exp(scores - scores.max())
    return e / e.sum()


def shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape) or "a scalar"


def check_model_file(path: Path) -> None:
    """Fail early, with the file's name, on what an interpreter would report obscurely (or,
    for tflite-runtime, crash on)."""
    if not path.exists():
        raise ModelError(f"{path}: model file not found")
    if path.is_dir():
        raise ModelError(f"{path}: is a directory, not a .tflite model")
    data = path.read_bytes()
    if not data:
        raise ModelError(f"{path}: empty file, not a .tflite model")
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelError(f"{path}: not a TFLite model (no TFL3 identifier)")
    try:
        check_model_bytes(data)
    except FlatBufferError as e:
        raise ModelError(f"{path}: not a usable TFLite model (corrupt or truncated: {e})") from None
