"""The PyTorch adapter: its math against a float64 reference, the folds into weights against the live adapter,
and save → studio file → load."""
from __future__ import annotations

import os
import tempfile
import unittest

from _support import DEFAULT_ADAPTER, HAVE_TORCH, NO_TORCH

from adalink_studio import AdapterUsageError, BaseModelMismatchError, read_adapter_file

if HAVE_TORCH:
    import torch
    from torch import nn

    from adalink_studio.torch_adapter import AdaLinkAdapter, fold_into_linear, merged_text_table


@unittest.skipUnless(HAVE_TORCH, NO_TORCH)
class AdapterMath(unittest.TestCase):
    def setUp(self) -> None:
        torch.manual_seed(0)
        self.adapter = AdaLinkAdapter.from_file(DEFAULT_ADAPTER, base_model="pali-scenes-default")

    def test_adapt_is_e_plus_e_wdown_wup(self) -> None:
        file = read_adapter_file(DEFAULT_ADAPTER)
        E = torch.randn(3, 7, 256)
        for m in ("image", "text"):
            w = file.weights[m]
            # float64 reference from the file's values (not from the module's parameters)
            wdown = torch.tensor(list(w.wdown), dtype=torch.float64).reshape(256, w.rank)
            wup = torch.tensor(list(w.wup), dtype=torch.float64).reshape(w.rank, 256)
            want = E.double() + (E.double() @ wdown) @ wup
            got = self.adapter.adapt(m, E)
            self.assertEqual(got.dtype, torch.float32)
            scale = want.abs().max().item()
            self.assertLess((got.double() - want).abs().max().item() / scale, 1e-6, m)
            self.assertGreater((got - E).abs().max().item(), 1.0)  # the adapter does change them

    def test_missing_modality_unknown_modality_wrong_width(self) -> None:
        E = torch.randn(2, 256)
        self.assertIs(self.adapter.only("image").adapt("text", E), E)
        with self.assertRaisesRegex(AdapterUsageError, 'unknown modality "audio"'):
            self.adapter.adapt("audio", E)
        with self.assertRaisesRegex(AdapterUsageError, "width 32, the adapter 256"):
            self.adapter.adapt("image", torch.randn(2, 32))

    def test_dropout_only_in_training(self) -> None:
        adapter = AdaLinkAdapter.from_file(DEFAULT_ADAPTER, dropout=0.5)
        E = torch.randn(4, 256)
        adapter.eval()
        self.assertTrue(torch.equal(adapter.adapt("text", E), self.adapter.adapt("text", E)))
        adapter.train()
        self.assertFalse(torch.equal(adapter.adapt("text", E), self.adapter.adapt("text", E)))

    def test_gradients_reach_both_matrices(self) -> None:
        adapter = AdaLinkAdapter.create("tiny-pali-test", 32, {"image": 8, "text": 4}, seed=7)
        self.assertTrue(all(torch.equal(l.wup, torch.zeros_like(l.wup)) for l in adapter.links.values()))
        optimizer = torch.optim.AdamW(adapter.trainable_parameters(), lr=0.05)
        target = torch.randn(5, 32)
        E = torch.randn(5, 32)
        losses = []
        for _ in range(20):
            optimizer.zero_grad()
            loss = ((adapter.adapt("image", E) - target) ** 2).mean() + adapter.adapt("text", E).square().mean()
            loss.backward()
            losses.append(loss.item())
            optimizer.step()
        self.assertLess(losses[-1], losses[0] * 0.9)
        self.assertGreater(adapter.links["image"].wdown.grad.abs().max().item(), 0)

    def test_merged_text_table_equals_the_live_adapter_on_every_row(self) -> None:
        # One matmul over the table against one per row: float32 sums in another order, a few ulps apart (1e-6 of
        # the row's largest value failed once on torch 2.11: 5.7e-6 against 5.4e-6); a wrong fold is off by O(1).
        table = torch.randn(447, 256, generator=torch.Generator().manual_seed(0))
        merged = merged_text_table(table, self.adapter.links["text"])
        for i in range(table.shape[0]):
            live = self.adapter.adapt("text", table[i:i + 1])
            self.assertLessEqual((merged[i] - live[0]).abs().max().item(), 1e-5 * max(1.0, live.abs().max().item()), i)
        # and batched as the studio runs it: [B, Nt, d] lookups of ids
        ids = torch.randint(0, 447, (4, 9))
        live = self.adapter.adapt("text", nn.functional.embedding(ids, table))
        self.assertLess((nn.functional.embedding(ids, merged) - live).abs().max().item(), 1e-4)

    def test_image_fold_into_a_linear_layer_equals_the_live_adapter(self) -> None:
        for bias in (True, False):
            linear = nn.Linear(48, 256, bias=bias)
            folded = fold_into_linear(linear, self.adapter.links["image"])
            x = torch.randn(3, 10, 48)
            live = self.adapter.adapt("image", linear(x)).detach()
            with torch.no_grad():
                err = (folded(x) - live).abs().max().item() / live.abs().max().item()
            self.assertLess(err, 2e-6, bias)
            self.assertGreater((live - linear(x)).abs().max().item(), 1.0)
        with self.assertRaisesRegex(AdapterUsageError, "outputs 32 features"):
            fold_into_linear(nn.Linear(8, 32), self.adapter.links["image"])


