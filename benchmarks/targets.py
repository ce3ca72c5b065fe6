"""What is measured for each configuration: a loaded model and the calls that are timed.

A TFLite target is the device's own code: edge_runtime's Recognizer (and the model
wrapper inside it, which reads shapes, dtypes and quantization from the model).
`invoke` times `interpreter.invoke()` alone, its input already set to the test
photo's digit; `predict` times `Recognizer.predict(photo)`, the whole path a user
calls: finding and cropping the digit, scaling, normalizing, quantizing, invoking,
softmax and top 3.

A Keras target is what a user without TFLite would run: the .keras model, either
through `model.predict(x)` or through a direct call `model(x, training=False)`.
TensorFlow is imported only when a Keras target is built, so a device without it
benchmarks its TFLite models all the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitedge.errors import ModelError

from .common import KERAS_HINT, check_digit_input, import_keras, keras_threads, load_keras_model, tensorflow_installed

TFLITE, KERAS = "tflite", "keras"
KERAS_METHODS = ("predict", "call")


@dataclass(frozen=True)
class Spec:
    """One configuration: a model file x a runtime x a thread count."""

    name: str  # short model name for tables: the file's stem
    path: Path
    kind: str  # tflite or keras
    runtime: str  # litert, tflite-runtime, keras-predict or keras-call
    threads: int
    override: object = None  # a .tflite without metadata: edge_runtime's convention.Override (None: detected)
    personal: Path | None = None  # a personal head the Recognizer reads through (bench --personal)

    @property
    def key(self) -> str:
        return f"{self.name}|{self.runtime}|{self.threads}t"


def kind_of(path: Path) -> str | None:
    return {".tflite": TFLITE, ".keras": KERAS}.get(path.suffix.lower())


def fix_opencv_threads(threads: int) -> None:
    """OpenCV runs the photo preprocessing with its own thread pool (all cores by default);
    the predict path of a configuration uses the configuration's thread count there too."""
    import cv2

    cv2.setNumThreads(threads)


def top1(probabilities: np.ndarray) -> int:
    """The most likely class, broken ties and all exactly as Recognizer.classify picks it."""
    return int(np.argsort(-probabilities, kind="stable")[0])


def label_of(labels: list[str], index: int) -> int:
    """Recognizer's rule: a label that is a number is that number, else the index."""
    label = labels[index]
    return int(label) if label.isdigit() else index


class TfliteTarget:
    def __init__(self, spec: Spec, photo: np.ndarray):
        from digitedge.edge_runtime.preprocess import normalize, prepare

        self.spec, self.photo = spec, photo
        self.recognizer = self.load()
        self.model = self.recognizer.model  # edge_runtime's wrapper: specs, quantize, run
        self.interpreter = self.model.interpreter
        crop = prepare(photo)
        index = self.interpreter.get_input_details()[0]["index"]
        self.interpreter.set_tensor(index, self.model.quantize_input(normalize(crop.image)))

    def load(self):
        from digitedge.edge_runtime import load_recognizer

        # A missing metadata warning is recorded as has_metadata instead.
        recognizer, _ = load_recognizer(self.spec.path, backend=self.spec.runtime, threads=self.spec.threads,
                                        override=self.spec.override, personal=self.spec.personal)
        return recognizer

    def invoke(self) -> None:
        self.interpreter.invoke()

    def predict(self) -> int:
        return self.recognizer.predict(self.photo).digit

    def info(self) -> dict:
        m = self.model
        return {
            "has_metadata": self.recognizer.has_metadata,
            "input": {"shape": list(m.input.shape), "dtype": str(m.input.dtype), "scale": m.input.scale,
                      "zero_point": m.input.zero_point},
            "output": {"shape": list(m.output.shape), "dtype": str(m.output.dtype)},
            "quantized": m.input.quantized,
        }

    @property
    def float_input(self) -> bool:
        return not self.model.input.quantized


class KerasTarget:
    def __init__(self, spec: Spec, photo: np.ndarray):
        from digitedge.edge_runtime.preprocess import normalize, prepare

        if not tensorflow_installed():
            raise ModelError(KERAS_HINT)
        self.spec, self.photo = spec, photo
        self.method = spec.runtime.split("-", 1)[1]
        self.keras = import_keras(spec.threads)
        self.model = self.load()
        check_digit_input(self.model, spec.path)
        self._prepare, self._normalize = prepare, normalize
        self.x = normalize(prepare(photo).image)[np.newaxis]

    def load(self):
        return load_keras_model(self.keras, self.spec.path)

    def infer(self, x: np.ndarray) -> np.ndarray:
        if self.method == "predict":
            return self.model.predict(x, verbose=0)
        return self.model(x, training=False).numpy()

    def invoke(self) -> None:
        self.infer(self.x)

    def predict(self) -> int:
        """The same path as Recognizer.predict, with Keras doing the inference."""
        from digitedge.edge_runtime.interpreter import as_probabilities

        x = self._normalize(self._prepare(self.photo).image)[np.newaxis]
        return top1(as_probabilities(self.infer(x)[0]))

    def info(self) -> dict:
        return {"input": {"shape": [None, 28, 28, 1], "dtype": "float32"}, "tf_threads": keras_threads(),
                "method": "model.predict(x)" if self.method == "predict" else "model(x, training=False)"}

    float_input = True


def build(spec: Spec, photo: np.ndarray):
    return (TfliteTarget if spec.kind == TFLITE else KerasTarget)(spec, photo)
