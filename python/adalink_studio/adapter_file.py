"""The studio's adapter file (docs/FORMATS.md, src/formats/adapterFile.ts), read and written in pure Python.

safetensors with, per modality m ("image", "text"), `m.wdown` [d, r] and `m.wup` [r, d], float32
little-endian, so that Ẽ_m = E_m + (E_m·Wdown)·Wup; `__metadata__` holds strings: format=adalink-adapter,
base_model (a package's manifest id such as "pali-scenes-default", or `hub:<owner/name>@<40-hex commit>` for
a model the studio read from the Hub, `:fp16` appended for its fp16 graphs), d_model, modalities, rank.<m>,
steps, final_loss, training_config (JSON of the studio's TrainConfig), then any extra keys (name, task,
dataset, …). Reading checks what readAdapterFile checks; writing gives writeAdapterFile's bytes.

Weights are `array.array("f")` (float32, row-major): no numpy or torch needed here.
"""
from __future__ import annotations

import json
import os
import re
import sys
from array import array
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence, Union

from .errors import AdapterFormatError, AdapterUsageError, BaseModelMismatchError, shorten
from .safetensors_file import SafetensorsFile, js_json, js_number, read_safetensors, write_safetensors

__all__ = ["MODALITIES", "FORMAT", "ModalityWeights", "AdapterFile", "read_adapter_file", "write_adapter_file",
           "check_base_model", "parse_hub_id"]

MODALITIES = ("image", "text")
FORMAT = "adalink-adapter"
_HUB_ID = re.compile(r"hub:([\w.-]+/[\w.-]+)@([0-9a-f]{40})(:fp16)?")
_RESERVED = ("format", "base_model", "d_model", "modalities", "steps", "final_loss", "training_config")
Source = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]"]


@dataclass
class ModalityWeights:
    modality: str
    rank: int
    wdown: array  # type: ignore[type-arg]  # float32, [d, r] row-major
    wup: array  # type: ignore[type-arg]  # float32, [r, d] row-major


@dataclass
class AdapterFile:
    base_model: str
    d_model: int
    weights: dict[str, ModalityWeights]  # in the file's modality order
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.weights)

    @property
    def steps(self) -> int:
        try:
            return int(self.metadata.get("steps", "0"))
        except ValueError:
            return 0

    @property
    def training_config(self) -> dict[str, Any] | None:
        """The studio's TrainConfig as stored (a dict), or None when absent or not a JSON object."""
        try:
            config = json.loads(self.metadata.get("training_config", ""))
        except ValueError:
            return None
        return config if isinstance(config, dict) else None


def parse_hub_id(model_id: str) -> tuple[str, str, bool] | None:
    """(repo "owner/name", 40-hex commit, fp16) of a Hub model id (src/formats/hubManifest.ts), else None."""
    m = _HUB_ID.fullmatch(model_id)
    return (m.group(1), m.group(2), bool(m.group(3))) if m else None


def check_base_model(adapter_model: str, model: str, where: str) -> None:
    """Raises BaseModelMismatchError unless the adapter was trained for `model` (ids compare exactly, as the
    studio compares them: another commit or variant of the same Hub repository is another model)."""
    if adapter_model == model:
        return
    a, b = parse_hub_id(adapter_model), parse_hub_id(model)
    if a and b and a[0] == b[0]:
        raise BaseModelMismatchError(adapter_model, model, where, todo=(
            f"Both are {a[0]}, at {'another commit' if a[1] != b[1] else 'another variant'}: load {a[0]} at "
            f"{a[1]}{' (fp16)' if a[2] else ''}, the weights the adapter was trained on, or train it again on this one."))
    raise BaseModelMismatchError(adapter_model, model, where)


def _where(source: Source, where: str | None) -> str:
    if where:
        return where
    return os.fspath(source) if isinstance(source, (str, os.PathLike)) else "adapter file"


def _float32(file: SafetensorsFile, name: str, where: str) -> tuple[array, list[int]]:  # type: ignore[type-arg]
    tensor = file.tensors.get(name)
    if tensor is None:
        raise AdapterFormatError(f'no tensor named "{name}" (it has: {", ".join(file.tensors) or "none"})', where,
                                 "Use a file written for this model.")
    if tensor.dtype != "F32":
        raise AdapterFormatError(f'tensor "{name}" is {tensor.dtype}, expected F32', where, "Export it as float32.")
    values = array("f", tensor.data)
    if sys.byteorder == "big":
        values.byteswap()
    return values, tensor.shape


