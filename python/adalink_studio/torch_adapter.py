"""The studio's adapter as PyTorch modules: Ẽ = E + dropout(E·Wdown)·Wup per modality (docs/ENGINE.md §4).

    adapter = AdaLinkAdapter.from_file("my-adapter.safetensors", base_model="pali-scenes-default")
    image_tokens = adapter.adapt("image", image_tokens)     # [..., d]
    optimizer = torch.optim.AdamW(adapter.parameters())     # train further in PyTorch
    adapter.save("more-trained.safetensors", steps=1500)    # the studio imports it back

Dropout here is torch's (nn.functional.dropout on E·Wdown, scaled 1/(1−p), in train() mode only); the studio
draws its masks from its counter-based RNG (ENGINE.md §3), so a training run here does not repeat a studio
run mask for mask. In eval() mode — generation, merging — there is no dropout on either side.
"""
from __future__ import annotations

import os
from array import array
from typing import Any, Iterator, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .adapter_file import MODALITIES, AdapterFile, ModalityWeights, read_adapter_file, write_adapter_file
from .errors import AdapterUsageError, BaseModelMismatchError
from .studio_random import init_wdown

__all__ = ["AdaLink", "AdaLinkAdapter", "merged_text_table", "fold_into_linear"]


def _tensor(values: array, shape: tuple[int, int]) -> torch.Tensor:  # type: ignore[type-arg]
    return torch.frombuffer(bytearray(values.tobytes()), dtype=torch.float32).reshape(shape).clone()


def _values(t: torch.Tensor) -> array:  # type: ignore[type-arg]
    return array("f", t.detach().to("cpu", torch.float32).reshape(-1).tolist())


class AdaLink(nn.Module):
    """One modality's adapter: wdown [d, r], wup [r, d] (float32 parameters, trainable)."""

    def __init__(self, wdown: torch.Tensor, wup: torch.Tensor, dropout: float = 0.0) -> None:
        super().__init__()
        if wdown.dim() != 2 or wup.dim() != 2 or wup.shape != (wdown.shape[1], wdown.shape[0]) or wdown.shape[1] < 1:
            raise AdapterUsageError(f"wdown {list(wdown.shape)} and wup {list(wup.shape)} are not [d, r] and [r, d]",
                                    "AdaLink", "Give matrices of shapes [d, r] and [r, d], r ≥ 1.")
        if not 0.0 <= dropout < 1.0:
            raise AdapterUsageError(f"dropout {dropout} is not in [0, 1)", "AdaLink", "Use e.g. 0.1, or 0.")
        self.wdown = nn.Parameter(wdown.detach().to(torch.float32).clone())
        self.wup = nn.Parameter(wup.detach().to(torch.float32).clone())
        self.dropout = dropout

    @property
    def d_model(self) -> int:
        return int(self.wdown.shape[0])

    @property
    def rank(self) -> int:
        return int(self.wdown.shape[1])

    def forward(self, embeds: torch.Tensor) -> torch.Tensor:
        hidden = embeds @ self.wdown.to(embeds.dtype)
        if self.training and self.dropout > 0:
            hidden = F.dropout(hidden, self.dropout, training=True)
        return embeds + hidden @ self.wup.to(embeds.dtype)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, rank={self.rank}, dropout={self.dropout}"


