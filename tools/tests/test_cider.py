"""tools/adalink/cider.py reproduces the CIDEr-D of src/eval/testing/public_vectors.json (pycocoevalcap).
    python3 tools/tests/test_cider.py [path/to/public_vectors.json]"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tools/

from adalink.cider import cider_d  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "src", "eval", "testing",
                                                           "public_vectors.json")
cases = json.load(open(path))["cases"]
worst = 0.0
for case in cases:
    score, _ = cider_d(case["refs"], case["cands"])
    err = abs(score - case["scores"]["CIDEr-D"])
    worst = max(worst, err)
    print(f"{case['name']}: CIDEr-D {score:.9f} (reference {case['scores']['CIDEr-D']:.9f}, |diff| {err:.1e})")
assert worst < 1e-6, worst
print("ok")
