"""Adapter parity, PyTorch side: on a machine with torch + transformers (+ tokenizers, pillow, safetensors — the
GPU machine), apply studio adapters through adalink_studio.hf to the default model and to the tiny Florence-2,
and write greedy captions and the adapted embeddings to one JSON, which a later session compares with the
engine's (adapted embeddings to 1e-5, identical captions).

    python3 tools/checkpoint_from_package.py        # rebuilds tools/checkpoints/pali-scenes-default/model.safetensors
    python3 python/parity/adapter_parity.py --out /tmp/adapter-parity.json [--images 4]

Per model: the adapter file used (the default model's: e2e/fixtures/pali-scenes-default-adapter.safetensors; the
tiny Florence-2's: written by this script from e2e/fixtures/reference-florence-adamw.json's final weights, next to
--out, for the engine to load), and per image its prompt ids, the adapted image and text embeddings (the encoder's
inputs, ENGINE.md §7), the greedy ids and caption with the adapter live and with it merged (the text table
folded; the default model's image side folded into vit.proj, Florence-2's kept live). It also checks them
against the committed greedy fixtures (reference-greedy-default.json, reference-greedy-florence.json), which
PyTorch and the ONNX graphs agreed on when they were made, and exits 1 on a difference.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))  # adalink_studio
sys.path.append(os.path.join(REPO, "tools"))  # tools/adalink: the models' PyTorch code and the image reader

import torch  # noqa: E402

from adalink_studio.adapter_file import ModalityWeights, write_adapter_file  # noqa: E402
from adalink_studio.hf import AdaptedModel, merge  # noqa: E402
from adalink_studio.torch_adapter import AdaLinkAdapter  # noqa: E402

FIXTURES = os.path.join(REPO, "e2e", "fixtures")


def read_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def florence_adapter_file(out_dir: str) -> str:
    """The Florence fixture's final weights as a studio adapter file (what the studio's import reads)."""
    from array import array
    fx = read_json(os.path.join(FIXTURES, "reference-florence-adamw.json"))
    rank = fx["config"]["rank"]
    weights = [ModalityWeights(m, rank[m], array("f", fx["final"][f"wdown_{m}"]), array("f", fx["final"][f"wup_{m}"]))
               for m in ("image", "text")]
    path = os.path.join(out_dir, "tiny-florence-test-adapter.safetensors")
    with open(path, "wb") as f:
        f.write(write_adapter_file(weights, "tiny-florence-test", 32, steps=len(fx["losses"]), final_loss=fx["losses"][-1]))
    return path


def examples(greedy_fixture: str, n: int, package: str) -> tuple[dict, list[dict], "torch.Tensor"]:
    """The fixture's first n examples and their pixels, read as the engine reads them (tools/adalink/dataset.py)."""
    from adalink.dataset import load_pixels
    fx = read_json(os.path.join(FIXTURES, greedy_fixture))
    manifest = read_json(os.path.join(REPO, "public", "models", package, "manifest.json"))
    image = manifest["image"]
    if fx["dataset"].startswith("relational-captions"):
        from adalink.default_model import unzip_demo
        folder = unzip_demo(os.path.join(REPO, "public", "demo", "relational-captions.zip"))
    else:
        folder = os.path.join(FIXTURES, fx["dataset"])
    rows = fx["examples"][:n]
    pixels = torch.stack([torch.tensor(load_pixels(folder, r, image["mean"], image["std"], image["size"],
                                                   image.get("resample", "bicubic"))) for r in rows])
    return fx, rows, pixels


def dataset_path(fx: dict) -> str:
    """Where the engine reads the same images (repo-relative): the demo zip, or the fixture folder."""
    if fx["dataset"].startswith("relational-captions"):
        return "public/demo/relational-captions.zip"
    return os.path.join("e2e", "fixtures", fx["dataset"])


