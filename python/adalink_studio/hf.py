"""A studio adapter on the Hugging Face models the studio trains, for inference and for training in PyTorch.

Two kinds of model (duck-typed; transformers ≥ 4.56 / 5.x):

- the project's default model (tools/adalink/model.py, PaliModel): `vit` (tiny ViT → image tokens, ending in the
  Linear `vit.proj`) and `bart` (BartForConditionalGeneration); its prompt embeddings are rows of BART's shared
  table (scale 1.0);
- Florence2ForConditionalGeneration (or tools' FlorenceModel around one): image tokens =
  get_image_features(pixel_values).pooler_output, prompt embeddings = the model's own token lookup.

Where the adapted embeddings go is where the studio puts them (docs/ENGINE.md §1, §7): the image adapter on the
image tokens, the text adapter on the ENCODER's prompt token embeddings (padded positions included, masked by
the attention mask), never on the decoder's input embeddings; the encoder reads concat(Ẽ_image, Ẽ_text).

    wrapped = AdaptedModel(model, adapter, base_model="pali-scenes-default")
    ids = wrapped.generate(pixel_values, prompt_ids, max_new_tokens=32)          # greedy, as the studio decodes
    loss = wrapped(pixel_values, prompt_ids, prompt_mask, labels=target_ids).loss  # train the adapter further
"""
from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .errors import AdapterUsageError
from .torch_adapter import AdaLinkAdapter, fold_into_linear, merged_text_table

__all__ = ["AdaptedModel", "MergeResult", "merge", "model_id_of", "seq2seq_of", "language_model_of"]

_REPO = re.compile(r"[\w.-]+/[\w.-]+")
_COMMIT = re.compile(r"[0-9a-f]{40}")


def seq2seq_of(model: Any) -> Any:
    """The Hugging Face encoder-decoder: the default model's `bart`, tools' FlorenceModel's `bart` (a Florence-2),
    or the model itself."""
    inner = getattr(model, "bart", None)
    return inner if inner is not None and hasattr(inner, "generate") else model


def language_model_of(seq2seq: Any) -> Any:
    """The BartModel (shared table, encoder, decoder): BartForConditionalGeneration.model, or
    Florence2ForConditionalGeneration.model.language_model."""
    return getattr(seq2seq.model, "language_model", seq2seq.model)


def _is_florence(seq2seq: Any) -> bool:
    return getattr(getattr(seq2seq, "config", None), "model_type", None) == "florence2"


def _text_config(seq2seq: Any) -> Any:
    return getattr(seq2seq.config, "text_config", seq2seq.config)


def model_id_of(model: Any) -> str | None:
    """The model's id as the studio names it, where the model says: `model.adalink_model_id` if set; for a model
    loaded from a local folder, the folder's name (this repository keeps checkpoints in folders named by package id:
    tools/checkpoints/tiny-florence-test); for one loaded from the Hub, `hub:<owner/name>@<commit>`. None otherwise
    (the default model built by tools/adalink/model.py says nothing: pass base_model=)."""
    explicit = getattr(model, "adalink_model_id", None)
    if isinstance(explicit, str) and explicit:
        return explicit
    config = getattr(seq2seq_of(model), "config", None)
    name = getattr(config, "_name_or_path", "") or ""
    commit = getattr(config, "_commit_hash", None)
    if name and os.path.isdir(name):
        return os.path.basename(os.path.normpath(name))
    if _REPO.fullmatch(name) and isinstance(commit, str) and _COMMIT.fullmatch(commit):
        return f"hub:{name}@{commit}"
    return None


def _shift_right(labels: torch.Tensor, pad_id: int, start_id: int) -> torch.Tensor:
    """decoder_start_id, then labels[:-1]; −100 → pad (ENGINE.md §1, as BART's shift_tokens_right)."""
    out = labels.new_full(labels.shape, pad_id)
    out[:, 1:] = labels[:, :-1]
    out[:, 0] = start_id
    return out.masked_fill(out == -100, pad_id)


