"""PyTorch eager on the same GPU, same package and same data as the engine's benchmark (bench/trainStep.ts): what
a user would write instead of the studio — AdaLink's four matrices as nn.Parameters, autograd through the frozen
model, torch.optim.Adafactor (lr 0.03, linear warm-up 100 then inverse-sqrt), gradient clipping at 1.0, dropout 0.1,
`loss.item()` every step as a training loop logs it.

    PYTHONUNBUFFERED=1 python3 tools/bench_train_step.py --batch 32 --out bench/results/train-step-pytorch.json

Figures (as the engine's): time to cache image features (the ViT over the train split), train-step time (median
of the steps after `--warmup`), examples/s, one epoch with cached features, one epoch that recomputes the ViT for
each batch (what a plain training loop does), peak GPU memory (torch.cuda.max_memory_allocated).
"""
import argparse
import json
import math
import os
import platform
import time

import numpy as np

from adalink.default_model import add_file_arguments, unzip_demo


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_file_arguments(p)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--out", default="bench/results/train-step-pytorch.json")
    args = p.parse_args()

    import torch
    import torch.nn.functional as F

    from adalink import random as R
    from adalink.model import load_checkpoint
    from adalink.reference_train import load_examples, make_batch
    from tokenizers import Tokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"  # the CPU only for a smoke test of this script
    demo = unzip_demo(args.demo_zip)
    with open(os.path.join(args.package, "manifest.json")) as f:
        manifest = json.load(f)
    tokenizer = Tokenizer.from_file(os.path.join(args.package, manifest["tokenizer"]))
    text_cfg, d = manifest["text"], manifest["d_model"]
    examples = load_examples(demo, tokenizer, text_cfg, manifest["image"], "train")
    model = load_checkpoint(args.checkpoint).to(device).eval()
    model.requires_grad_(False)
    pixels = torch.tensor(np.stack([e["pixels"] for e in examples]), device=device)
    embed_tokens = model.embed_tokens.detach()

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    # caching image features: the ViT once over the train split
    with torch.no_grad():
        model.image_embeds(pixels[:8])
        sync()
        t0 = time.perf_counter()
        features = torch.cat([model.image_embeds(pixels[i:i + 64]) for i in range(0, len(pixels), 64)])
        sync()
        cache_seconds = time.perf_counter() - t0

    rank = 64
    params = {}
    for m in ("image", "text"):
        params[f"{m}.wdown"] = torch.nn.Parameter(torch.tensor(R.init_wdown(0, m, d, rank), device=device))
        params[f"{m}.wup"] = torch.nn.Parameter(torch.zeros(rank, d, device=device))
    opt = torch.optim.Adafactor(params.values(), lr=0.03)
    warm = 100
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warm, math.sqrt(warm / (s + 1))))
    total = args.warmup + args.steps + 2 * math.ceil(len(examples) / args.batch)
    batches = R.all_batches(0, total, args.batch, len(examples))

    def adapt(E, m):
        H = F.dropout(E @ params[f"{m}.wdown"], 0.1, training=True)
        return E + H @ params[f"{m}.wup"]

    def step(indices, recompute_vit):
        if recompute_vit:
            with torch.no_grad():
                image = model.image_embeds(pixels[torch.tensor(indices, device=device)])
        E_img, E_txt, mask, dec, labels = make_batch(examples, indices, features, embed_tokens, text_cfg, device)
        if recompute_vit:
            E_img = image
        loss = model.loss_from_embeds(adapt(E_img, "image"), adapt(E_txt, "text"), mask, dec, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params.values(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    it = iter(batches)
    for _ in range(args.warmup):
        step(next(it), False)
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step(next(it), False)
        times.append(time.perf_counter() - t0)
    steps_per_epoch = math.ceil(len(examples) / args.batch)
    epochs = {}
    for recompute in (False, True):
        sync()
        t0 = time.perf_counter()
        for _ in range(steps_per_epoch):
            step(next(it), recompute)
        epochs["recomputes_vit" if recompute else "cached_features"] = time.perf_counter() - t0
    times.sort()
    median = times[len(times) // 2]
    result = {
        "command": "python3 tools/bench_train_step.py " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()),
        "gpu": torch.cuda.get_device_name() if device == "cuda" else "cpu", "torch": torch.__version__, "python": platform.python_version(),
        "cpus": os.cpu_count(), "model": manifest["id"], "examples": len(examples), "batchSize": args.batch,
        "cacheFeatures": {"images": len(examples), "seconds": cache_seconds, "imagesPerSecond": len(examples) / cache_seconds},
        "trainStep": {"warmup": args.warmup, "measured": args.steps, "medianMs": 1000 * median,
                      "p25Ms": 1000 * times[len(times) // 4], "p75Ms": 1000 * times[3 * len(times) // 4],
                      "meanMs": 1000 * sum(times) / len(times), "examplesPerSecond": args.batch / median},
        "epoch": {"steps": steps_per_epoch, "seconds": epochs["cached_features"],
                  "secondsRecomputingVit": epochs["recomputes_vit"]},
        "peakGpuBytes": torch.cuda.max_memory_allocated() if device == "cuda" else None,
    }
    print(json.dumps(result, indent=1))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
