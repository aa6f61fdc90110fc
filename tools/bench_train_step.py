"""PyTorch eager on the same GPU, same package and same data as the engine's benchmark (bench/trainStep.ts): what
a user would write instead of the studio — AdaLink's four matrices as nn.Parameters, autograd through the frozen
model, torch.optim.Adafactor (lr 0.03, linear warm-up 100 then inverse-sqrt), gradient clipping at 1.0, dropout 0.1,
`loss.item()` every step as a training loop logs it.

    PYTHONUNBUFFERED=1 python3 tools/bench_train_step.py --batch 32 --out bench/results/train-step-pytorch.json
    # Florence-2-base's size (the package of tools/make_florence_base_size.py, the same random weights):
    python3 tools/bench_train_step.py --florence-base-size --package /tmp/florence-2-base-size --batch 8 --examples 64
    # either, with the forward in bfloat16 (mixed precision, as many training loops run it):
    python3 tools/bench_train_step.py --bf16-autocast --batch 32 --out bench/results/train-step-pytorch-bf16.json

Figures (as the engine's): time to cache image features (the ViT over the train split), train-step time (median
of the steps after `--warmup`), examples/s, one epoch with cached features, one epoch that recomputes the ViT for
each batch (what a plain training loop does), peak GPU memory while training on cached features
(torch.cuda.max_memory_allocated; the pixels stay in host memory, as the engine's do).

The default model's checkpoint is rebuilt from its package by tools/checkpoint_from_package.py when it is missing
(it is not in git). Images are resized (bilinear) to the model's image size where they differ from it.
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
    p.add_argument("--examples", type=int, help="the first N examples of the train split only")
    p.add_argument("--florence-base-size", action="store_true",
                   help="the model of tools/make_florence_base_size.py (same seed), not --checkpoint")
    p.add_argument("--bf16-autocast", action="store_true",
                   help="the train step's forward under torch.autocast(bfloat16), as mixed-precision training loops run "
                        "it (AdaLink's matrices, their gradients and the optimizer stay float32; the cached features too)")
    p.add_argument("--out", default="bench/results/train-step-pytorch.json")
    args = p.parse_args()

    import torch
    import torch.nn.functional as F

    from adalink import random as R
    from adalink.reference_train import load_examples, make_batch
    from tokenizers import Tokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"  # the CPU only for a smoke test of this script
    demo = unzip_demo(args.demo_zip)
    with open(os.path.join(args.package, "manifest.json")) as f:
        manifest = json.load(f)
    tokenizer = Tokenizer.from_file(os.path.join(args.package, manifest["tokenizer"]))
    text_cfg, d = manifest["text"], manifest["d_model"]
    examples = load_examples(demo, tokenizer, text_cfg, manifest["image"], "train")[:args.examples]
    model = frozen_model(args).to(device).eval()
    model.requires_grad_(False)
    # Host memory, as the engine keeps its images; batches go to the GPU when the ViT runs.
    pixels = torch.tensor(np.stack([e["pixels"] for e in examples]))
    size = manifest["image"]["size"]
    embed_tokens = model.embed_tokens.detach()

    def vit(indices):
        x = pixels[indices].to(device)
        if x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return model.image_embeds(x)

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    # caching image features: the ViT once over the train split
    chunk = 64 if size <= 224 else 8
    with torch.no_grad():
        vit(torch.arange(min(chunk, len(pixels))))
        sync()
        t0 = time.perf_counter()
        features = torch.cat([vit(torch.arange(i, min(i + chunk, len(pixels)))) for i in range(0, len(pixels), chunk)])
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
                image = vit(torch.tensor(indices))
        E_img, E_txt, mask, dec, labels = make_batch(examples, indices, features, embed_tokens, text_cfg, device)
        if recompute_vit:
            E_img = image
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=args.bf16_autocast):
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
    times, losses = [], []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        losses.append(step(next(it), False))
        times.append(time.perf_counter() - t0)
    peak_bytes = torch.cuda.max_memory_allocated() if device == "cuda" else None
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
        "command": "python3 tools/bench_train_step.py " + " ".join(
            f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}") for k, v in vars(args).items() if v not in (None, False)),
        "gpu": torch.cuda.get_device_name() if device == "cuda" else "cpu", "torch": torch.__version__, "python": platform.python_version(),
        "cpus": os.cpu_count(), "model": manifest["id"], "examples": len(examples), "batchSize": args.batch,
        "precision": "bf16 autocast" if args.bf16_autocast else "fp32",
        "cacheFeatures": {"images": len(examples), "seconds": cache_seconds, "imagesPerSecond": len(examples) / cache_seconds},
        "trainStep": {"warmup": args.warmup, "measured": args.steps, "medianMs": 1000 * median,
                      "p25Ms": 1000 * times[len(times) // 4], "p75Ms": 1000 * times[3 * len(times) // 4],
                      "meanMs": 1000 * sum(times) / len(times), "examplesPerSecond": args.batch / median,
                      "losses": {"first": losses[0], "last": losses[-1], "mean": sum(losses) / len(losses)}},
        "epoch": {"steps": steps_per_epoch, "seconds": epochs["cached_features"],
                  "secondsRecomputingVit": epochs["recomputes_vit"]},
        "peakGpuBytes": peak_bytes,
    }
    print(json.dumps(result, indent=1))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


def frozen_model(args):
    """The frozen model in PyTorch: Florence-2-base's size as make_florence_base_size.py builds it, or a checkpoint
    (the default model's rebuilt from its package when missing)."""
    if args.florence_base_size:
        import make_florence_base_size as FB
        from adalink import florence as FL
        with open(os.path.join(args.package, "tokenizer.json")) as f:
            image_token_id = next(a["id"] for a in json.load(f)["added_tokens"] if a["content"] == "<image>")
        return FL.tiny_florence(FB.BASE_VOCAB, image_token_id, FB.SEED, FB.INIT_STD, FB.BASE_IMAGE_SIZE, FB.BASE_TEXT,
                                FB.BASE_VISION)
    from adalink.model import load_checkpoint
    if not os.path.exists(os.path.join(args.checkpoint, "model.safetensors")):
        import checkpoint_from_package
        checkpoint_from_package.write(args.package, args.checkpoint)
    return load_checkpoint(args.checkpoint)


if __name__ == "__main__":
    main()
