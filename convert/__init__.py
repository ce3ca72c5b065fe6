"""Keras model -> verified, self-describing TFLite files (float32, float16, dynamic, int8).

The modules, in the order a conversion uses them: source (load and check the Keras
model), calibration (the int8 representative dataset), tflite (one converter per
format), metadata (embed the digitedge JSON), verify (run the bytes, compare with
Keras), output (atomic writes), report (table and conversion_report.json);
pipeline ties them together for `digitedge convert`.
"""
