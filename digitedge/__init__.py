"""digitedge: a handwritten-digit CNN from training to a Raspberry Pi.

The parts install under this namespace: digitedge.train, digitedge.convert,
digitedge.edge_runtime and digitedge.benchmarks. This package holds the
command-line program and the light code every part shares (errors, MNIST data).
"""

__version__ = "0.1.0"
