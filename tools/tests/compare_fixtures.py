"""Compares two reference fixtures (or a fixture and an engine run written in the same form): same config,
examples and batches; prints the largest differences of the losses and the final matrices.
    python3 tools/tests/compare_fixtures.py e2e/fixtures/reference-adamw.json other.json"""
import json
import sys

import numpy as np


def main(a_path, b_path):
    with open(a_path) as f:
        a = json.load(f)
    with open(b_path) as f:
        b = json.load(f)
    for key in ("config", "examples", "batches"):
        assert a[key] == b[key], f"{key} differs"
    for key in a["init"]:
        assert np.array_equal(a["init"][key], b["init"][key]), f"init {key} differs"
    la, lb = np.array(a["losses"]), np.array(b["losses"])
    print(f"losses: max |diff| {np.abs(la - lb).max():.3e} (first step {abs(la[0] - lb[0]):.3e}, "
          f"last {abs(la[-1] - lb[-1]):.3e})")
    for key in a["final"]:
        x, y = np.array(a["final"][key]), np.array(b["final"][key])
        print(f"final {key}: max |diff| {np.abs(x - y).max():.3e}, relative to max |x| "
              f"{np.abs(x - y).max() / np.abs(x).max():.3e}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
