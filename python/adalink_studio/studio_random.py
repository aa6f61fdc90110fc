"""The studio's deterministic initialisation (docs/ENGINE.md §3), in pure Python, so an adapter created here
starts where the studio's would: Wdown_m (d×r, row-major) = normal(streamKey(seed, 1 | 2), k·r + j) / sqrt(d),
rounded to float32, and Wup_m = 0."""
from __future__ import annotations

import math
from array import array

__all__ = ["hash32", "stream_key", "normal", "init_wdown"]

_MASK = 0xFFFFFFFF
_STREAM = {"image": 1, "text": 2}


def hash32(x: int) -> int:
    x &= _MASK
    x ^= x >> 16
    x = (x * 0x7FEB352D) & _MASK
    x ^= x >> 15
    x = (x * 0x846CA68B) & _MASK
    return x ^ (x >> 16)


def stream_key(seed: int, stream: int) -> int:
    return hash32(hash32(seed) ^ (stream & _MASK))


def _uniform(key: int, i: int) -> float:
    return (hash32(key ^ hash32(i)) + 0.5) / 2.0 ** 32


def normal(key: int, i: int) -> float:
    return math.sqrt(-2.0 * math.log(_uniform(key, 2 * i))) * math.cos(2.0 * math.pi * _uniform(key, 2 * i + 1))


def init_wdown(seed: int, modality: str, d: int, r: int) -> array:  # type: ignore[type-arg]
    """The studio's Wdown for `modality` ("image" or "text") as float32 values, d×r row-major."""
    key = stream_key(seed, _STREAM[modality])
    scale = math.sqrt(d)
    return array("f", (normal(key, n) / scale for n in range(d * r)))
