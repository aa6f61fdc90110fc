"""safetensors read and written exactly as the studio does (src/formats/safetensors.ts), in pure Python.

An 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape and [begin, end) byte
offsets into the data that follows, then the raw little-endian data; `__metadata__` holds string key/values.
The reader validates everything before touching the data — the same checks, in the same order, as the
TypeScript reader — so a damaged or hostile file fails with an AdapterFormatError, never a wrong tensor.
The writer gives the TypeScript writer's bytes: its header is JSON.stringify's text (js_json below), padded
with spaces so the data starts 8-byte aligned.
"""
from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .errors import AdapterFormatError, shorten, shown

__all__ = ["BYTES_PER_ELEMENT", "MAX_HEADER_BYTES", "Tensor", "SafetensorsFile", "read_safetensors",
           "write_safetensors", "js_json", "js_number"]

BYTES_PER_ELEMENT = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
# A header over this size is refused: real adapter and embedding files have headers of a few KB.
MAX_HEADER_BYTES = 16 * 1024 * 1024
_SAFE = 2 ** 53 - 1  # Number.MAX_SAFE_INTEGER


@dataclass
class Tensor:
    dtype: str
    shape: list[int]
    data: bytes  # little-endian


@dataclass
class SafetensorsFile:
    metadata: dict[str, str] = field(default_factory=dict)
    tensors: dict[str, Tensor] = field(default_factory=dict)  # in the header's order


class _Members(dict):  # type: ignore[type-arg]
    """A JSON object that remembers whether it named a member twice (JSON.parse keeps the last; another
    reader may keep the first, so the studio refuses such a header)."""
    duplicate = False


def _members(pairs: list[tuple[str, Any]]) -> _Members:
    out = _Members(pairs)
    out.duplicate = len(out) != len(pairs)
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python's json reads NaN and Infinity, JSON.parse does not


def _safe_int(v: Any) -> bool:
    """Number.isSafeInteger: an integral number (1e2 and 2.0 are) of at most 2^53 − 1; never a boolean."""
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return abs(v) <= _SAFE
    return isinstance(v, float) and math.isfinite(v) and v.is_integer() and abs(v) <= _SAFE


def read_safetensors(data: bytes, where: str = "safetensors file") -> SafetensorsFile:
    def bad(problem: str) -> AdapterFormatError:
        return AdapterFormatError(problem, where, "The file is damaged or not a safetensors file: export it again.")

    data = bytes(data)
    if len(data) < 8:
        raise bad(f"file is {len(data)} bytes, shorter than the 8-byte header length")
    (header_length,) = struct.unpack("<Q", data[:8])
    if header_length > MAX_HEADER_BYTES:
        raise bad(f"header length {header_length} is over the limit of {MAX_HEADER_BYTES} bytes")
    if 8 + header_length > len(data):
        raise bad(f"header length {header_length} runs past the end of the {len(data)}-byte file (truncated?)")
    try:
        # utf-8-sig: TextDecoder drops one leading byte-order mark, as this does.
        text = data[8:8 + header_length].decode("utf-8-sig")
        header = json.loads(text, object_pairs_hook=_members, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise bad(f"header is not UTF-8 JSON: {shorten(str(e))}") from None
    if not isinstance(header, dict):
        raise bad("header is not a JSON object")
    if getattr(header, "duplicate", False):
        raise bad("the header names a tensor twice")

    body = data[8 + header_length:]
    out = SafetensorsFile()
    spans: list[tuple[str, str, list[int], int, int]] = []
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict):
                raise bad("__metadata__ is not an object")
            for k, v in entry.items():
                if not isinstance(v, str):
                    raise bad(f"__metadata__.{shorten(k)} is not a string")
                out.metadata[k] = v
            continue
        tensor = f'tensor "{shorten(name)}"'
        entry = entry if isinstance(entry, dict) else {}
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if not isinstance(dtype, str) or dtype not in BYTES_PER_ELEMENT:
            raise bad(f"{tensor} has unknown dtype {shown(dtype)}")
        if not isinstance(shape, list) or not all(_safe_int(s) and s >= 0 for s in shape):
            raise bad(f"{tensor} has an invalid shape {shown(shape)}")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(_safe_int(o) and o >= 0 for o in offsets):
            raise bad(f"{tensor} has invalid data_offsets {shown(offsets)}")
        begin, end = int(offsets[0]), int(offsets[1])
        if begin > end or end > len(body):
            raise bad(f"{tensor} spans bytes [{begin}, {end}) outside the {len(body)} data bytes")
        shape = [int(s) for s in shape]
        expected = math.prod(shape) * BYTES_PER_ELEMENT[dtype]
        if expected != end - begin:
            raise bad(f"{tensor} of shape {shown(shape)} {dtype} needs {expected} bytes but spans {end - begin}")
        spans.append((name, dtype, shape, begin, end))
    ordered = sorted(spans, key=lambda s: s[3])  # stable, as Array.prototype.sort
    for previous, span in zip(ordered, ordered[1:]):
        if span[3] < previous[4]:
            raise bad(f'tensors "{shorten(previous[0])}" and "{shorten(span[0])}" overlap')
    for name, dtype, shape, begin, end in spans:
        out.tensors[name] = Tensor(dtype, shape, body[begin:end])
    return out


