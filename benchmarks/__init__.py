"""benchmarks: how fast, how small and how robust the models are, measured (installed as digitedge.benchmarks).

Commands (digitedge/commands/ calls them):
  bench.py       `digitedge bench`: targets.py, timing.py, accuracy.py, memory.py, machine.py, photo.py
                 measure; summary.py compares; report.py writes (formatting.py), compare.py is `--compare`
  robustness.py  `digitedge evaluate` (corruptions.py); robustness_report.py writes its files
  baselines.py   `digitedge baselines`: SVM, k-NN and random forest beside the CNN
  photo_suite.py `digitedge photos`: photo_kinds.py's kinds of photos (tight crops, faint, clutter...) read per kind
Scripts (run by hand; records in results/): footprint.py, serve_load.py, distributed.py.
Shared: common.py (names, command line, versions, sizes, Keras loading), synthetic.py (test photos).
"""
