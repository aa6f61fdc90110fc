"""Greedy captions and CIDEr-D (x100) of a package on an imagefolder split, zero-shot and with adapter files,
from the model package alone, the way the engine computes them: vision.onnx features, the embedding table,
AdaLink forward (dropout off) with the adapter file, then encoder / decoder_init / decoder_step in onnxruntime
(CPU), greedy (lowest id on ties) up to max_target_tokens. Needs numpy, onnxruntime, safetensors, tokenizers,
pillow — no PyTorch.

    python3 tools/eval_captions.py --package public/models/pali-scenes-default \
        --dataset public/demo/relational-captions.zip --split validation \
        --adapter e2e/fixtures/pali-scenes-default-adapter.safetensors

The dataset is a folder or a .zip in imagefolder form (metadata.jsonl + images); references are the rows'
`text` (one per row; rows of the same file_name are grouped). --out writes the captions and scores as JSON.
"""
import argparse
import io
import json
import os
import sys
import zipfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tools/

from adalink.cider import cider_d  # noqa: E402
from adalink.tokenizer import bos_of, encode_ids  # noqa: E402


def read_dataset(path, split):
    """(rows, image loader) of a folder or a zip; rows filtered by `split` when given."""
    from PIL import Image
    if path.endswith(".zip"):
        z = zipfile.ZipFile(path)
        rows = [json.loads(line) for line in z.read("metadata.jsonl").decode().splitlines() if line.strip()]

        def load(name):
            return Image.open(io.BytesIO(z.read(name))).convert("RGB")
    else:
        with open(os.path.join(path, "metadata.jsonl")) as f:
            rows = [json.loads(line) for line in f if line.strip()]

        def load(name):
            return Image.open(os.path.join(path, name)).convert("RGB")
    if split:
        rows = [r for r in rows if r.get("split") == split]
    return rows, load


def adapter_weights(path):
    from safetensors.numpy import load_file
    t = load_file(path)
    return {m: (t[f"{m}.wdown"].astype(np.float32), t[f"{m}.wup"].astype(np.float32))
            for m in ("image", "text") if f"{m}.wdown" in t}


def adapt(E, w):
    if w is None:
        return E
    flat = E.reshape(-1, E.shape[-1])
    return (flat + (flat @ w[0]) @ w[1]).reshape(E.shape).astype(np.float32)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--package", required=True)
    p.add_argument("--dataset", required=True, help="imagefolder (folder or .zip)")
    p.add_argument("--split", default="validation", help="rows whose `split` equals this ('' for all rows)")
    p.add_argument("--adapter", action="append", default=[], help="adapter .safetensors (repeatable)")
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--out", default=None)
    args = p.parse_args()

    import onnxruntime as ort
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    from adalink.generation import OnnxGenerator
    with open(os.path.join(args.package, "manifest.json")) as f:
        man = json.load(f)
    t, im = man["text"], man["image"]
    tok = Tokenizer.from_file(os.path.join(args.package, man["tokenizer"]))
    table = load_file(os.path.join(args.package, man["files"]["text_embeddings"]["path"]))[
        man["files"]["text_embeddings"]["tensor"]]
    vision = ort.InferenceSession(os.path.join(args.package, man["files"]["vision"]["path"]),
                                  providers=["CPUExecutionProvider"])
    gen = OnnxGenerator(args.package)
    rows, load = read_dataset(args.dataset, args.split or None)
    files = list(dict.fromkeys(r["file_name"] for r in rows))
    refs = {i: [r["text"] for r in rows if r["file_name"] == f] for i, f in enumerate(files)}
    prompt_of = {r["file_name"]: r.get("prompt", t["default_prompt"]) for r in rows}
    mean, std = np.asarray(im["mean"], np.float32), np.asarray(im["std"], np.float32)

    def pixels(name):
        x = np.asarray(load(name), np.float32) / np.float32(255.0)
        return ((x - mean) / std).transpose(2, 0, 1)
    feats = np.concatenate([vision.run(None, {"pixel_values": np.stack([pixels(f) for f in files[b:b + args.batch]])})[0]
                            for b in range(0, len(files), args.batch)])
    prompts = [encode_ids(tok, prompt_of[f], t["eos_id"], t["max_prompt_tokens"], bos_of(t)) for f in files]

    def captions(weights):
        out = []
        for b in range(0, len(files), args.batch):
            ps = prompts[b:b + args.batch]
            Nt = max(map(len, ps))
            ids = np.array([q + [t["pad_id"]] * (Nt - len(q)) for q in ps])
            mask = np.array([[1] * len(q) + [0] * (Nt - len(q)) for q in ps], np.int64)
            E_img = adapt(feats[b:b + args.batch], weights.get("image") if weights else None)
            E_txt = adapt(table[ids], weights.get("text") if weights else None)
            for o in gen.greedy(E_img, E_txt, mask, t["max_target_tokens"], t["decoder_start_id"], t["eos_id"],
                                t["pad_id"]):
                out.append(tok.decode([i for i in o if i != t["eos_id"]], skip_special_tokens=True))
        return out

    report = {"package": man["id"], "dataset": os.path.basename(args.dataset), "split": args.split,
              "images": len(files), "results": []}
    for name, weights in [("zero-shot", None)] + [(a, adapter_weights(a)) for a in args.adapter]:
        caps = captions(weights)
        score, _ = cider_d(refs, dict(enumerate(caps)))
        exact = sum(c in refs[i] for i, c in enumerate(caps)) / len(caps)
        print(f"{os.path.basename(name)}: CIDEr-D {100 * score:.2f}  exact match {100 * exact:.1f}%  "
              f"({len(files)} images)  e.g. '{caps[0]}' (ref '{refs[0][0]}')")
        report["results"].append({"adapter": name, "cider_d": 100 * score, "exact": exact,
                                  "captions": dict(zip(files, caps))})
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
