"""The device side: recognize digits with a .tflite model, never importing TensorFlow.

Imports numpy, OpenCV, Pillow and a TFLite interpreter (ai-edge-litert or
tflite-runtime) only. Training imports the input contract from here, so what the
model sees on the device is exactly what it saw in training.
"""