def train_in_pytorch(model: object, adapter_path: str, package: str, pixels: "torch.Tensor", rows: list[dict],
                     out_dir: str, steps: int, lr: float) -> tuple[str, list[float]]:
    """The studio's adapter trained further in PyTorch (AdamW on the frozen model through AdaptedModel.forward), each
    image towards the frozen model's caption of the next image (so that the captions must move), and saved with
    adalink_studio in the studio's format for the engine to import."""
    adapter = AdaLinkAdapter.from_file(adapter_path, base_model=package)
    wrapped = AdaptedModel(model, adapter, base_model=package).eval()
    pad = max(len(r["prompt_ids"]) for r in rows)
    seq2seq_pad = read_json(os.path.join(REPO, "public", "models", package, "manifest.json"))["text"]["pad_id"]
    prompts = torch.tensor([r["prompt_ids"] + [seq2seq_pad] * (pad - len(r["prompt_ids"])) for r in rows])
    mask = torch.tensor([[1] * len(r["prompt_ids"]) + [0] * (pad - len(r["prompt_ids"])) for r in rows])
    targets = [rows[(i + 1) % len(rows)]["base"]["ids"] for i in range(len(rows))]
    width = max(map(len, targets))
    labels = torch.tensor([t + [-100] * (width - len(t)) for t in targets])
    optimizer = torch.optim.AdamW(adapter.parameters(), lr=lr, weight_decay=0.0)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = wrapped(pixels, prompts, mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    path = os.path.join(out_dir, f"{package}-trained-in-pytorch.safetensors")
    adapter.save(path, steps=steps, final_loss=losses[-1])
    return path, losses


def run_model(name: str, model: object, adapter_path: str, package: str, greedy_fixture: str, n: int,
              out_dir: str, steps: int, lr: float) -> dict:
    from tokenizers import Tokenizer
    manifest = read_json(os.path.join(REPO, "public", "models", package, "manifest.json"))
    tokenizer = Tokenizer.from_file(os.path.join(REPO, "public", "models", package, manifest["tokenizer"]))
    eos, max_new = manifest["text"]["eos_id"], None
    adapter = AdaLinkAdapter.from_file(adapter_path, base_model=package).eval()
    fx, rows, pixels = examples(greedy_fixture, n, package)
    max_new = int(fx["max_target_tokens"])
    live = AdaptedModel(model, adapter, base_model=package)
    mergeable = ("image", "text") if hasattr(model, "vit") else ("text",)
    merged_result = merge(model, adapter, base_model=package, modalities=mergeable)
    rest = adapter.only(*merged_result.live) if merged_result.live else None
    merged = AdaptedModel(merged_result.model, rest, base_model=package)

    def greedy(wrapped: AdaptedModel, i: int, ids: list[int]) -> list[int]:
        row = wrapped.generate(pixels[i:i + 1], torch.tensor([ids]), max_new_tokens=max_new)[0, 1:].tolist()
        return row[:row.index(eos) + 1] if eos in row else row

    def caption(ids: list[int]) -> str:
        return tokenizer.decode(ids[:-1] if ids and ids[-1] == eos else ids, skip_special_tokens=True)

    out, problems = [], []
    for i, row in enumerate(rows):
        ids = row["prompt_ids"]
        with torch.no_grad():
            inputs = live.adapted_inputs(pixels[i:i + 1], torch.tensor([ids]))
            merged_inputs = merged.adapted_inputs(pixels[i:i + 1], torch.tensor([ids]))
        live_ids, merged_ids = greedy(live, i, ids), greedy(merged, i, ids)
        embed_gap = float((inputs["inputs_embeds"] - merged_inputs["inputs_embeds"]).abs().max())
        if live_ids != row["adapted"]["ids"]:
            problems.append(f"{name} {row['file_name']}: live ids differ from {greedy_fixture}")
        if merged_ids != live_ids:
            problems.append(f"{name} {row['file_name']}: merged ids differ from live ids")
        # 1e-5 of the largest value: the default model's image tokens reach |x| ≈ 190, where one float32 ulp is 1.5e-5.
        scale = max(1.0, float(inputs["inputs_embeds"].abs().max()))
        if embed_gap > 1e-5 * scale:
            problems.append(f"{name} {row['file_name']}: merged embeddings {embed_gap:.2e} from live (max |x| {scale:.3g})")
        out.append({"file_name": row["file_name"], "prompt_ids": ids,
                    "adapted_image_embeds": inputs["image"][0].tolist(), "adapted_text_embeds": inputs["text"][0].tolist(),
                    "ids": live_ids, "caption": caption(live_ids), "merged_ids": merged_ids,
                    "merged_caption": caption(merged_ids), "merged_vs_live_max_abs": embed_gap,
                    "fixture_adapted_ids": row["adapted"]["ids"]})
        print(f"  {name} {row['file_name']}: {caption(live_ids)!r} (fixture: {row['adapted']['caption']!r}); "
              f"merged {'==' if merged_ids == live_ids else '!='} live, embeddings {embed_gap:.1e}", flush=True)

    # An adapter trained in PyTorch, saved in the studio's format: its captions, for the engine to reproduce.
    trained_path, losses = train_in_pytorch(model, adapter_path, package, pixels, rows, out_dir, steps, lr)
    trained = AdaptedModel(model, AdaLinkAdapter.from_file(trained_path, base_model=package).eval(), base_model=package)
    trained_out = []
    for i, row in enumerate(rows):
        ids = row["prompt_ids"]
        with torch.no_grad():
            inputs = trained.adapted_inputs(pixels[i:i + 1], torch.tensor([ids]))
        trained_ids = greedy(trained, i, ids)
        trained_out.append({"file_name": row["file_name"], "prompt_ids": ids,
                            "adapted_image_embeds": inputs["image"][0].tolist(), "adapted_text_embeds": inputs["text"][0].tolist(),
                            "ids": trained_ids, "caption": caption(trained_ids)})
    moved = sum(t["ids"] != o["ids"] for t, o in zip(trained_out, out))
    print(f"  {name}: trained in PyTorch {steps} steps, loss {losses[0]:.3f} → {losses[-1]:.3f}; "
          f"{moved}/{len(rows)} captions differ from the studio adapter's", flush=True)
    if moved == 0:
        problems.append(f"{name}: training in PyTorch changed no caption (the import check would prove nothing)")
    rel = lambda p: os.path.relpath(p, REPO) if p.startswith(REPO) else p  # noqa: E731
    return {"package": package, "dataset": dataset_path(fx), "adapter": rel(adapter_path),
            "merged": list(merged_result.merged), "live_after_merge": list(merged_result.live), "notes": merged_result.notes,
            "max_target_tokens": max_new, "examples": out, "problems": problems,
            "runs": [{"label": "studio adapter", "adapter": rel(adapter_path), "examples": out},
                     {"label": "trained in PyTorch", "adapter": rel(trained_path), "steps": steps, "losses": losses,
                      "examples": trained_out}]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="JSON to write (the Florence adapter file is written beside it)")
    p.add_argument("--images", type=int, default=4)
    p.add_argument("--train-steps", type=int, default=30, help="AdamW steps of the adapter trained in PyTorch")
    p.add_argument("--lr", type=float, default=1e-2)
    args = p.parse_args()
    torch.manual_seed(0)
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    from adalink.florence import load_florence
    from adalink.model import load_checkpoint
    report = {}
    checkpoint = os.path.join(REPO, "tools", "checkpoints", "pali-scenes-default")
    if os.path.exists(os.path.join(checkpoint, "model.safetensors")):
        report["pali-scenes-default"] = run_model(
            "default", load_checkpoint(checkpoint), os.path.join(FIXTURES, "pali-scenes-default-adapter.safetensors"),
            "pali-scenes-default", "reference-greedy-default.json", args.images, out_dir, args.train_steps, args.lr)
    else:
        report["pali-scenes-default"] = {"skipped": "no model.safetensors: run python3 tools/checkpoint_from_package.py"}
    florence = load_florence(os.path.join(REPO, "tools", "checkpoints", "tiny-florence-test")).bart
    report["tiny-florence-test"] = run_model("florence", florence, florence_adapter_file(out_dir), "tiny-florence-test",
                                             "reference-greedy-florence.json", args.images, out_dir, args.train_steps, args.lr)
    with open(args.out, "w") as f:
        json.dump(report, f)
    problems = [q for r in report.values() for q in r.get("problems", [])]
    print(f"wrote {args.out}; {len(problems)} problems" + "".join(f"\n  {q}" for q in problems))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
