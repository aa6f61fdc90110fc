"""The adapter on the Hugging Face models (needs transformers, which the GPU machine has): the default model's
tiny test checkpoint and the tiny Florence-2. Generation reproduces the committed greedy fixtures, which were
made by tools/adalink/reference_greedy.py from the same weights and adapters (the adapted ids differ from the
base ids, so an adapter applied in the wrong place, or not at all, fails); merge equals live."""
from __future__ import annotations

import json
import os
import sys
import unittest

from _support import FIXTURES, HAVE_TRANSFORMERS, NO_TRANSFORMERS, REPO, TOOLS

from adalink_studio import AdapterUsageError, BaseModelMismatchError

if HAVE_TRANSFORMERS:
    import torch
    import torch.nn.functional as F

    from adalink_studio.hf import AdaptedModel, language_model_of, merge, model_id_of, seq2seq_of
    from adalink_studio.torch_adapter import AdaLinkAdapter

    if TOOLS not in sys.path:
        sys.path.append(TOOLS)  # tools/adalink: the model code the studio's packages were exported from

N = 4  # images per test


def fixture_adapter(name: str, base_model: str, d: int) -> "AdaLinkAdapter":
    with open(os.path.join(FIXTURES, name)) as f:
        fx = json.load(f)
    rank = fx["config"]["rank"]
    return AdaLinkAdapter.from_tensors(base_model, {m: (torch.tensor(fx["final"][f"wdown_{m}"]).reshape(d, rank[m]),
                                                        torch.tensor(fx["final"][f"wup_{m}"]).reshape(rank[m], d))
                                                    for m in ("image", "text")})


def greedy_case(name: str, mean: list[float], std: list[float]) -> tuple[dict, "torch.Tensor"]:
    from adalink.dataset import load_pixels
    with open(os.path.join(FIXTURES, name)) as f:
        fx = json.load(f)
    folder = os.path.join(FIXTURES, "tiny-captions")
    pixels = torch.stack([torch.tensor(load_pixels(folder, e, mean, std, 32)) for e in fx["examples"][:N]])
    return fx, pixels


def strip(seqs: "torch.Tensor", eos: int) -> list[list[int]]:
    out = []
    for row in seqs[:, 1:].tolist():
        out.append(row[:row.index(eos) + 1] if eos in row else row)
    return out


class Case:
    """Shared checks; setUp gives model, adapter, base_model, fixture, pixels, prompt (ids per example)."""

    def generate(self, wrapped: "AdaptedModel", i: int, ids: list[int] | None = None) -> list[int]:
        ids = ids or self.fx["examples"][i]["prompt_ids"]
        seqs = wrapped.generate(self.pixels[i:i + 1], torch.tensor([ids]), max_new_tokens=int(self.fx["max_target_tokens"]))
        return strip(seqs, int(self.fx["eos_id"]))[0]

    def test_generate_gives_the_fixtures_adapted_and_base_ids(self) -> None:
        adapted = AdaptedModel(self.model, self.adapter, base_model=self.base_model)
        base = AdaptedModel(self.model, None)
        for i, e in enumerate(self.fx["examples"][:N]):
            self.assertEqual(self.generate(adapted, i), e["adapted"]["ids"], e["file_name"])
            self.assertEqual(self.generate(base, i), e["base"]["ids"], e["file_name"])

    def test_adapted_embeddings_go_where_the_studio_puts_them(self) -> None:
        wrapped = AdaptedModel(self.model, self.adapter, base_model=self.base_model)
        ids = [e["prompt_ids"] for e in self.fx["examples"][:2]]
        width = max(map(len, ids))
        pad = language_model_of(wrapped.seq2seq).config.pad_token_id
        padded = torch.tensor([p + [pad] * (width - len(p)) for p in ids])
        mask = torch.tensor([[1] * len(p) + [0] * (width - len(p)) for p in ids])
        got = wrapped.adapted_inputs(self.pixels[:2], padded, mask)
        with torch.no_grad():
            image = self.adapter.adapt("image", self.image_tokens(self.pixels[:2]))
            text = self.adapter.adapt("text", F.embedding(padded, self.table()))  # padded positions adapted too
        self.assertLess((got["image"] - image).abs().max().item(), 1e-6)
        self.assertLess((got["text"] - text).abs().max().item(), 1e-6)
        self.assertTrue(torch.equal(got["inputs_embeds"], torch.cat([got["image"], got["text"]], dim=1)))
        self.assertEqual(got["attention_mask"][:, image.shape[1]:].tolist(), mask.tolist())
        # training: the loss of the wrapper's forward is the exporter's loss on the same adapted embeddings
        labels = torch.tensor([e["adapted"]["ids"][:6] for e in self.fx["examples"][:2]])
        loss = wrapped(self.pixels[:2], padded, mask, labels=labels).loss
        loss.backward()
        self.assertGreater(self.adapter.links["text"].wup.grad.abs().max().item(), 0)
        self.assertFalse(any(p.requires_grad for p in wrapped.seq2seq.parameters()))

    def test_another_model_is_refused(self) -> None:
        with self.assertRaises(BaseModelMismatchError):
            AdaptedModel(self.model, self.adapter, base_model="some-other-model")

    def test_merged_equals_live(self) -> None:
        result = merge(self.model, self.adapter, base_model=self.base_model, modalities=self.mergeable)
        lm, original = language_model_of(seq2seq_of(result.model)), language_model_of(seq2seq_of(self.model))
        self.assertTrue(torch.equal(lm.decoder.embed_tokens.weight, original.shared.weight))  # the decoder keeps E
        self.assertFalse(torch.equal(lm.encoder.embed_tokens.weight, original.shared.weight))
        live = self.adapter.only(*result.live) if result.live else None
        merged = AdaptedModel(result.model, live, base_model=self.base_model)
        reference = AdaptedModel(self.model, self.adapter, base_model=self.base_model)
        ids = torch.tensor([self.fx["examples"][0]["prompt_ids"]])
        a, b = merged.adapted_inputs(self.pixels[:1], ids), reference.adapted_inputs(self.pixels[:1], ids)
        self.assertLess((a["inputs_embeds"] - b["inputs_embeds"]).abs().max().item(), 1e-5)
        for i, e in enumerate(self.fx["examples"][:N]):
            self.assertEqual(self.generate(merged, i), e["adapted"]["ids"], e["file_name"])
        with self.assertRaisesRegex(AdapterUsageError, "already has"):
            AdaptedModel(result.model, self.adapter, base_model=self.base_model)


