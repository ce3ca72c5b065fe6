"""Write edge_runtime/data/digits100.npz: the labelled digits the runtime detects a foreign
model's input convention on (edge_runtime/convention.py). Run once; the file is committed.

The first ten MNIST test digits of each class, uint8 white on black, with their labels.
Usage: DIGITEDGE_DATA=/path/to/mnist python scripts/bundled_digits.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from digitedge import data

OUT = Path(__file__).resolve().parent.parent / "edge_runtime" / "data" / "digits100.npz"
PER_CLASS = 10


def main() -> None:
    mnist = data.load()
    index = np.sort(np.concatenate([np.nonzero(mnist.y_test == d)[0][:PER_CLASS] for d in range(10)]))
    np.savez_compressed(OUT, images=mnist.x_test[index].astype(np.uint8), labels=mnist.y_test[index].astype(np.uint8))
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes, {len(index)} digits)")


if __name__ == "__main__":
    main()