def write_safetensors(tensors: Iterable[tuple[str, list[int], bytes]], metadata: Mapping[str, str] | None = None) -> bytes:
    """F32 tensors (name, shape, little-endian bytes) in the given order, and string metadata: the bytes of
    src/formats/safetensors.ts's writeSafetensors."""
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    offset, chunks = 0, []
    for name, shape, values in tensors:
        if math.prod(shape) * 4 != len(values):
            raise ValueError(f"tensor {name}: shape {list(shape)} has {math.prod(shape)} elements, values {len(values) // 4}")
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + len(values)]}
        offset += len(values)
        chunks.append(bytes(values))
    text = js_json(header).encode("utf-8")
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)  # the data starts 8-byte aligned, as the reference writer does
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


# ---- JSON.stringify, for the writer's header and the training_config metadata -------------------------

_INDEX = re.compile(r"0|[1-9][0-9]*")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _js_keys(obj: Mapping[str, Any]) -> list[str]:
    """A JS object's property order: array-index keys ("0", "17") ascending first, then the rest as inserted."""
    index = sorted((k for k in obj if _INDEX.fullmatch(k) and int(k) < 2 ** 32 - 1), key=int)
    return index + [k for k in obj if k not in set(index)]


def _js_string(s: str) -> str:
    # json.dumps escapes what JSON.stringify escapes (", \, control characters, lowercase \u00XX); a lone
    # surrogate JSON.stringify writes as \udXXX, where Python would keep it raw (and fail to encode it).
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(s, ensure_ascii=False))


def js_number(x: float | int) -> str:
    """Number.prototype.toString: the shortest digits that read back (Python's repr finds the same ones),
    laid out as JavaScript does — 2 not 2.0, 1e-7 not 1e-07, 1e+21, NaN, Infinity."""
    if isinstance(x, bool):
        raise TypeError("a boolean is not a number")
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    sign, digits, exponent = ("-" if x < 0 else ""), *_digits(abs(x))
    k, n = len(digits), exponent  # value = 0.digits × 10^n
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"


def _digits(x: float) -> tuple[str, int]:
    """(digits without leading/trailing zeros, n) with x = 0.digits × 10^n, from repr's shortest form."""
    mantissa, _, exp = repr(x).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    n = len(whole) + (int(exp) if exp else 0) - (len(whole + frac) - len((whole + frac).lstrip("0")))
    return digits.rstrip("0") or "0", n


def js_json(value: Any) -> str:
    """JSON.stringify(value) for dicts, lists, strings, numbers, booleans and None (non-finite numbers: null)."""
    if value is None or value is True or value is False:
        return "null" if value is None else "true" if value else "false"
    if isinstance(value, str):
        return _js_string(value)
    if isinstance(value, (int, float)):
        return js_number(value) if math.isfinite(value) else "null"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(js_json(v) for v in value) + "]"
    if isinstance(value, Mapping):
        members = {str(k): v for k, v in value.items()}
        return "{" + ",".join(f"{_js_string(k)}:{js_json(members[k])}" for k in _js_keys(members)) + "}"
    raise TypeError(f"{type(value).__name__} is not JSON")
