"""A TFLite interpreter behind one small class, whichever package provides it.

Backends: ai-edge-litert (the current one) and tflite-runtime (older Pis, numpy<2).
Shapes, dtypes, scale and zero point are read from the model's own tensor details,
never assumed, so float32, uint8 and int8 models all run through the same code; a
model made elsewhere is fed the layout, range and polarity it wants (convention.py).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitedge.errors import ModelError

from .convention import (
    MIN_SHARE,
    RANGES,
    Convention,
    Detection,
    Override,
    candidates,
    detect,
    from_metadata,
    with_override,
)
from .metadata import FlatBufferError, read_metadata
from .modelfile import check_model_bytes
from .nativelog import captured_stderr
from .preprocess import normalize

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
    dynamic_batch: bool = False  # the file leaves the batch dimension open (-1)
    name: str = ""

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0 and self.dtype.kind in "iu"  # an integer type (np.issubdtype: 10x slower)


def _spec(detail: dict) -> TensorSpec:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    signature = detail.get("shape_signature", detail["shape"])
    return TensorSpec(
        tuple(int(d) for d in detail["shape"]),
        np.dtype(detail["dtype"]),
        float(scale),
        int(zero_point),
        len(signature) > 0 and int(signature[0]) == -1,
        str(detail.get("name", "")),
    )


# (file, size, time, override) -> Detection: a server loads one model per worker, detected once.
_DETECTED: dict[tuple, Detection] = {}


class Model:
    """One loaded .tflite: floats in [0, 1] of shape (28, 28, 1), white on black, in; class scores out.

    The model's own input convention (layout, range, polarity) is applied here: from its
    digitedge metadata, from `override`, or detected on the bundled digits (convention.py).
    """

    def __init__(self, path: str | Path, backend: str = "auto", threads: int | None = None,
                 override: Override | None = None):
        self.path = Path(path)
        if threads is not None and threads < 1:
            raise ModelError(f"threads must be at least 1, not {threads}")
        self.backend, cls = interpreter_class(backend)
        check_model_file(self.path)
        self.metadata = _read_metadata(self.path)
        override = override if override is not None else Override()
        try:
            # drop "INFO: Created TensorFlow Lite XNNPACK delegate", which no setting turns off
            with captured_stderr(keep=lambda line: not line.startswith("INFO: ")):
                self.interpreter = cls(model_path=str(self.path), num_threads=threads)
                self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ModelError(f"{self.path}: not a usable TFLite model ({first})") from None
        self._pick_tensors()
        self._check_shapes()
        self.detection: Detection | None = None
        if self.metadata is not None:
            self.convention = with_override(from_metadata(self.metadata), override)
        else:
            self.convention = self._detect(override)
        self._pixels_direct = self._takes_pixels()

    def _pick_tensors(self) -> None:
        """The input, the scores output and (when the metadata marks one) the features output."""
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        if len(inputs) != 1:
            raise ModelError(f"{self.path}: model has {len(inputs)} inputs, expected 1 (a 28x28 image)")
        marked = (self.metadata or {}).get("outputs") or {}
        by_name = {d["name"]: d for d in outputs}
        for role in ("scores", "features"):
            if role in marked and marked[role] not in by_name:
                raise ModelError(f"{self.path}: its metadata names {marked[role]!r} as the {role} output, "
                                 f"but the model's outputs are {', '.join(sorted(by_name))}")
        if "scores" in marked:
            scores = by_name[marked["scores"]]
        elif len(outputs) == 1:
            scores = outputs[0]
        else:
            raise ModelError(f"{self.path}: model has {len(outputs)} outputs and none is marked as the "
                             "class scores (digitedge metadata \"outputs\": {\"scores\": NAME})")
        self.input, self.output = _spec(inputs[0]), _spec(scores)
        # worked out once: prepare() runs per photo
        info = np.iinfo(self.input.dtype) if self.input.dtype.kind in "iu" else None
        self._input_bounds = (info.min, info.max) if info is not None else None
        self._shape_one = self.batch_shape(1)
        self.features_output = _spec(by_name[marked["features"]]) if "features" in marked else None
        self._input_index, self._output_index = inputs[0]["index"], scores["index"]
        self._features_index = by_name[marked["features"]]["index"] if "features" in marked else None

    def _check_shapes(self) -> None:
        dims = tuple(d for d in self.input.shape[1:] if d != 1)
        if len(self.input.shape) not in (2, 3, 4) or self.input.shape[0] not in (1, -1) or \
                dims not in ((28, 28), (784,)):
            raise ModelError(
                f"{self.path}: model input is {shape_text(self.input.shape)}, "
                "expected 1x28x28x1 (a 28x28 grayscale image)"
            )
        size = int(np.prod(self.output.shape[1:])) if len(self.output.shape) > 1 else 0
        if len(self.output.shape) != 2 or self.output.shape[0] not in (1, -1) or size < 2:
            raise ModelError(f"{self.path}: model output is {shape_text(self.output.shape)}, expected 1xN class scores")
        wanted = len(self.metadata.get("labels", range(10))) if self.metadata is not None else 10
        if size != wanted:
            what = "its metadata lists" if self.metadata is not None else "a digit model has"
            raise ModelError(f"{self.path}: model outputs {size} class scores, but {what} {wanted} classes")

    def _detect(self, override: Override) -> Convention:
        """No metadata: the convention that reads the bundled digits best (or the one given)."""
        spec = self.input
        real = None
        if spec.quantized:
            info = np.iinfo(spec.dtype)
            real = ((info.min - spec.zero_point) * spec.scale, (info.max - spec.zero_point) * spec.scale)
        options = candidates(spec.dtype, spec.quantized, override, real)
        stat = self.path.stat()
        key = (str(self.path.resolve()), stat.st_mtime_ns, stat.st_size, override)
        if key not in _DETECTED:
            _DETECTED[key] = detect(self._read, options)
        self.detection = found = _DETECTED[key]
        if found.searched and found.correct < MIN_SHARE * found.total:
            raise ModelError(
                f"{self.path}: no digitedge metadata, and no input convention reads the bundled digits "
                f"(best: {self.convention_text(found.convention)}, {found.share_text}; "
                f"{MIN_SHARE:.0%} needed): give --input-range and --invert if you know them"
            )
        return found.convention

    def convention_text(self, convention: Convention | None = None) -> str:
        """e.g. "float 0-255, white on black"."""
        return (convention or self.convention).text(self.input.dtype, self.input.quantized)

    def bundled_reading(self) -> Detection:
        """How many bundled digits the model reads under its convention (detection's count when it detected)."""
        return self.detection or detect(self._read, [self.convention])

    def convention_note(self) -> str | None:
        """For a model without metadata: how its convention was found, and how well it reads."""
        if self.detection is None:
            return None
        how = "detected" if self.detection.searched else "given"
        return f"no digitedge metadata: input {how} as {self.convention_text()} ({self.detection.share_text})"

    def _read(self, images: np.ndarray, convention: Convention) -> np.ndarray:
        """Class probabilities (n, classes) under a convention (detection tries several)."""
        return self.run_batch(images, convention=convention)

    def run_batch(self, images: np.ndarray, features: bool = False, convention: Convention | None = None):
        """Images as floats in [0, 1] (n, 28, 28, 1) -> probabilities (n, classes); with features=True,
        (probabilities, features (n, size)). One invoke for all when the batch dimension is open."""
        self._check_features(features)
        n = len(images)
        if not self.input.dynamic_batch:
            outputs = [self._invoke(self.prepare(x, convention)) for x in images]
        else:
            self.interpreter.resize_tensor_input(self._input_index, self.batch_shape(n))
            self.interpreter.allocate_tensors()
            try:
                outputs = [self._invoke(self.prepare(images, convention))]
            finally:
                self.interpreter.resize_tensor_input(self._input_index, self.batch_shape(1))
                self.interpreter.allocate_tensors()
        scores = self.dequantize_output(np.concatenate([s.reshape(-1) for s, _ in outputs])).reshape(n, -1)
        probs = np.stack([as_probabilities(row) for row in scores])
        if not features:
            return probs
        feats = np.concatenate([f.reshape(-1) for _, f in outputs])
        return probs, self.dequantize_output(feats, self.features_output).reshape(n, -1)

    @property
    def num_classes(self) -> int:
        return int(np.prod(self.output.shape[1:]))

    @property
    def scores_index(self) -> int:
        return self._output_index

    def batch_shape(self, n: int) -> list[int]:
        """The input's shape for n images (n > 1 only where the batch dimension is open)."""
        return [n] + [abs(d) for d in self.input.shape[1:]]

    def prepare(self, x: np.ndarray, convention: Convention | None = None) -> np.ndarray:
        """Floats in [0, 1], white on black, (28, 28, 1) or (n, 28, 28, 1) -> the model's input:
        its layout, polarity, range and dtype (quantized with its own scale and zero point)."""
        convention = convention or self.convention
        n = x.size // 784
        v = np.asarray(x, dtype=np.float32)
        if convention.invert:
            v = 1.0 - v
        if convention.range != "0-1":  # ours: no work added on the hot path
            v = RANGES[convention.range](v)
        spec = self.input
        if spec.quantized:
            v = np.rint(v / spec.scale + spec.zero_point)
        elif spec.dtype.kind == "i":
            v = v - 128.0  # a raw pixel into a signed type: centred, as int8 input without parameters is
        if self._input_bounds is not None:  # (np.clip and np.iinfo cost more than the rest together)
            v = np.minimum(np.maximum(v, self._input_bounds[0]), self._input_bounds[1])
        return v.astype(spec.dtype).reshape(self._shape_one if n == 1 else self.batch_shape(n))

    quantize_input = prepare  # the name the benchmarks know it by

    def dequantize_output(self, y: np.ndarray, spec: TensorSpec | None = None) -> np.ndarray:
        spec = spec or self.output
        return _dequantized(y.reshape(-1), spec.scale, spec.zero_point)

    def _invoke(self, model_input: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        self.interpreter.set_tensor(self._input_index, model_input)
        self.interpreter.invoke()
        features = None if self._features_index is None else self.interpreter.get_tensor(self._features_index)
        return self.interpreter.get_tensor(self._output_index), features

    def run(self, x: np.ndarray, features: bool = False):
        """One image as floats in [0, 1] (28, 28, 1) -> class probabilities (num_classes,);
        with features=True, (probabilities, the features output's vector) for models that mark one."""
        return self._outputs(self.prepare(x), features)

    def run_pixels(self, pixels: np.ndarray, features: bool = False):
        """run(normalize(pixels)) for one MNIST-like uint8 28x28. A model that takes the raw pixel
        (uint8, scale 1/255, zero point 0, white on black: ours) is handed it as it is: prepare's
        float round trip gives back the very same integers, and costs ~8 µs a digit."""
        if self._pixels_direct and pixels.dtype == np.uint8:
            return self._outputs(pixels.reshape(self._shape_one), features)
        return self.run(normalize(pixels), features)

    def _takes_pixels(self) -> bool:  # worked out once, in __init__
        spec, convention = self.input, self.convention
        return (spec.dtype == np.uint8 and spec.zero_point == 0 and abs(spec.scale * 255 - 1) < 1e-6
                and not convention.invert and convention.range == "0-1")

    def _check_features(self, features: bool) -> None:
        if features and self.features_output is None:
            raise ModelError(f"{self.path}: the model has no features output (its metadata marks none)")

    def _outputs(self, model_input: np.ndarray, features: bool):
        self._check_features(features)
        scores, feats = self._invoke(model_input)
        probabilities = as_probabilities(self.dequantize_output(scores))
        return (probabilities, self.dequantize_output(feats, self.features_output)) if features else probabilities


def _read_metadata(path: Path) -> dict | None:
    try:
        return read_metadata(path)
    except (FlatBufferError, ValueError) as e:
        raise ModelError(f"{path}: unreadable digitedge metadata ({e})") from None


def quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    """Floats -> a tensor's dtype, with the scale and zero point of its details (as the interpreter gives
    them): for whole batches off the device (convert's check); Model.prepare does the same per photo."""
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = detail.get("quantization", (0.0, 0))
    if not np.issubdtype(dtype, np.integer) or not scale:
        return x.astype(dtype)
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(dtype)


def dequantize(y: np.ndarray, detail: dict) -> np.ndarray:
    """A tensor's values as float32, with the scale and zero point of its details."""
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return _dequantized(y, scale, zero_point)


def _dequantized(y: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    if scale and y.dtype.kind in "iu":  # an integer tensor with parameters (np.issubdtype: 10x slower)
        return (y.astype(np.float32) - zero_point) * np.float32(scale)
    return y.astype(np.float32)


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
