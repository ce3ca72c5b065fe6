"""digitedge: a handwritten-digit CNN from training to a Raspberry Pi.

The parts install under this namespace: digitedge.train, digitedge.convert,
digitedge.edge_runtime and digitedge.benchmarks. This package holds the
command-line program and the light code every part shares (errors, MNIST data).
"""

from pkgutil import extend_path

# In a checkout, this folder shadows an installed digitedge for code run from the repository root
# (the current directory comes first on sys.path), and it holds none of the parts, which live in
# folders of their own there. extend_path also searches every other digitedge folder on sys.path,
# so the installed parts are found.
__path__ = extend_path(__path__, __name__)

__version__ = "0.1.0"
