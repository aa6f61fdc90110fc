"""The package's typed errors. Each says what is wrong, where, and what to do — the three parts the studio's
errors carry (src/errors.ts) — so a message can be shown to a person as it is:

    AdapterError("the adapter names no modality", "my.safetensors", "Choose an adapter saved by the studio.")
    -> "the adapter names no modality (my.safetensors). Choose an adapter saved by the studio."
"""
from __future__ import annotations

import json
from typing import Any

__all__ = ["AdapterError", "AdapterFormatError", "BaseModelMismatchError", "AdapterUsageError", "shorten", "shown"]


class AdapterError(Exception):
    """Base class: `what` is wrong, `where` (a file, a tensor, an argument), and `todo`, what to do about it."""

    def __init__(self, what: str, where: str, todo: str) -> None:
        super().__init__(f"{what} ({where}). {todo}")
        self.what = what
        self.where = where
        self.todo = todo


class AdapterFormatError(AdapterError):
    """A file that is not a readable studio adapter: damaged safetensors, no format=adalink-adapter, a missing
    or non-float32 tensor, shapes that are not [d, r] and [r, d]."""


class BaseModelMismatchError(AdapterError):
    """The adapter was trained for another model (or another width d) than the one it is given to."""

    def __init__(self, adapter_model: str, model: str, where: str, todo: str | None = None,
                 what: str | None = None) -> None:
        self.adapter_model = adapter_model
        self.model = model
        super().__init__(
            what or f'the adapter was trained for model "{shorten(adapter_model)}", the loaded model is "{shorten(model)}"',
            where,
            todo or f'Load model "{shorten(adapter_model)}" first, or use an adapter trained on "{shorten(model)}".')


class AdapterUsageError(AdapterError):
    """A call the adapter cannot serve: an unknown modality, embeddings of the wrong width, a model the package
    does not know, a fold that is not possible (Florence-2's image path ends in a LayerNorm)."""


def shorten(text: str, max_chars: int = 80) -> str:
    """Long text (a 10 MB name) cut for a message: a message is read by a person."""
    return text if len(text) <= max_chars else f"{text[:max_chars]}…"


def shown(value: Any, max_chars: int = 60) -> str:
    """A value as a message shows it: its JSON, of a list or dict only the first few items, cut to max_chars."""
    def item(v: Any) -> str:
        return "[…]" if isinstance(v, list) else "{…}" if isinstance(v, dict) else shown(v, 20)
    if isinstance(value, list):
        text = "[" + ", ".join(item(v) for v in value[:8]) + (", …" if len(value) > 8 else "") + "]"
    elif isinstance(value, dict):
        keys = list(value)
        text = "{" + ", ".join(f"{shown(str(k), 20)}: {item(value[k])}" for k in keys[:8]) + (", …" if len(keys) > 8 else "") + "}"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    return shorten(text, max_chars)
