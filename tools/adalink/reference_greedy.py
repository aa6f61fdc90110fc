"""The greedy-decoding reference fixture of docs/ENGINE.md §7: PyTorch greedy captions of every image of a
dataset, without and with an AdaLink adapter (the final weights of a training fixture).

Per example: prompt ids per ENGINE.md §2 (the example's `prompt`, else the package's default prompt); image
tokens from the PyTorch ViT; prompt embeddings from the embedding table; with the adapter, AdaLink forward
with dropout off on both (`E + (E Wdown) Wup`, float32); then greedy decoding with Hugging Face's BART
(full prefix every step, no cache), one example at a time (B = 1, so no prompt padding): start from
`decoder_start_id`, append the argmax of the last logits (lowest id on ties) until `eos_id` or
`max_target_tokens` generated ids. The caption is the ids before eos decoded without special tokens.

Cross-checks printed (and required): the same decoding through the package's three ONNX graphs in
onnxruntime (CPU), batched with padded prompts and the image tokens from vision.onnx, gives the same ids;
Hugging Face `generate` (cached) is reported too.

    python3 tools/reference_greedy.py --package public/models/tiny-pali-test \
        --checkpoint tools/checkpoints/tiny-pali-test --dataset e2e/fixtures/tiny-captions \
        --adapter e2e/fixtures/reference-adafactor.json --out e2e/fixtures/reference-greedy.json
"""
import argparse
import json
import os

import numpy as np
import torch

from .dataset import load_pixels, read_imagefolder
from .generation import OnnxGenerator, greedy_hf, greedy_torch
from .model import load_checkpoint
from .reference_train import write_fixture  # one writer for every fixture: one line per example
from .tokenizer import bos_of, encode_ids

MODALITIES = ("image", "text")


def load_adapter(fixture_path, d):
    """{modality: (Wdown d x r, Wup r x d)} float32 from a training fixture's `final` matrices, or from an
    adapter file (.safetensors with `<m>.wdown` [d, r] and `<m>.wup` [r, d], src/formats/adapterFile.ts)."""
    if fixture_path.endswith(".safetensors"):
        from safetensors.numpy import load_file
        t = load_file(fixture_path)
        adapter = {m: (torch.from_numpy(t[f"{m}.wdown"].astype(np.float32)),
                       torch.from_numpy(t[f"{m}.wup"].astype(np.float32))) for m in MODALITIES if f"{m}.wdown" in t}
        assert all(w.shape[0] == d for w, _ in adapter.values())
        return adapter, {m: int(w.shape[1]) for m, (w, _) in adapter.items()}, None
    with open(fixture_path) as f:
        fx = json.load(f)
    ranks = fx["config"]["rank"]
    adapter = {}
    for m in MODALITIES:
        r = ranks[m]
        wdown = np.array(fx["final"]["wdown_" + m], np.float32).reshape(d, r)
        wup = np.array(fx["final"]["wup_" + m], np.float32).reshape(r, d)
        adapter[m] = (torch.from_numpy(wdown), torch.from_numpy(wup))
    return adapter, ranks, fx


def adapt(E, weights):
    """AdaLink forward, dropout off (ENGINE.md §4): E + (E Wdown) Wup over the flattened tokens."""
    if weights is None:
        return E
    wdown, wup = weights
    flat = E.reshape(-1, E.shape[-1])
    return (flat + (flat @ wdown) @ wup).reshape(E.shape)