@unittest.skipUnless(HAVE_TRANSFORMERS, NO_TRANSFORMERS)
class DefaultModel(Case, unittest.TestCase):
    mergeable = ("image", "text")

    def setUp(self) -> None:
        from adalink.model import load_checkpoint
        self.model = load_checkpoint(os.path.join(TOOLS, "checkpoints", "tiny-pali-test"))
        self.base_model = "tiny-pali-test"
        self.adapter = fixture_adapter("reference-adafactor.json", self.base_model, 32)
        self.fx, self.pixels = greedy_case("reference-greedy.json", [0.5] * 3, [0.5] * 3)
        self.image_tokens = self.model.image_embeds
        self.table = lambda: self.model.embed_tokens

    def test_the_model_says_no_id(self) -> None:
        self.assertIsNone(model_id_of(self.model))
        with self.assertRaisesRegex(AdapterUsageError, "pass base_model=|Pass base_model="):
            AdaptedModel(self.model, self.adapter)


@unittest.skipUnless(HAVE_TRANSFORMERS, NO_TRANSFORMERS)
class Florence2(Case, unittest.TestCase):
    mergeable = ("text",)

    def setUp(self) -> None:
        from adalink.florence import IMAGENET_MEAN, IMAGENET_STD, load_florence
        self.wrapper = load_florence(os.path.join(TOOLS, "checkpoints", "tiny-florence-test"))
        self.model = self.wrapper.bart  # the Florence2ForConditionalGeneration itself
        self.base_model = "tiny-florence-test"
        self.adapter = fixture_adapter("reference-florence-adamw.json", self.base_model, 32)
        self.fx, self.pixels = greedy_case("reference-greedy-florence.json", IMAGENET_MEAN, IMAGENET_STD)
        self.image_tokens = self.wrapper.image_embeds
        self.table = lambda: self.wrapper.embed_tokens

    def test_id_from_the_folder_and_the_processors_ids(self) -> None:
        self.assertEqual(model_id_of(self.model), "tiny-florence-test")
        wrapped = AdaptedModel(self.model, self.adapter)  # the id derived from the checkpoint folder
        e = self.fx["examples"][0]
        placeholders = [self.model.config.image_token_id] * self.wrapper.cfg.image_tokens
        self.assertEqual(self.generate(wrapped, 0, placeholders + e["prompt_ids"]), e["adapted"]["ids"])

    def test_the_image_side_cannot_be_folded(self) -> None:
        with self.assertRaisesRegex(AdapterUsageError, "LayerNorm"):
            merge(self.model, self.adapter, base_model=self.base_model)


if __name__ == "__main__":
    unittest.main()
