"""The device side: recognize digits with a .tflite model, never importing TensorFlow.

Imports numpy, OpenCV, Pillow and a TFLite interpreter (ai-edge-litert or
tflite-runtime) only. Training imports the input contract from here, so what the
model sees on the device is exactly what it saw in training.
"""

__all__ = ["Prediction", "Reading", "Recognizer", "load_recognizer"]


def __getattr__(name: str):
    # Lazy, so importing the input contract (preprocess) does not load an interpreter.
    if name in __all__:
        from . import recognizer

        return getattr(recognizer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
