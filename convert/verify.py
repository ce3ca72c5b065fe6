"""Run .tflite bytes with the TFLite interpreter and compare them with the Keras model.

Inputs are quantized and outputs dequantized with the scale and zero point the model
itself declares (never assumed), so float32, uint8 and int8 models are compared alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from digitedge.convert.errors import ConvertError
from digitedge.edge_runtime.interpreter import dequantize, quantize  # the device's own, so both quantize alike

BATCH = 200  # images per invoke: batching makes 10,000 images quick on one thread


def interpreter_for(model_bytes: bytes, threads: int = 1):
    from ai_edge_litert.interpreter import Interpreter

    from digitedge.quiet import quiet

    try:
        with quiet():  # "Created TensorFlow Lite XNNPACK delegate"
            interpreter = Interpreter(model_content=model_bytes, num_threads=threads)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        text = str(e).strip().splitlines()
        raise ConvertError(f"the converted model does not load ({text[0] if text else type(e).__name__})") \
            from None
    return interpreter


def tensor_info(detail: dict) -> dict:
    """dtype, scale and zero point of a tensor (scale 0.0, zero point 0: not quantized)."""
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return {"dtype": np.dtype(detail["dtype"]).name, "scale": float(scale), "zero_point": int(zero_point)}


def io_info(model_bytes: bytes) -> dict:
    """The input's and the scores' tensor info; the features' too when there is a second output."""
    interpreter = interpreter_for(model_bytes)
    outputs = interpreter.get_output_details()
    info = {"input": tensor_info(interpreter.get_input_details()[0]), "output": tensor_info(outputs[0])}
    if len(outputs) > 1:
        info["features"] = tensor_info(outputs[1])
    return info


def as_probabilities(scores: np.ndarray) -> np.ndarray:
    """Rows that are already probabilities pass through; logits get a softmax."""
    scores = np.asarray(scores, dtype=np.float64)
    sums = scores.sum(axis=1, keepdims=True)
    if scores.min() >= 0 and np.all(np.abs(sums - 1.0) < 0.05):
        return scores / sums
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def run_outputs(model_bytes: bytes, images: np.ndarray, batch: int = BATCH) -> list[np.ndarray]:
    """Every output, dequantized, in the model's order, for float images in [0, 1] (n, 28, 28, 1)."""
    interpreter = interpreter_for(model_bytes)
    inp, outs = interpreter.get_input_details()[0], interpreter.get_output_details()
    results, size = [[] for _ in outs], None
    for start in range(0, len(images), batch):
        chunk = images[start : start + batch]
        if len(chunk) != size:
            interpreter.resize_tensor_input(inp["index"], [len(chunk), *images.shape[1:]])
            interpreter.allocate_tensors()
            inp, outs = interpreter.get_input_details()[0], interpreter.get_output_details()
            size = len(chunk)
        interpreter.set_tensor(inp["index"], quantize(chunk, inp))
        interpreter.invoke()
        for found, out in zip(results, outs):
            found.append(dequantize(interpreter.get_tensor(out["index"]), out))
    return [np.concatenate(found) for found in results]


def run_tflite(model_bytes: bytes, images: np.ndarray, batch: int = BATCH) -> np.ndarray:
    """Class probabilities (n, classes) of float images in [0, 1], shape (n, 28, 28, 1): output 0."""
    return as_probabilities(run_outputs(model_bytes, images, batch)[0])


def verification_indices(total: int, n: int, seed: int) -> np.ndarray:
    """n held-out (test) images, a seeded random choice in index order; all when n >= total."""
    if n >= total:
        return np.arange(total)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(total, size=n, replace=False))


@dataclass(frozen=True)
class Comparison:
    images: int
    keras_accuracy: float
    tflite_accuracy: float
    agreement: float  # top-1 the same as Keras
    max_prob_diff: float  # largest |p_tflite - p_keras| over every image and class

    keras_correct: int
    tflite_correct: int

    @property
    def drop_pp(self) -> float:
        """Accuracy lost by the conversion, in percentage points (negative: gained).

        From the counts, rounded: 3 images of 1,000 is exactly 0.3, not 0.30000000000000004.
        """
        return round(100.0 * (self.keras_correct - self.tflite_correct) / self.images, 9)

    def as_dict(self) -> dict:
        return {**asdict(self), "accuracy_drop_pp": round(self.drop_pp, 4)}


def compare(keras_probs: np.ndarray, tflite_probs: np.ndarray, labels: np.ndarray) -> Comparison:
    k, t = keras_probs.argmax(axis=1), tflite_probs.argmax(axis=1)
    return Comparison(
        images=int(len(labels)),
        keras_accuracy=float(np.mean(k == labels)),
        tflite_accuracy=float(np.mean(t == labels)),
        agreement=float(np.mean(k == t)),
        max_prob_diff=float(np.max(np.abs(keras_probs - tflite_probs))),
        keras_correct=int(np.sum(k == labels)),
        tflite_correct=int(np.sum(t == labels)),
    )
