"""The deterministic RNG of docs/ENGINE.md §3.

The TypeScript engine (src/engine/random.ts) and the WGSL kernels implement the same functions; any
change here must change there too. All integer arithmetic is modulo 2^32.

    hash32(x):  x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16
    streamKey(seed, stream) = hash32(hash32(seed) ^ stream)
    randU32(key, i)         = hash32(key ^ hash32(i))
    uniform(key, i)         = (randU32(key, i) + 0.5) / 2^32                      (float64)
    normal(key, i)          = sqrt(-2 ln uniform(key, 2i)) * cos(2 pi uniform(key, 2i+1))
"""
import math

import numpy as np

MASK32 = 0xFFFFFFFF

# Streams (ENGINE.md §3).
STREAM_WDOWN_IMAGE = 1
STREAM_WDOWN_TEXT = 2
STREAM_DATA_ORDER = 0x1000  # + epoch
STREAM_DROPOUT = 0x20000000  # + 2*step + modality (0 image, 1 text)
MODALITIES = ("image", "text")


def hash32(x):
    x &= MASK32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & MASK32
    x ^= x >> 15
    x = (x * 0x846CA68B) & MASK32
    x ^= x >> 16
    return x


def stream_key(seed, stream):
    return hash32(hash32(seed) ^ (stream & MASK32))


def rand_u32(key, i):
    return hash32(key ^ hash32(i))


def uniform(key, i):
    return (rand_u32(key, i) + 0.5) / 2.0**32


def normal(key, i):
    return math.sqrt(-2.0 * math.log(uniform(key, 2 * i))) * math.cos(2.0 * math.pi * uniform(key, 2 * i + 1))


# ---- vectorised forms (numpy uint32 arrays), identical results -------------------------------

def hash32_np(x):
    x = np.asarray(x, dtype=np.uint64) & MASK32  # uint64 so that the products do not overflow
    x ^= x >> 16
    x = (x * 0x7FEB352D) & MASK32
    x ^= x >> 15
    x = (x * 0x846CA68B) & MASK32
    x ^= x >> 16
    return x.astype(np.uint32)


def rand_u32_np(key, i):
    return hash32_np(np.uint64(key) ^ hash32_np(i).astype(np.uint64))


# ---- what the engine draws -----------------------------------------------------------------

def modality_stream(modality):
    return {"image": STREAM_WDOWN_IMAGE, "text": STREAM_WDOWN_TEXT}[modality]


def init_wdown(seed, modality, d, r):
    """Wdown_m (d x r, row-major; element (k, j) at k*r + j) = normal(streamKey(seed, 1|2), k*r + j) / sqrt(d),
    rounded to float32."""
    key = stream_key(seed, modality_stream(modality))
    values = [normal(key, n) / math.sqrt(d) for n in range(d * r)]
    return np.array(values, dtype=np.float64).astype(np.float32).reshape(d, r)


def epoch_order(seed, epoch, n_examples):
    """Example indices sorted by (randU32(streamKey(seed, 0x1000 + epoch), i), i)."""
    key = stream_key(seed, STREAM_DATA_ORDER + epoch)
    return sorted(range(n_examples), key=lambda i: (rand_u32(key, i), i))


def batch_indices(seed, step, batch_size, n_examples):
    """Example indices of step `step` (0-based): positions [step*B, (step+1)*B) of the concatenated epoch orders."""
    out = []
    for pos in range(step * batch_size, (step + 1) * batch_size):
        epoch, k = divmod(pos, n_examples)
        out.append(epoch_order(seed, epoch, n_examples)[k])
    return out


def all_batches(seed, steps, batch_size, n_examples):
    order = []
    epoch = 0
    while len(order) < steps * batch_size:
        order += epoch_order(seed, epoch, n_examples)
        epoch += 1
    return [order[s * batch_size:(s + 1) * batch_size] for s in range(steps)]


def dropout_keep_mask(seed, step, modality, n_tokens, r, p):
    """Keep-mask (n_tokens x r, bool) of the adapter hidden H: element (n, j) is kept when
    randU32(key, n*r + j) >= p * 2^32, key = streamKey(seed, 0x20000000 + 2*step + modality)."""
    if p <= 0.0:
        return np.ones((n_tokens, r), dtype=bool)
    key = stream_key(seed, STREAM_DROPOUT + 2 * step + MODALITIES.index(modality))
    u = rand_u32_np(key, np.arange(n_tokens * r, dtype=np.uint64))
    return (u.astype(np.float64) >= p * 2.0**32).reshape(n_tokens, r)
