"""The penultimate layer's features as a second output, for learning a writer's digits on the device (#20).

The features are the input of the final Dense layer: the dense layer's activations after its
ReLU (dropout does nothing at inference). A model whose output does not come from a Dense layer
on a flat input (a foreign one) is converted as before, with one output.

The TFLite converter orders a model's outputs as it likes (features first, here), so the
converted subgraph's outputs are put back in a fixed order, scores then features, and the
tensors are named after what they hold: "scores" and "features". Output 0 is therefore the
scores in every model, as every reader of one-output models expects.
"""

from __future__ import annotations

import numpy as np

from digitedge.convert import metadata
from digitedge.convert.errors import ConvertError

SCORES, FEATURES = "scores", "features"
# The int8 features may differ from Keras' by this much: the mean over images of
# |f_tflite - f_keras| / |f_keras| (vector norms). Measured on the release model: float32
# 1e-6, int8 0.010 (max 0.022 over 1,000 test images): the quantized convolutions and one uint8 step.
MAX_FEATURE_ERROR = 0.05


def feature_layer(model):
    """The final Dense layer when the model's output is its output on a flat input; else None."""
    import keras

    last = model.layers[-1] if model.layers else None
    if not isinstance(last, keras.layers.Dense) or last.output is not model.outputs[0]:
        return None
    return last if len(last.input.shape) == 2 else None


def with_features(model):
    """(a two-output model: scores, features; the feature layer's name), or (model, None) when
    the model has no such layer."""
    import keras

    layer = feature_layer(model)
    if layer is None:
        return model, None
    both = keras.Model(model.inputs, [model.outputs[0], layer.input], name=f"{model.name}_with_features")
    return both, layer.name


def order_outputs(model_bytes: bytes) -> bytes:
    """The converted bytes with outputs (scores, features) in that order and named so.

    Which tensor is which comes from the signature, whose outputs keep the Keras model's
    order (output_0 the scores, output_1 the features); the verification that follows runs
    both against Keras, so a mix-up cannot pass."""
    model = metadata.unpack(model_bytes)
    if len(model.subgraphs or []) != 1 or len(model.signatureDefs or []) != 1:
        raise ConvertError("a model with features must have one subgraph and one signature")
    maps = sorted(model.signatureDefs[0].outputs, key=lambda m: _name(m.name))
    if len(maps) != 2:
        raise ConvertError(f"expected 2 outputs (scores, features), the converted model has {len(maps)}")
    subgraph = model.subgraphs[0]
    subgraph.outputs = [m.tensorIndex for m in maps]
    for m, name in zip(maps, (SCORES, FEATURES)):
        subgraph.tensors[m.tensorIndex].name = name
    return metadata.pack(model, len(model_bytes))


def _name(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else (value or "")


def feature_error(keras_features: np.ndarray, tflite_features: np.ndarray) -> dict:
    """How far the converted features are from Keras': relative error per image, mean and max."""
    k = np.asarray(keras_features, np.float64)
    t = np.asarray(tflite_features, np.float64)
    norm = np.maximum(np.linalg.norm(k, axis=1), 1e-6)
    rel = np.linalg.norm(t - k, axis=1) / norm
    return {"size": int(k.shape[1]), "mean_relative_error": round(float(rel.mean()), 6),
            "max_relative_error": round(float(rel.max()), 6),
            "max_abs_diff": round(float(np.abs(t - k).max()), 6), "tolerance": MAX_FEATURE_ERROR}