class AdaLinkAdapter(nn.Module):
    """The adapters of one studio adapter file: an AdaLink per modality it holds, the base model's id, its
    width d and the file's metadata. `adapt(modality, E)` returns E itself for a modality it has no adapter for."""

    def __init__(self, base_model: str, links: Mapping[str, AdaLink], metadata: Mapping[str, str] | None = None) -> None:
        super().__init__()
        where = "AdaLinkAdapter"
        if not links or any(m not in MODALITIES for m in links):
            raise AdapterUsageError(f"modalities {list(links)} are not image, text or both", where,
                                    'Give an AdaLink for "image", "text" or both.')
        widths = {link.d_model for link in links.values()}
        if len(widths) != 1:
            raise AdapterUsageError(f"the modalities' widths differ: {sorted(widths)}", where, "Use one d_model.")
        if not base_model:
            raise AdapterUsageError("base_model is empty", where, 'Name the model, e.g. "pali-scenes-default".')
        self.base_model = base_model
        self.d_model = widths.pop()
        self.links = nn.ModuleDict({m: links[m] for m in MODALITIES if m in links})
        self.metadata = dict(metadata or {})

    # ---- making one ------------------------------------------------------------------------------

    @classmethod
    def from_adapter_file(cls, file: AdapterFile, dropout: float = 0.0) -> "AdaLinkAdapter":
        d = file.d_model
        links = {m: AdaLink(_tensor(w.wdown, (d, w.rank)), _tensor(w.wup, (w.rank, d)), dropout)
                 for m, w in file.weights.items()}
        return cls(file.base_model, links, file.metadata)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str] | bytes, *, base_model: str | None = None,
                  d_model: int | None = None, dropout: float = 0.0) -> "AdaLinkAdapter":
        """Reads a studio adapter file (read_adapter_file's checks; with `base_model`, a file trained for another
        model raises BaseModelMismatchError)."""
        return cls.from_adapter_file(read_adapter_file(path, base_model=base_model, d_model=d_model), dropout)

    @classmethod
    def from_tensors(cls, base_model: str, tensors: Mapping[str, Any], dropout: float = 0.0,
                     metadata: Mapping[str, str] | None = None) -> "AdaLinkAdapter":
        """From {"image": (wdown, wup), "text": (…)} or the file's names {"image.wdown": …, "image.wup": …}."""
        pairs: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for m in MODALITIES:
            if m in tensors:
                wdown, wup = tensors[m]
                pairs[m] = (torch.as_tensor(wdown), torch.as_tensor(wup))
            elif f"{m}.wdown" in tensors or f"{m}.wup" in tensors:
                pairs[m] = (torch.as_tensor(tensors[f"{m}.wdown"]), torch.as_tensor(tensors[f"{m}.wup"]))
        unknown = set(tensors) - set(pairs) - {f"{m}.{w}" for m in pairs for w in ("wdown", "wup")}
        if unknown:
            raise AdapterUsageError(f"unknown entries {sorted(map(str, unknown))}", "AdaLinkAdapter.from_tensors",
                                    'Use "image"/"text" (or "image.wdown", "image.wup", …) as keys.')
        return cls(base_model, {m: AdaLink(w, u, dropout) for m, (w, u) in pairs.items()}, metadata)

    @classmethod
    def create(cls, base_model: str, d_model: int, ranks: Mapping[str, int], seed: int = 0,
               dropout: float = 0.0) -> "AdaLinkAdapter":
        """A fresh adapter initialised as the studio initialises one (Wdown from its RNG and seed, Wup = 0)."""
        links = {m: AdaLink(_tensor(init_wdown(seed, m, d_model, r), (d_model, r)), torch.zeros(r, d_model), dropout)
                 for m, r in ranks.items() if m in MODALITIES}
        return cls(base_model, links)

    # ---- using it --------------------------------------------------------------------------------

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.links.keys())

    def link(self, modality: str) -> AdaLink | None:
        if modality not in MODALITIES:
            raise AdapterUsageError(f'unknown modality "{modality}"', "AdaLinkAdapter", 'Use "image" or "text".')
        return self.links[modality] if modality in self.links else None  # type: ignore[return-value]

    def adapt(self, modality: str, embeds: torch.Tensor) -> torch.Tensor:
        """Ẽ = E + (E·Wdown)·Wup over the last axis (width d); E itself when there is no such adapter."""
        link = self.link(modality)
        if embeds.shape[-1] != self.d_model:
            raise AdapterUsageError(f"{modality} embeddings have width {embeds.shape[-1]}, the adapter {self.d_model}",
                                    f"AdaLinkAdapter.adapt({modality!r})", "Pass the model's [..., d] embeddings.")
        return embeds if link is None else link(embeds)

    def forward(self, modality: str, embeds: torch.Tensor) -> torch.Tensor:
        return self.adapt(modality, embeds)

    def only(self, *modalities: str) -> "AdaLinkAdapter":
        """The adapter of these modalities alone (the same parameters, shared)."""
        return AdaLinkAdapter(self.base_model, {m: self.links[m] for m in modalities if m in self.links}, self.metadata)  # type: ignore[misc]

    def check_model(self, model_id: str, d_model: int | None = None, where: str = "model") -> None:
        """Raises BaseModelMismatchError unless this adapter was trained for `model_id` (and width d_model)."""
        from .adapter_file import check_base_model
        check_base_model(self.base_model, model_id, where)
        if d_model is not None and d_model != self.d_model:
            raise BaseModelMismatchError(self.base_model, model_id, where, what=(
                f"the adapter is {self.d_model} wide, the model's embeddings {d_model}"),
                todo="Use the model the adapter was trained for.")

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        return self.parameters()

    # ---- saving ----------------------------------------------------------------------------------

    def to_adapter_file(self, *, base_model: str | None = None) -> AdapterFile:
        weights = {m: ModalityWeights(m, link.rank, _values(link.wdown), _values(link.wup))
                   for m, link in self.links.items()}
        return AdapterFile(base_model or self.base_model, self.d_model, weights, dict(self.metadata))

    def to_bytes(self, *, base_model: str | None = None, steps: int | None = None, final_loss: float | str | None = None,
                 training_config: Mapping[str, Any] | str | None = None, extra: Mapping[str, str] | None = None) -> bytes:
        """The studio's adapter file. Defaults: base_model, steps and final_loss of the file this adapter was read
        from; training_config that file's, with modalities and ranks set to this adapter's (else just those)."""
        file = self.to_adapter_file(base_model=base_model)
        if steps is None:
            steps = file.steps
        if final_loss is None:
            final_loss = self.metadata.get("final_loss")
        if training_config is None:
            stored = file.training_config
            if stored is not None:
                training_config = dict(stored, modalities=list(self.modalities),
                                       rank={**stored.get("rank", {}), **{m: l.rank for m, l in self.links.items()}})
        return write_adapter_file(file.weights, file.base_model, self.d_model, steps=steps, final_loss=final_loss,
                                  training_config=training_config, extra=extra)

    def save(self, path: str | os.PathLike[str], **kwargs: Any) -> None:
        """Writes the studio's adapter file (to_bytes's arguments: base_model, steps, final_loss, training_config,
        extra). The file is written whole to `path + ".partial"` first, then renamed over `path`."""
        data = self.to_bytes(**kwargs)
        partial = os.fspath(path) + ".partial"
        with open(partial, "wb") as f:
            f.write(data)
        os.replace(partial, path)