class AdaptedModel(nn.Module):
    """A frozen model with a studio adapter applied where the studio applies it. `adapter=None` runs the model
    as it is (e.g. a merged one). The adapter is refused unless it was trained for this model: `base_model` (the
    model's id, e.g. "pali-scenes-default" or "hub:onnx-community/Florence-2-base-ft@<commit>"), else
    model_id_of(model). Note: the studio's Hub ids name the transformers.js repository it read (ONNX graphs); a
    PyTorch checkpoint of the same weights has another repository name, so say base_model= for it."""

    def __init__(self, model: Any, adapter: AdaLinkAdapter | None, *, base_model: str | None = None,
                 freeze_base: bool = True) -> None:
        super().__init__()
        self.model = model
        self.seq2seq = seq2seq_of(model)
        self.florence = _is_florence(self.seq2seq)
        if not self.florence and not hasattr(model, "vit") and not hasattr(model, "image_embeds"):
            raise AdapterUsageError(f"{type(model).__name__} is neither the default model (vit + bart) nor Florence-2",
                                    "AdaptedModel", "Pass tools/adalink/model.py's model or a "
                                    "Florence2ForConditionalGeneration.")
        folded = set(getattr(model, "adalink_merged", ()))
        if adapter is not None and folded & set(adapter.modalities):
            raise AdapterUsageError(f"the model already has the {', '.join(sorted(folded))} adapter folded in (merge)",
                                    "AdaptedModel", "Apply only the modalities still live: "
                                    "adapter.only(*result.live), or start from the unmerged model.")
        self.adapter = adapter
        self.d_model = int(language_model_of(self.seq2seq).encoder.embed_tokens.weight.shape[1])
        if adapter is not None:
            model_id = base_model or model_id_of(model)
            if model_id is None:
                raise AdapterUsageError("cannot tell which model this is (its config names no folder or Hub commit)",
                                        "AdaptedModel", f'Pass base_model=, e.g. base_model="{adapter.base_model}" if '
                                        "it is that model.")
            adapter.check_model(model_id, self.d_model, where=f"model {model_id}")
        if freeze_base:
            for p in self.seq2seq.parameters():
                p.requires_grad_(False)
            if self.seq2seq is not model and isinstance(model, nn.Module):
                model.requires_grad_(False)

    # ---- the embeddings the encoder reads --------------------------------------------------------

    def image_tokens(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The model's image tokens [B, Ni, d], before the adapter."""
        if self.florence:
            out = self.seq2seq.get_image_features(pixel_values=pixel_values)
            return getattr(out, "pooler_output", out)
        if hasattr(self.model, "image_embeds"):
            return self.model.image_embeds(pixel_values)
        return self.model.vit(pixel_values)

    def prompt_tokens(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The encoder's token embeddings of the prompt ids [B, Nt, d], before the adapter."""
        return language_model_of(self.seq2seq).encoder.embed_tokens(input_ids)

    def _prompt(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
                n_image: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompt ids and mask. For Florence-2, ids as its processor writes them ([<image>] × Ni first) lose the
        placeholders: the image tokens take their place, as in the model's own forward."""
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        image_id = getattr(self.seq2seq.config, "image_token_id", None) if self.florence else None
        if image_id is not None and bool((input_ids == image_id).any()):
            k = int((input_ids == image_id).sum(dim=1)[0])
            if k != n_image or not bool((input_ids[:, :k] == image_id).all()) or bool((input_ids[:, k:] == image_id).any()):
                raise AdapterUsageError(f"the ids hold image placeholders, but not exactly {n_image} at the start of "
                                        "every row", "input_ids", "Pass the processor's input_ids as they are, or the "
                                        "prompt ids alone ([bos] prompt [eos]).")
            input_ids, mask = input_ids[:, k:], mask[:, k:]
        return input_ids, mask

    def adapted_inputs(self, pixel_values: torch.Tensor, input_ids: torch.Tensor,
                       attention_mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """{"image": Ẽ_image [B,Ni,d], "text": Ẽ_text [B,Nt,d], "inputs_embeds": concat [B,Ni+Nt,d],
        "attention_mask": concat(ones, prompt mask) [B,Ni+Nt]}: what the studio's encoder reads."""
        image = self.image_tokens(pixel_values)
        ids, mask = self._prompt(input_ids, attention_mask, image.shape[1])
        text = self.prompt_tokens(ids)
        if self.adapter is not None:
            image, text = self.adapter.adapt("image", image), self.adapter.adapt("text", text)
        keep = torch.cat([torch.ones(image.shape[:2], dtype=mask.dtype, device=mask.device), mask], dim=1)
        return {"image": image, "text": text, "inputs_embeds": torch.cat([image, text], dim=1), "attention_mask": keep}

    # ---- forward and generate ----------------------------------------------------------------------

    def forward(self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                decoder_input_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                **kwargs: Any) -> Any:
        """The model's forward on the adapted embeddings (a Seq2SeqLMOutput; `.loss` with labels, −100 ignored).
        Without decoder_input_ids they are decoder_start_id then labels[:-1] (ENGINE.md §1)."""
        inputs = self.adapted_inputs(pixel_values, input_ids, attention_mask)
        if decoder_input_ids is None and labels is not None:
            cfg = _text_config(self.seq2seq)
            decoder_input_ids = _shift_right(labels, cfg.pad_token_id, cfg.decoder_start_token_id)
        kwargs.setdefault("use_cache", False)
        return self.seq2seq(inputs_embeds=inputs["inputs_embeds"], attention_mask=inputs["attention_mask"],
                            decoder_input_ids=decoder_input_ids, labels=labels, **kwargs)

    def generate(self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                 max_new_tokens: int = 64, **kwargs: Any) -> torch.Tensor:
        """Hugging Face generate on the adapted embeddings. Defaults are the studio's greedy decoding (ENGINE.md §7:
        argmax, no repetition rules, no forced tokens, stop at eos or max_new_tokens); kwargs override them
        (num_beams=k with early_stopping=True is the studio's beam search). Returns generate's ids, the decoder
        start first. The encoder runs here and generate gets its output (Florence-2's generate takes no
        inputs_embeds without pixel_values)."""
        cfg = _text_config(self.seq2seq)
        options: dict[str, Any] = dict(
            do_sample=False, num_beams=1, max_new_tokens=max_new_tokens, decoder_start_token_id=cfg.decoder_start_token_id,
            eos_token_id=cfg.eos_token_id, pad_token_id=cfg.pad_token_id, forced_bos_token_id=None,
            forced_eos_token_id=None, no_repeat_ngram_size=0, min_length=0, repetition_penalty=1.0, length_penalty=1.0)
        options.update(kwargs)
        with torch.no_grad():
            inputs = self.adapted_inputs(pixel_values, input_ids, attention_mask)
            encoder_out = language_model_of(self.seq2seq).encoder(inputs_embeds=inputs["inputs_embeds"],
                                                                  attention_mask=inputs["attention_mask"])
            return self.seq2seq.generate(encoder_outputs=encoder_out, attention_mask=inputs["attention_mask"], **options)

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [] if self.adapter is None else list(self.adapter.parameters())


# ---- merge ---------------------------------------------------------------------------------------------

@dataclass
class MergeResult:
    model: Any
    merged: tuple[str, ...]
    live: tuple[str, ...]  # modalities still to apply with AdaptedModel(model, adapter.only(*live))
    notes: list[str] = field(default_factory=list)


def _untie_text_table(seq2seq: Any, adapter: AdaLinkAdapter) -> None:
    """A new encoder table E' = E + (E·Wdown)·Wup (row by row, the looked-up rows, embed_scale included); the
    decoder's table and lm_head keep E (BART ties all three; only the encoder's is untied)."""
    lm = language_model_of(seq2seq)
    old = lm.shared
    scale = getattr(old, "embed_scale", 1.0)
    looked_up = old(torch.arange(old.num_embeddings, device=old.weight.device))
    new = copy.deepcopy(old)
    new.weight = nn.Parameter(merged_text_table(looked_up, adapter.links["text"]) / scale, requires_grad=False)  # type: ignore[arg-type]
    decoder_weight, head_weight = lm.decoder.embed_tokens.weight, seq2seq.get_output_embeddings().weight
    lm.shared = new
    lm.encoder.embed_tokens = new
    for config in {id(c): c for c in (seq2seq.config, _text_config(seq2seq), lm.config)}.values():
        config.tie_word_embeddings = False  # a later tie_weights() must not put E' back into decoder and lm_head
    if lm.decoder.embed_tokens.weight is not decoder_weight or seq2seq.get_output_embeddings().weight is not head_weight:
        raise AdapterUsageError("the decoder's table or lm_head changed while untying the encoder's", "merge",
                                "Report this with your transformers version.")


def merge(model: Any, adapter: AdaLinkAdapter, *, base_model: str | None = None,
          modalities: tuple[str, ...] | None = None, inplace: bool = False) -> MergeResult:
    """Folds the adapter into the model's weights (a copy, unless inplace), so it runs without the adapter:

    - text: a NEW, untied encoder embedding table E' = E + (E·Wdown)·Wup; the decoder's embeddings and lm_head keep
      E. The model's own token lookup (get_input_embeddings, the processor's input_ids path, the default model's
      text_embeds) then reads E'; config.tie_word_embeddings is set False so nothing ties them back.
    - image, default model: folded into the ViT's last layer, the Linear `vit.proj` (fold_into_linear).
    - image, Florence-2: NOT possible — its image path ends in a LayerNorm (multi_modal_projector.image_proj_norm),
      and x ↦ LN(x)·(I + Wdown·Wup) is no LayerNorm. Asking for it raises AdapterUsageError; merge
      modalities=("text",) and keep the image adapter live: AdaptedModel(result.model, adapter.only("image"), …).

    Saving a merged model with save_pretrained and loading it back was not checked (tie_word_embeddings is False
    in its config, so the four tables load as saved, but see python/README.md)."""
    where = "merge"
    wanted = tuple(modalities) if modalities is not None else adapter.modalities
    for m in wanted:
        if m not in adapter.modalities:
            raise AdapterUsageError(f'the adapter has no "{m}" part (it has {", ".join(adapter.modalities)})', where,
                                    "Merge the modalities it has.")
    seq2seq = seq2seq_of(model)
    if "image" in wanted and _is_florence(seq2seq):
        raise AdapterUsageError("Florence-2's image path ends in a LayerNorm (multi_modal_projector.image_proj_norm), "
                                "which a linear adapter cannot be folded into", where,
                                'Merge modalities=("text",) and keep the image adapter live: '
                                'AdaptedModel(result.model, adapter.only("image"), base_model=…).')
    AdaptedModel(model, adapter, base_model=base_model, freeze_base=False)  # the id and width checks
    target = model if inplace else copy.deepcopy(model)
    target_seq2seq = seq2seq_of(target)
    notes: list[str] = []
    if "text" in wanted:
        _untie_text_table(target_seq2seq, adapter)
        notes.append("text: folded into a new encoder embedding table (decoder embeddings and lm_head keep the original)")
    if "image" in wanted:
        proj = getattr(getattr(target, "vit", None), "proj", None)
        if not isinstance(proj, nn.Linear):
            raise AdapterUsageError("the image path does not end in a Linear layer `vit.proj`", where,
                                    'Merge modalities=("text",) and keep the image adapter live.')
        target.vit.proj = fold_into_linear(proj, adapter.links["image"])  # type: ignore[arg-type]
        notes.append("image: folded into vit.proj")
    live = tuple(m for m in adapter.modalities if m not in wanted)
    if live:
        notes.append(f"still live: {', '.join(live)} — AdaptedModel(result.model, adapter.only(*result.live), ...)")
    # AdaptedModel refuses to apply these modalities again on top of their folded copy.
    target.adalink_merged = tuple(getattr(target, "adalink_merged", ())) + wanted
    return MergeResult(target, wanted, live, notes)