def read_adapter_file(source: Source, *, base_model: str | None = None, d_model: int | None = None,
                      where: str | None = None) -> AdapterFile:
    """Reads an adapter file (a path or its bytes) and checks it as the studio's readAdapterFile does. With
    `base_model`, a file trained for another model raises BaseModelMismatchError; with `d_model` (the model's
    width), weights of another width raise AdapterFormatError, as in the studio. Without d_model the file's
    own `d_model` metadata is the width its shapes must have."""
    where = _where(source, where)
    if isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as f:
                data = f.read()
        except OSError as e:
            raise AdapterFormatError(f"cannot read the file: {e.strerror or e}", where, "Check the path.") from None
    else:
        data = bytes(source)
    file = read_safetensors(data, where)
    meta = file.metadata
    if meta.get("format") != FORMAT:
        raise AdapterFormatError(f"not an AdaLink adapter (no format={FORMAT} metadata)", where,
                                 "Choose a .safetensors adapter saved by the studio.")
    adapter_model = meta.get("base_model", "")
    if base_model is not None:
        check_base_model(adapter_model, base_model, where)
    elif not adapter_model:
        raise AdapterFormatError("the adapter names no base model (base_model metadata)", where,
                                 "Choose an adapter saved by the studio.")
    if d_model is None:
        stored = meta.get("d_model", "")
        if not re.fullmatch(r"[1-9][0-9]{0,8}", stored):
            raise AdapterFormatError(f'its d_model metadata "{shorten(stored)}" is not a positive integer', where,
                                     "Give the model's width as d_model=, or choose an adapter saved by the studio.")
        d_model = int(stored)
    d = d_model
    modalities = [m for m in meta.get("modalities", "").split(",") if m]
    for i, m in enumerate(modalities):
        if m not in MODALITIES or modalities.index(m) != i:
            raise AdapterFormatError(f'its modalities "{shorten(meta.get("modalities", ""))}" are not "image", "text" '
                                     "or both, once each", where, "Choose an adapter saved by the studio.")
    weights: dict[str, ModalityWeights] = {}
    for m in modalities:
        wdown, down_shape = _float32(file, f"{m}.wdown", where)
        wup, up_shape = _float32(file, f"{m}.wup", where)
        r = down_shape[1] if len(down_shape) > 1 else 0
        if len(down_shape) != 2 or len(up_shape) != 2 or down_shape[0] != d or r < 1 or up_shape != [r, d]:
            raise AdapterFormatError(f"{m} weights have shapes {down_shape} and {up_shape}, expected [{d}, r] and "
                                     f"[r, {d}] with r ≥ 1", where, "The adapter does not fit this model.")
        weights[m] = ModalityWeights(m, r, wdown, wup)
    if not weights:
        raise AdapterFormatError("the adapter names no modality", where, "Choose an adapter saved by the studio.")
    return AdapterFile(adapter_model, d, weights, dict(meta))


def _float32_le(values: Sequence[float] | array) -> bytes:  # type: ignore[type-arg]
    out = values if isinstance(values, array) and values.typecode == "f" else array("f", values)
    if sys.byteorder == "big":
        out = array("f", out)
        out.byteswap()
    return out.tobytes()


def write_adapter_file(weights: Mapping[str, ModalityWeights] | Sequence[ModalityWeights], base_model: str,
                       d_model: int, *, steps: int = 0, final_loss: float | str | None = None,
                       training_config: Mapping[str, Any] | str | None = None,
                       extra: Mapping[str, str] | None = None) -> bytes:
    """The bytes of an adapter file as the studio writes it (writeAdapterFile): the same tensors in the same
    order, the same metadata keys in the same order, JSON.stringify's header. `final_loss` is written as
    JavaScript prints a number (None: "", as a run with no step); `training_config` is a dict (written as
    JSON.stringify writes it) or its JSON text; without one, {"modalities": […], "rank": {…}} — the studio
    fills the rest with its defaults when it imports the file. `extra` adds string keys (name, task, dataset…)."""
    items = list(weights.values()) if isinstance(weights, Mapping) else list(weights)
    where = "write_adapter_file"
    if not isinstance(base_model, str) or not base_model:
        raise AdapterUsageError("base_model is empty", where, 'Name the model, e.g. "pali-scenes-default".')
    if isinstance(d_model, bool) or not isinstance(d_model, int) or d_model < 1:
        raise AdapterUsageError(f"d_model {d_model!r} is not a positive integer", where, "Give the model's width.")
    names = [w.modality for w in items]
    if not names or any(m not in MODALITIES for m in names) or len(set(names)) != len(names):
        raise AdapterUsageError(f"modalities {names} are not image, text or both, once each", where,
                                "Give one ModalityWeights per modality.")
    d, tensors = d_model, []
    for w in items:
        if w.rank < 1 or len(w.wdown) != d * w.rank or len(w.wup) != w.rank * d:
            raise AdapterUsageError(f"{w.modality} weights have {len(w.wdown)} and {len(w.wup)} values, rank {w.rank}; "
                                    f"expected {d}·r and r·{d} with r ≥ 1", where, "Give [d, r] and [r, d] matrices.")
        tensors += [(f"{w.modality}.wdown", [d, w.rank], _float32_le(w.wdown)),
                    (f"{w.modality}.wup", [w.rank, d], _float32_le(w.wup))]
    if training_config is None:
        training_config = {"modalities": names, "rank": {w.modality: w.rank for w in items}}
    if isinstance(training_config, str):
        try:
            if not isinstance(json.loads(training_config), dict):
                raise ValueError("not an object")
        except ValueError as e:
            raise AdapterUsageError(f"training_config is not a JSON object ({e})", where,
                                    "Give a dict, or the JSON text of one.") from None
        config_text = training_config
    else:
        config_text = js_json(dict(training_config))
    extra = dict(extra or {})
    for k, v in extra.items():
        if k in _RESERVED or k.startswith("rank.") or not isinstance(v, str):
            raise AdapterUsageError(f'extra metadata "{shorten(str(k))}" is a key the format owns, or not a string',
                                    where, "Pass those as arguments; extra values must be strings.")
    loss = "" if final_loss is None else final_loss if isinstance(final_loss, str) else js_number(final_loss)
    metadata = {"format": FORMAT, "base_model": base_model, "d_model": str(d), "modalities": ",".join(names),
                **{f"rank.{w.modality}": str(w.rank) for w in items}, "steps": str(int(steps)), "final_loss": loss,
                "training_config": config_text, **extra}
    return write_safetensors(tensors, metadata)
