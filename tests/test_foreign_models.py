"""Digit models made elsewhere: one small Keras model per input convention, converted to .tflite
without our metadata, must read MNIST through the edge runtime (the convention detected); one
that reads nothing is refused; a two-output model with our metadata gives scores and features.

One CNN is trained once for the module (20,000 images, four epochs) on floats in [0, 1];
each convention wraps it in the layers that make it take its input that way, so every model here
really expects its convention and nothing else.
"""

from __future__ import annotations

import numpy as np
import pytest

from digitedge.errors import ModelError

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

# the uint8-raw model's input is integer without quantization, as intended: the converter says so
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:Statistics for quantized inputs")]
TRAIN, TEST = 20000, 1000


@pytest.fixture(scope="module")
def base(mnist):
    """(the CNN: floats in [0, 1], white on black -> logits, its features layer's model)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.MaxPooling2D()(keras.layers.Conv2D(32, 3, activation="relu")(inputs))
    x = keras.layers.MaxPooling2D()(keras.layers.Conv2D(64, 3, activation="relu")(x))
    features = keras.layers.Dense(32, activation="relu")(keras.layers.Flatten()(x))
    logits = keras.layers.Dense(10)(features)
    model = keras.Model(inputs, [logits, features])
    model.compile("adam", [keras.losses.SparseCategoricalCrossentropy(from_logits=True), None],
                  metrics=[["accuracy"], []])
    x_train = mnist.x_train[:TRAIN, ..., None].astype("float32") / 255.0
    model.fit(x_train, mnist.y_train[:TRAIN], epochs=4, batch_size=64, verbose=0)
    return keras.Model(inputs, logits), model


def wrap(base_logits, shape, dtype, to_unit, softmax=True, batch_size=None):
    """A model taking `shape` of `dtype`, turned by to_unit into the base's [0, 1] white on black."""
    inputs = keras.Input(shape, dtype=dtype, batch_size=batch_size)
    x = base_logits(to_unit(inputs))
    return keras.Model(inputs, keras.layers.Softmax()(x) if softmax else x)


def cast(x):
    return keras.ops.cast(x, "float32")


def convert(model, io=None, calibration=None) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if io is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([x[None]] for x in calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = converter.inference_output_type = io
    return bytes(converter.convert())


def conventions(base_logits, calibration):
    """name -> (tflite bytes, the text the runtime must detect)."""
    unit = keras.layers.Lambda(lambda x: x)
    return {
        "uint8 raw": (convert(wrap(base_logits, (28, 28, 1), "uint8", lambda x: cast(x) / 255.0)),
                      "uint8 raw pixel 0-255, white on black"),
        "uint8 from 0-1": (convert(wrap(base_logits, (28, 28, 1), "float32", unit), tf.uint8, calibration),
                           "uint8 quantized from 0-1, white on black"),
        "int8": (convert(wrap(base_logits, (28, 28, 1), "float32", unit), tf.int8, calibration),
                 "int8 quantized from 0-1, white on black"),
        "float 0-1": (convert(wrap(base_logits, (28, 28, 1), "float32", unit)), "float 0-1, white on black"),
        "float 0-255 logits": (convert(wrap(base_logits, (28, 28, 1), "float32", lambda x: x / 255.0, softmax=False)),
                               "float 0-255, white on black"),
        "flat 784 -1..1": (convert(wrap(base_logits, (784,), "float32",
                                        lambda x: keras.layers.Reshape((28, 28, 1))((x + 1.0) / 2.0))),
                           "float -1..1, white on black"),
        # fixed batch of 1: the detection reads one digit per invoke
        "NCHW mnist black on white": (convert(wrap(
            base_logits, (1, 28, 28), "float32",
            lambda x: keras.layers.Permute((2, 3, 1))(x * -0.3081 + 0.8693), batch_size=1)),  # 1 - (x*std + mean)
            "float MNIST mean/std (0.1307, 0.3081), black on white"),
    }


@pytest.fixture(scope="module")
def models(base, mnist, tmp_path_factory):
    folder = tmp_path_factory.mktemp("foreign")
    calibration = mnist.x_train[TRAIN : TRAIN + 200, ..., None].astype("float32") / 255.0
    out = {}
    for name, (data, expected) in conventions(base[0], calibration).items():
        path = folder / (name.replace(" ", "_") + ".tflite")
        path.write_bytes(data)
        out[name] = (path, expected)
    return out


NAMES = ["uint8 raw", "uint8 from 0-1", "int8", "float 0-1", "float 0-255 logits", "flat 784 -1..1",
         "NCHW mnist black on white"]


@pytest.mark.parametrize("name", NAMES)
def test_each_convention_is_detected_and_reads_mnist(models, mnist, name):
    from digitedge.benchmarks.accuracy import tflite_digits
    from digitedge.benchmarks.targets import Spec
    from digitedge.edge_runtime import load_recognizer

    path, expected = models[name]
    recognizer, warnings = load_recognizer(path, threads=1)
    head = f"{path}: no digitedge metadata: input detected as {expected} ("
    assert len(warnings) == 1 and warnings[0].startswith(head)
    found = np.array([recognizer.classify(img)[0] for img in mnist.x_test[:TEST]])
    assert np.mean(found == mnist.y_test[:TEST]) >= 0.97
    # bench and evaluate read them the same way (in batches where the batch dimension is open)
    target = type("T", (), {"recognizer": recognizer, "model": recognizer.model,
                            "spec": Spec(name, path, "tflite", "auto", 1)})
    assert np.array_equal(tflite_digits(target, mnist.x_test[:TEST])[0], found)


def test_a_model_without_ten_classes_is_refused(tmp_path):
    from digitedge.edge_runtime.interpreter import Model

    five = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(5)])
    path = tmp_path / "five.tflite"
    path.write_bytes(convert(five))
    with pytest.raises(ModelError) as e:
        Model(path)
    assert str(e.value) == f"{path}: model outputs 5 class scores, but a digit model has 10 classes"


