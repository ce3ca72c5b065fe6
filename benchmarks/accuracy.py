"""Accuracy on the MNIST test images and top-1 agreement with the float model.

A TFLite model is run with its batch dimension resized (500 images per invoke)
when the interpreter allows it, else one image at a time; either way the input is
made by the Model (its layout, range, polarity, scale and zero point: models from
elsewhere included) and each row of scores goes
through edge_runtime's dequantization, softmax and top-1 rule, so the digits are
the ones Recognizer.classify gives for the same 28x28 images.
"""

from __future__ import annotations

import time

import numpy as np

from .targets import KerasTarget, TfliteTarget, label_of, top1

BATCH = 500


def quantize(model, x: np.ndarray) -> np.ndarray:
    """Model.prepare for a whole batch: the model's own input convention."""
    return model.prepare(x)


def _digits_from_scores(target: TfliteTarget, scores: np.ndarray) -> np.ndarray:
    from digitedge.edge_runtime.interpreter import as_probabilities

    labels = target.recognizer.labels
    model = target.model
    return np.array([label_of(labels, top1(as_probabilities(model.dequantize_output(row)))) for row in scores])


def batch_interpreter(target: TfliteTarget, batch: int):
    """A second interpreter of the same model and settings, its batch dimension resized; None if it can't."""
    from digitedge.edge_runtime.interpreter import interpreter_class

    model = target.model
    if not model.input.dynamic_batch:
        return None
    _, cls = interpreter_class(target.spec.runtime)
    try:
        it = cls(model_path=str(target.spec.path), num_threads=target.spec.threads)
        index = it.get_input_details()[0]["index"]
        it.resize_tensor_input(index, model.batch_shape(batch))
        it.allocate_tensors()
        it.set_tensor(index, np.zeros(model.batch_shape(batch), model.input.dtype))
        it.invoke()
        if it.get_tensor(model.scores_index).shape[0] != batch:
            return None
    except (ValueError, RuntimeError):
        return None
    return it, index, model.scores_index


def tflite_digits(target: TfliteTarget, images: np.ndarray, batch: int = BATCH) -> tuple[np.ndarray, dict]:
    """The digit the model reads in each 28x28 uint8 image, and how (method, seconds, images/s)."""
    from digitedge.edge_runtime.preprocess import normalize

    if getattr(target.recognizer, "head", None) is not None:  # a personal head: read as the Recognizer reads
        start = time.perf_counter()
        digits = np.array([target.recognizer.classify(img)[0] for img in images])
        seconds = time.perf_counter() - start
        return digits, {"method": "one image per invoke, personal head", "seconds": seconds,
                        "images_per_s": len(images) / seconds}
    found = batch_interpreter(target, batch) if len(images) >= batch else None
    if found is not None:
        it, i_in, i_out = found
        start = time.perf_counter()
        scores = []
        for lo in range(0, len(images), batch):
            chunk = normalize(images[lo : lo + batch])
            n = len(chunk)
            if n < batch:  # the last, short batch: pad, keep the real rows
                chunk = np.concatenate([chunk, np.zeros((batch - n,) + chunk.shape[1:], chunk.dtype)])
            it.set_tensor(i_in, quantize(target.model, chunk))
            it.invoke()
            scores.append(it.get_tensor(i_out)[:n].copy())
        seconds = time.perf_counter() - start
        digits = _digits_from_scores(target, np.concatenate(scores))
        method = f"batches of {batch}"
    else:
        start = time.perf_counter()
        scores = np.stack([target.model.run(normalize(img)) for img in images])
        seconds = time.perf_counter() - start
        digits = np.array([label_of(target.recognizer.labels, top1(p)) for p in scores])
        method = "one image per invoke"
    return digits, {"method": method, "seconds": seconds, "images_per_s": len(images) / seconds}


def keras_digits(target: KerasTarget, images: np.ndarray, batch: int = BATCH) -> tuple[np.ndarray, dict]:
    from digitedge.edge_runtime.interpreter import as_probabilities
    from digitedge.edge_runtime.preprocess import normalize

    start = time.perf_counter()
    scores = target.model.predict(normalize(images), batch_size=batch, verbose=0)
    seconds = time.perf_counter() - start
    digits = np.array([top1(as_probabilities(row)) for row in scores])
    return digits, {"method": f"model.predict, batches of {batch}", "seconds": seconds,
                    "images_per_s": len(images) / seconds}


def digits(target, images: np.ndarray) -> tuple[np.ndarray, dict]:
    return (tflite_digits if isinstance(target, TfliteTarget) else keras_digits)(target, images)


def accuracy(found: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(found == labels))


def agreement(found: np.ndarray, reference: np.ndarray) -> float:
    """Top-1 agreement: the share of images on which both models read the same digit."""
    return float(np.mean(found == reference))