@unittest.skipUnless(HAVE_TORCH, NO_TORCH)
class SaveAndLoad(unittest.TestCase):
    def test_save_studio_file_load(self) -> None:
        adapter = AdaLinkAdapter.create("tiny-pali-test", 32, {"image": 8, "text": 4}, seed=7)
        with torch.no_grad():
            for p in adapter.parameters():
                p.add_(torch.randn_like(p))
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "a.safetensors")
            adapter.save(path, steps=3, final_loss=0.125, extra={"name": "further trained"})
            self.assertEqual(os.listdir(tmp), ["a.safetensors"])
            file = read_adapter_file(path, base_model="tiny-pali-test", d_model=32)  # the studio's checks, pure Python
            self.assertEqual((file.steps, file.metadata["final_loss"], file.metadata["name"]), (3, "0.125", "further trained"))
            self.assertEqual(file.training_config, {"modalities": ["image", "text"], "rank": {"image": 8, "text": 4}})
            back = AdaLinkAdapter.from_file(path, base_model="tiny-pali-test")
            for m in ("image", "text"):
                for name in ("wdown", "wup"):
                    self.assertTrue(torch.equal(getattr(back.links[m], name), getattr(adapter.links[m], name)), (m, name))
            with self.assertRaises(BaseModelMismatchError):
                AdaLinkAdapter.from_file(path, base_model="pali-scenes-default")

    def test_the_committed_adapter_round_trips(self) -> None:
        adapter = AdaLinkAdapter.from_file(DEFAULT_ADAPTER)
        again = read_adapter_file(adapter.to_bytes())
        original = read_adapter_file(DEFAULT_ADAPTER)
        for m in ("image", "text"):
            self.assertEqual(again.weights[m].wdown.tobytes(), original.weights[m].wdown.tobytes())
            self.assertEqual(again.weights[m].wup.tobytes(), original.weights[m].wup.tobytes())
        for key in ("base_model", "d_model", "modalities", "rank.image", "rank.text", "steps", "final_loss"):
            self.assertEqual(again.metadata[key], original.metadata[key], key)
        self.assertEqual(again.training_config, original.training_config)
        self.assertEqual(read_adapter_file(adapter.only("text").to_bytes()).training_config["modalities"], ["text"])

    def test_from_tensors(self) -> None:
        a = AdaLinkAdapter.from_tensors("m", {"text.wdown": torch.ones(6, 2), "text.wup": torch.zeros(2, 6)})
        self.assertEqual((a.modalities, a.d_model), (("text",), 6))
        with self.assertRaisesRegex(AdapterUsageError, "not \\[d, r\\] and \\[r, d\\]"):
            AdaLinkAdapter.from_tensors("m", {"image": (torch.ones(6, 2), torch.zeros(6, 2))})
        with self.assertRaisesRegex(AdapterUsageError, "unknown entries"):
            AdaLinkAdapter.from_tensors("m", {"audio": (torch.ones(6, 2), torch.zeros(2, 6))})


if __name__ == "__main__":
    unittest.main()
