"""Checks tools/adalink/random.py (ENGINE.md §3) and writes tools/tests/random_vectors.json, the numbers the
TypeScript implementation (src/engine/random.ts) is tested against.  Run: python3 tools/tests/test_random.py
(numpy only)."""
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tools/

import numpy as np  # noqa: E402

from adalink import random as R  # noqa: E402


def reference_hash32(x):
    """hash32 written a second way (numpy uint32 wrap-around arithmetic) to cross-check the first."""
    with np.errstate(over="ignore"):
        x = np.uint32(x)
        x ^= x >> np.uint32(16)
        x = np.uint32(x * np.uint32(0x7FEB352D))
        x ^= x >> np.uint32(15)
        x = np.uint32(x * np.uint32(0x846CA68B))
        x ^= x >> np.uint32(16)
    return int(x)


def main():
    # Pinned values (also reproduced in JavaScript with Math.imul; the TS tests read random_vectors.json).
    assert R.hash32(0) == 0, R.hash32(0)
    assert R.hash32(1) == 1753845952, R.hash32(1)
    assert R.hash32(0xDEADBEEF) == 3861431939, R.hash32(0xDEADBEEF)
    assert R.rand_u32(R.stream_key(7, 1), 5) == 3212088867
    assert R.normal(R.stream_key(7, 1), 0) == -1.41046039430494
    for x in [0, 1, 2, 7, 0xDEADBEEF, 0xFFFFFFFF, 123456789, 0x1000, 0x20000000]:
        assert R.hash32(x) == reference_hash32(x), x
    xs = np.arange(0, 5000, 7, dtype=np.uint64)
    assert [int(v) for v in R.hash32_np(xs)] == [R.hash32(int(x)) for x in xs]
    key = R.stream_key(7, 1)
    assert [int(v) for v in R.rand_u32_np(key, np.arange(100))] == [R.rand_u32(key, i) for i in range(100)]

    # uniform is in (0, 1); normal is roughly standard.
    us = [R.uniform(key, i) for i in range(20000)]
    assert 0.0 < min(us) and max(us) < 1.0
    ns = np.array([R.normal(key, i) for i in range(20000)])
    assert abs(ns.mean()) < 0.03 and abs(ns.std() - 1.0) < 0.03, (ns.mean(), ns.std())

    # Data order: each epoch is a permutation; batches concatenate the epochs.
    order0 = R.epoch_order(7, 0, 32)
    assert sorted(order0) == list(range(32))
    batches = R.all_batches(7, 50, 4, 32)
    assert batches[0] == order0[:4] and batches[8] == R.epoch_order(7, 1, 32)[:4]
    assert all(R.batch_indices(7, s, 4, 32) == batches[s] for s in range(50))

    # Wdown init: float32, std about 1/sqrt(d).
    w = R.init_wdown(7, "image", 32, 8)
    assert w.dtype == np.float32 and w.shape == (32, 8)
    assert float(w[0, 1]) == float(np.float32(R.normal(R.stream_key(7, 1), 1) / math.sqrt(32)))

    vectors = {
        "hash32(0)": R.hash32(0),
        "hash32(1)": R.hash32(1),
        "hash32(0xdeadbeef)": R.hash32(0xDEADBEEF),
        "hash32(0xffffffff)": R.hash32(0xFFFFFFFF),
        "streamKey(7,1)": R.stream_key(7, 1),
        "streamKey(7,2)": R.stream_key(7, 2),
        "randU32(streamKey(7,1),5)": R.rand_u32(R.stream_key(7, 1), 5),
        "uniform(streamKey(7,1),0)": R.uniform(R.stream_key(7, 1), 0),
        "normal(streamKey(7,1),0)": R.normal(R.stream_key(7, 1), 0),
        "normal(streamKey(7,1),0..7)": [R.normal(R.stream_key(7, 1), i) for i in range(8)],
        "epochOrder(seed=7,epoch=0,n=32)": R.epoch_order(7, 0, 32),
        "batches(seed=7,steps=10,B=4,n=32)": R.all_batches(7, 10, 4, 32),
        "wdownImage(seed=7,d=32,r=8)[0:8] float32": [float(v) for v in w.reshape(-1)[:8]],
        "dropoutKeep(seed=7,step=3,text,n=4,r=4,p=0.5)": R.dropout_keep_mask(7, 3, "text", 4, 4, 0.5)
        .astype(int).reshape(-1).tolist(),
    }
    for k, v in vectors.items():
        print(f"{k} = {v}")
    with open(os.path.join(HERE, "random_vectors.json"), "w") as f:
        json.dump(vectors, f, indent=1)
        f.write("\n")
    print("ok: tools/tests/random_vectors.json written")


if __name__ == "__main__":
    main()
