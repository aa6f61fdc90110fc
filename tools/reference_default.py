"""The PyTorch reference trainer (adalink/reference_train.py, docs/ENGINE.md §2-5) on the default model and the
demo dataset, with the engine's default hyper-parameters, for several seeds: the numbers that
`npm run report:default` (src/cli/report.ts) sets the engine's against.

Each run trains on the demo's train split and scores greedy captions of its validation split with CIDEr-D
(adalink/cider.py, x100). A run can be repeated on another device (`--repeat-on cpu`): same seed, same
batches, same dropout masks, only the floating-point rounding differs; how far that run's CIDEr-D lands
from the GPU's is the reference's own reproducibility, the yardstick for the engine's.

    PYTHONUNBUFFERED=1 python3 tools/reference_default.py --seeds 0,1,2,3,4 --repeat-on cpu \
        --out tools/logs/reference_default.json

(on the GPU machine: about 70 s a seed on an H100, the CPU repeat several minutes)
"""
import argparse
import json
import os
import time

import numpy as np

from adalink.default_model import add_file_arguments, unzip_demo


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_file_arguments(p)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--repeat-on", default="", help="another device for the first seed's run (e.g. cpu)")
    p.add_argument("--out", default="tools/logs/reference_default.json")
    args = p.parse_args()

    import torch

    from adalink.cider import cider_d
    from adalink.dataset import read_imagefolder
    from adalink.model import load_checkpoint
    from adalink.reference_train import TrainConfig, train
    from pretrain_default import caption_rows
    from tokenizers import Tokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.set_flush_denormal(True)
    demo = unzip_demo(args.demo_zip)
    with open(os.path.join(args.package, "manifest.json")) as f:
        manifest = json.load(f)
    tokenizer = Tokenizer.from_file(os.path.join(args.package, manifest["tokenizer"]))
    d = manifest["d_model"]
    val = [r for r in read_imagefolder(demo) if r["split"] == "validation"]
    refs = {i: [r["text"]] for i, r in enumerate(val)}
    models = {}

    def model_on(dev):
        if dev not in models:
            models[dev] = load_checkpoint(args.checkpoint).to(dev)
        return models[dev]

    def score(dev, adapter):
        captions = caption_rows(model_on(dev), tokenizer, manifest, demo, val, adapter, dev)
        return 100 * cider_d(refs, dict(enumerate(captions)))[0], captions

    gpu_name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    zero, zero_captions = score(device, None)
    print(f"{gpu_name}, torch {torch.__version__}: zero-shot CIDEr-D {zero:.2f} on {len(val)} validation images")
    results = {"device": gpu_name, "torch": torch.__version__, "steps": args.steps,
               "validation_images": len(val), "zero_shot": {"cider_d": zero, "captions": zero_captions}, "runs": []}
    seeds = [int(s) for s in args.seeds.split(",") if s]
    plan = [(seed, device) for seed in seeds] + ([(seeds[0], args.repeat_on)] if args.repeat_on else [])
    for seed, dev in plan:
        cfg = TrainConfig(optimizer="adafactor", lr=0.03, warmup=100, schedule="inverse_sqrt", weight_decay=0.0,
                          clip=1.0, batch_size=16, steps=args.steps, seed=seed, rank_image=64, rank_text=64, dropout=0.1)
        t0 = time.time()
        fixture = train(cfg, args.package, args.checkpoint, demo, dev, check_autograd=False, log=lambda _: None,
                        split="train", model=model_on(dev))
        seconds = time.time() - t0
        adapter = {m: (torch.tensor(fixture["final"]["wdown_" + m], device=dev).reshape(d, -1),
                       torch.tensor(fixture["final"]["wup_" + m], device=dev).reshape(-1, d))
                   for m in ("image", "text")}
        adapted, captions = score(dev, adapter)
        losses = fixture["losses"]
        print(f"seed {seed} on {dev}: {args.steps} steps in {seconds:.0f} s, loss {np.mean(losses[:10]):.4f} -> "
              f"{np.mean(losses[-10:]):.4f} (mean of 10), CIDEr-D {adapted:.2f}", flush=True)
        results["runs"].append({"seed": seed, "device": gpu_name if dev == device else dev, "seconds": seconds,
                                "losses": losses, "cider_d": adapted, "captions": captions})
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    on_gpu = [r["cider_d"] for r in results["runs"] if r["device"] == gpu_name]
    print(f"CIDEr-D over seeds {seeds}: mean {np.mean(on_gpu):.2f}, std {np.std(on_gpu):.2f} -> {args.out}")


if __name__ == "__main__":
    main()
