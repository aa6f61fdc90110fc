"""Replays a reference fixture the way the engine does, from the model package alone: image features from
vision.onnx, the embedding table from text_embeddings.safetensors, ids from tokenizer.json, dL/dE~ from
vjp.onnx (onnxruntime, CPU), and AdaLink + optimizers written again from docs/ENGINE.md §3-5 in numpy
float32. Prints how far it lands from the fixture (which PyTorch computed on the GPU): the order of
agreement the TypeScript engine can expect. Needs numpy, onnxruntime, safetensors, tokenizers, pillow.
    python3 tools/tests/replay_fixture.py e2e/fixtures/reference-adamw.json"""
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tools/

from adalink import random as R  # noqa: E402
from adalink.dataset import load_pixels, read_imagefolder  # noqa: E402

F = np.float32


def replay(fixture_path, package="public/models/tiny-pali-test", dataset="e2e/fixtures/tiny-captions"):
    import onnxruntime as ort
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer
    fx = json.load(open(fixture_path))
    cfg = fx["config"]
    man = json.load(open(os.path.join(package, "manifest.json")))
    text, d = man["text"], man["d_model"]
    tok = Tokenizer.from_file(os.path.join(package, man["tokenizer"]))
    table = load_file(os.path.join(package, man["files"]["text_embeddings"]["path"]))["embed_tokens"]
    rows = read_imagefolder(dataset)

    def ids(s, n):
        return tok.encode(s, add_special_tokens=False).ids[:n - 1] + [text["eos_id"]]
    prompts = [ids(r.get("prompt", text["default_prompt"]), text["max_prompt_tokens"]) for r in rows]
    targets = [ids(r["text"], text["max_target_tokens"]) for r in rows]
    assert [e["prompt_ids"] for e in fx["examples"]] == prompts and [e["target_ids"] for e in fx["examples"]] == targets
    vision = ort.InferenceSession(os.path.join(package, "vision.onnx"), providers=["CPUExecutionProvider"])
    pixels = np.stack([load_pixels(dataset, r, man["image"]["mean"], man["image"]["std"]) for r in rows])
    feats = vision.run(None, {"pixel_values": pixels})[0]
    vjp = ort.InferenceSession(os.path.join(package, "vjp.onnx"), providers=["CPUExecutionProvider"])

    ranks = cfg["rank"]
    P = {}
    for m in ("image", "text"):
        P["wdown_" + m] = R.init_wdown(cfg["seed"], m, d, ranks[m])
        assert np.array_equal(P["wdown_" + m].reshape(-1), np.array(fx["init"]["wdown_" + m], dtype=F))
        P["wup_" + m] = np.zeros((ranks[m], d), F)
    names = ["wdown_image", "wup_image", "wdown_text", "wup_text"]
    S = {n: ({"m": np.zeros_like(P[n]), "v": np.zeros_like(P[n])} if cfg["optimizer"] == "adamw" else
             {"row": np.zeros(P[n].shape[0], F), "col": np.zeros(P[n].shape[1], F)}) for n in names}
    batches = R.all_batches(cfg["seed"], cfg["steps"], cfg["batch_size"], len(rows))
    assert batches == fx["batches"]
    losses = []
    for s, idx in enumerate(batches):
        t = s + 1
        Nt, Nd = max(len(prompts[i]) for i in idx), max(len(targets[i]) for i in idx)
        pid = np.array([prompts[i] + [text["pad_id"]] * (Nt - len(prompts[i])) for i in idx])
        mask = np.array([[1] * len(prompts[i]) + [0] * (Nt - len(prompts[i])) for i in idx], np.int64)
        dec = np.array([[text["decoder_start_id"]] + targets[i][:-1] + [text["pad_id"]] * (Nd - len(targets[i]))
                        for i in idx], np.int64)
        lab = np.array([targets[i] + [-100] * (Nd - len(targets[i])) for i in idx], np.int64)
        E = {"image": feats[idx].reshape(-1, d), "text": table[pid].reshape(-1, d)}
        valid = {"image": np.ones(len(E["image"]), F), "text": mask.reshape(-1).astype(F)}
        H = {m: E[m] @ P["wdown_" + m] for m in E}  # dropout 0
        At = {m: E[m] + H[m] @ P["wup_" + m] for m in E}
        # The manifest's input types (GPU-input form: float32 mask, int32 ids and labels), else int64.
        types = man["files"]["vjp"].get("input_types", {})
        loss, gi, gt = vjp.run(None, {"image_embeds": At["image"].reshape(len(idx), -1, d),
                                      "text_embeds": At["text"].reshape(len(idx), Nt, d),
                                      "text_mask": mask.astype(types.get("text_mask", "int64")),
                                      "decoder_input_ids": dec.astype(types.get("decoder_input_ids", "int64")),
                                      "labels": lab.astype(types.get("labels", "int64"))})
        losses.append(float(loss))
        G = {"image": gi.reshape(-1, d), "text": gt.reshape(-1, d)}
        g = {}
        for m in E:
            Gv = G[m] * valid[m][:, None]
            g["wup_" + m] = H[m].T @ Gv
            g["wdown_" + m] = E[m].T @ (Gv @ P["wup_" + m].T)
        norm = np.sqrt(sum(np.sum(g[n] * g[n], dtype=F) for n in names), dtype=F)
        if cfg["clip"] > 0:
            scale = min(F(1), F(cfg["clip"]) / (norm + F(1e-6)))
            g = {n: v * scale for n, v in g.items()}
        W = cfg["warmup"]
        lr = F(cfg["lr"] * (min(t / W, math.sqrt(W / t)) if W >= 1 else 1 / math.sqrt(t)))
        wd = F(cfg["weight_decay"])
        for n in names:
            p, st = P[n], S[n]
            if cfg["optimizer"] == "adamw":
                b1, b2, eps = F(cfg.get("beta1", 0.9)), F(cfg.get("beta2", 0.999)), F(cfg.get("eps", 1e-8))
                p = p - lr * wd * p
                st["m"] = b1 * st["m"] + (F(1) - b1) * g[n]
                st["v"] = b2 * st["v"] + (F(1) - b2) * g[n] * g[n]
                bc1, bc2 = F(1 - cfg.get("beta1", 0.9) ** t), F(1 - cfg.get("beta2", 0.999) ** t)
                p = p - lr * (st["m"] / bc1) / (np.sqrt(st["v"] / bc2) + eps)
            else:
                b = F(1 - t ** -0.8)
                g2 = g[n] * g[n] + F(1e-30)
                st["row"] = b * st["row"] + (F(1) - b) * g2.mean(axis=1, dtype=F)
                st["col"] = b * st["col"] + (F(1) - b) * g2.mean(axis=0, dtype=F)
                u = g[n] / np.sqrt((st["row"] / st["row"].mean(dtype=F))[:, None] * st["col"][None, :])
                u = u / max(F(1), np.sqrt(np.mean(u * u, dtype=F)))
                p = p - lr * u - lr * wd * p
            P[n] = p.astype(F)
    dl = np.abs(np.array(losses) - np.array(fx["losses"])).max()
    print(f"{os.path.basename(fixture_path)}: loss {losses[0]:.6f} -> {losses[-1]:.6f}; max |loss - fixture| {dl:.2e}")
    worst = 0.0
    for n in names:
        ref = np.array(fx["final"][n], F)
        err = np.abs(P[n].reshape(-1) - ref).max() / np.abs(ref).max()
        worst = max(worst, err)
        print(f"  final {n}: max |x - fixture| / max |fixture| = {err:.2e}")
    assert dl < 1e-4 and worst < 1e-4, "the replay does not reproduce the fixture"
    print("  ok")


if __name__ == "__main__":
    for path in sys.argv[1:] or ["e2e/fixtures/reference-adamw.json", "e2e/fixtures/reference-adafactor.json"]:
        replay(path)