def test_a_model_no_convention_reads_is_refused(tmp_path):
    from digitedge.edge_runtime import load_recognizer

    keras.utils.set_random_seed(1)
    untrained = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    path = tmp_path / "untrained.tflite"
    path.write_bytes(convert(untrained))
    with pytest.raises(ModelError) as e:
        load_recognizer(path, threads=1)
    best = str(e.value).split("(best: ")[1].split(";")[0]
    assert str(e.value) == (
        f"{path}: no digitedge metadata, and no input convention reads the bundled digits (best: {best}; "
        "80% needed): give --input-range and --invert if you know them")


def two_output_model(base, tmp_path, mark: bool):
    """The base with its features as a second output, converted, our metadata appended (outputs marked or not)."""
    from digitedge.convert import metadata
    from digitedge.edge_runtime.interpreter import interpreter_class

    data = convert(base[1])
    _, cls = interpreter_class()
    it = cls(model_content=data)
    outputs = {tuple(d["shape"])[-1]: d["name"] for d in it.get_output_details()}
    meta = {"labels": [str(d) for d in range(10)], "input": {"polarity": "white-on-black"}}
    if mark:
        meta["outputs"] = {"scores": outputs[10], "features": outputs[32]}
    path = tmp_path / "two_outputs.tflite"
    path.write_bytes(metadata.embed(data, meta))
    return path


def test_two_outputs_scores_and_features_by_their_metadata_names(base, mnist, tmp_path):
    from digitedge.edge_runtime.interpreter import Model
    from digitedge.edge_runtime.preprocess import normalize

    model = Model(two_output_model(base, tmp_path, mark=True), threads=1)
    x = normalize(mnist.x_test[:50])
    probabilities, features = model.run(x[0], features=True)
    assert probabilities.shape == (10,) and features.shape == (32,) and abs(probabilities.sum() - 1) < 1e-5
    expected = base[1].predict(x[:1], verbose=0)[1][0]
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-4)
    found = np.array([model.run(img).argmax() for img in x])
    assert np.mean(found == mnist.y_test[:50]) >= 0.9
    assert model.detection is None  # our metadata: nothing detected


def test_two_outputs_none_marked_is_an_error(base, tmp_path):
    from digitedge.edge_runtime.interpreter import Model

    path = two_output_model(base, tmp_path, mark=False)
    with pytest.raises(ModelError) as e:
        Model(path)
    assert str(e.value) == (f"{path}: model has 2 outputs and none is marked as the class scores "
                            '(digitedge metadata "outputs": {"scores": NAME})')