def reference_greedy(package, checkpoint, dataset, adapter_path, max_target_tokens=None, log=print, split=None,
                     limit=None):
    """split: only rows whose `split` column equals it; limit: only the first `limit` of those."""
    from tokenizers import Tokenizer
    torch.set_num_threads(max(1, min(8, os.cpu_count() or 1)))
    with open(os.path.join(package, "manifest.json")) as f:
        manifest = json.load(f)
    text_cfg, image_cfg, d = manifest["text"], manifest["image"], manifest["d_model"]
    max_new = max_target_tokens or text_cfg["max_target_tokens"]
    tokenizer = Tokenizer.from_file(os.path.join(package, manifest["tokenizer"]))
    model = load_checkpoint(checkpoint).cpu().float().eval()
    adapter, ranks, _ = load_adapter(adapter_path, d)
    rows = [r for r in read_imagefolder(dataset) if split is None or r.get("split") == split][:limit]
    prompts = [row.get("prompt", text_cfg["default_prompt"]) for row in rows]
    prompt_ids = [encode_ids(tokenizer, p, text_cfg["eos_id"], text_cfg["max_prompt_tokens"], bos_of(text_cfg))
                  for p in prompts]
    pixels = torch.tensor(np.stack([load_pixels(dataset, r, image_cfg["mean"], image_cfg["std"], image_cfg["size"],
                                   image_cfg.get("resample", "bicubic")) for r in rows]))
    with torch.no_grad():
        image_feats = model.image_embeds(pixels)
    args = (max_new, text_cfg["decoder_start_id"], text_cfg["eos_id"], text_cfg["pad_id"])

    def caption(ids):
        ids = ids[:-1] if ids and ids[-1] == text_cfg["eos_id"] else ids
        return tokenizer.decode(ids, skip_special_tokens=True)

    results = {}
    for variant, weights in (("base", None), ("adapted", adapter)):
        per_example = []
        with torch.no_grad():
            for i, ids in enumerate(prompt_ids):
                E_img = adapt(image_feats[i:i + 1], weights.get("image") if weights else None)
                E_txt = adapt(model.text_embeds(torch.tensor([ids])), weights.get("text") if weights else None)
                out, margins = greedy_torch(model, E_img, E_txt, torch.ones(1, len(ids), dtype=torch.long), *args)
                hf = greedy_hf(model, E_img, E_txt, torch.ones(1, len(ids), dtype=torch.long), *args)
                per_example.append({"ids": out[0], "caption": caption(out[0]), "min_margin": margins[0],
                                    "hf_generate_agrees": hf[0] == out[0]})
        results[variant] = per_example
        hf_same = sum(e["hf_generate_agrees"] for e in per_example)
        eos = sum(1 for e in per_example if e["ids"] and e["ids"][-1] == text_cfg["eos_id"])
        log(f"  {variant}: {len(per_example)} examples, {eos} end with eos, HF generate agrees on {hf_same}; "
            f"min top-2 margin {min(e['min_margin'] for e in per_example):.2e}; e.g. '{per_example[0]['caption']}'")

    # Cross-check: the package's ONNX graphs (vision.onnx features, batched, padded prompts) give the same ids.
    import onnxruntime as ort
    vision = ort.InferenceSession(os.path.join(package, manifest["files"]["vision"]["path"]),
                                  providers=["CPUExecutionProvider"])
    feats = vision.run(None, {"pixel_values": pixels.numpy()})[0]
    from safetensors.numpy import load_file
    table = load_file(os.path.join(package, manifest["files"]["text_embeddings"]["path"]))["embed_tokens"]
    Nt = max(map(len, prompt_ids))
    padded = np.array([p + [text_cfg["pad_id"]] * (Nt - len(p)) for p in prompt_ids])
    mask = np.array([[1] * len(p) + [0] * (Nt - len(p)) for p in prompt_ids], np.int64)
    gen = OnnxGenerator(package)
    agree = {}
    for variant, weights in (("base", None), ("adapted", adapter)):
        E_img = adapt(torch.from_numpy(feats), weights.get("image") if weights else None).numpy()
        E_txt = adapt(torch.from_numpy(table[padded]), weights.get("text") if weights else None).numpy()
        onnx_ids = gen.greedy(E_img, E_txt, mask, *args)
        agree[variant] = sum(a == e["ids"] for a, e in zip(onnx_ids, results[variant]))
        log(f"  {variant}: ONNX graphs (batched, vision.onnx features) == PyTorch on {agree[variant]}/{len(rows)}")

    fixture = {
        "package": manifest["id"],
        "dataset": os.path.basename(os.path.normpath(dataset)) + (f" ({split} split)" if split else ""),
        "adapter": {"source": os.path.basename(adapter_path),
                    "weights": "file" if adapter_path.endswith(".safetensors") else "final", "rank": ranks},
        "max_target_tokens": max_new,
        "decoder_start_id": text_cfg["decoder_start_id"],
        "eos_id": text_cfg["eos_id"],
        "examples": [
            {"file_name": row["file_name"], "prompt": prompt, "prompt_ids": ids,
             "base": {k: results["base"][i][k] for k in ("ids", "caption", "min_margin")},
             "adapted": {k: results["adapted"][i][k] for k in ("ids", "caption", "min_margin")}}
            for i, (row, prompt, ids) in enumerate(zip(rows, prompts, prompt_ids))],
    }
    return fixture, agree


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--package", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--adapter", required=True, help="a training fixture (its `final` matrices are the adapter)")
    p.add_argument("--out", required=True)
    p.add_argument("--max-target-tokens", type=int, default=None, help="default: the manifest's")
    p.add_argument("--split", default=None, help="only the rows whose `split` column equals this")
    p.add_argument("--limit", type=int, default=None, help="only the first N rows (of the split)")
    args = p.parse_args()
    fixture, agree = reference_greedy(args.package, args.checkpoint, args.dataset, args.adapter,
                                      args.max_target_tokens, split=args.split, limit=args.limit)
    n = len(fixture["examples"])
    if any(v != n for v in agree.values()):
        raise SystemExit(f"the ONNX graphs disagree with PyTorch: {agree}")
    write_fixture(fixture, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