# ---- folding an adapter into the model's weights ---------------------------------------------------

def merged_text_table(table: torch.Tensor, link: AdaLink) -> torch.Tensor:
    """E' = E + (E·Wdown)·Wup for every row of a [V, d] embedding table, computed as the live adapter computes a
    token's embedding (float32, the same operations), so E'[id] is what adapt("text", E[id]) gives."""
    with torch.no_grad():
        was = link.training
        link.eval()
        try:
            return link(table.detach().to(torch.float32)).clone()
        finally:
            link.train(was)


def fold_into_linear(linear: nn.Linear, link: AdaLink) -> nn.Linear:
    """A new Linear equal to link(linear(x)): y = x·Aᵀ + b, ỹ = y·(I + Wdown·Wup), so Aᵀ' = Aᵀ·M and b' = b·M with
    M = I + Wdown·Wup (computed in float64, stored in the layer's dtype). The layer must output d features."""
    if linear.out_features != link.d_model:
        raise AdapterUsageError(f"the layer outputs {linear.out_features} features, the adapter is {link.d_model} wide",
                                "fold_into_linear", "Fold into the layer that produces the adapted embeddings.")
    with torch.no_grad():
        m = torch.eye(link.d_model, dtype=torch.float64) + link.wdown.double().cpu() @ link.wup.double().cpu()
        weight = (m.T @ linear.weight.detach().double().cpu())  # [d_out, d_in]
        out = nn.Linear(linear.in_features, linear.out_features, bias=linear.bias is not None,
                        device=linear.weight.device, dtype=linear.weight.dtype)
        out.weight.copy_(weight.to(linear.weight.dtype))
        if linear.bias is not None:
            out.bias.copy_((linear.bias.detach().double().cpu() @ m).to(linear.bias.dtype))
        out.requires_grad_(linear.weight.requires_grad)
    return out
