"""PyTorch + PIL caching image features from camera photos, on the same machine and photos as the engine's
`npm run bench:images` (bench/imageCache.ts; issue 12): what a Hugging Face user's code does per image —
transformers' `load_image` (PIL decode, `ImageOps.exif_transpose`, `convert("RGB")`), the processor's resize to
S x S with the manifest's Pillow filter (`reducing_gap=None`), rescale and normalise in numpy — then the frozen ViT
on the GPU in batches of 8 (fp32, no grad). Two ways: all in the main process (as the processors are called in
a loop), and with a torch DataLoader of `--workers` processes doing the PIL part in parallel.

    PYTHONUNBUFFERED=1 python3 tools/bench_image_cache.py --data /tmp/photos [--limit N] [--workers 16]
        [--package public/models/pali-scenes-default] [--out bench/results/image-cache-pytorch.json]
"""
import argparse
import json
import os
import platform
import sys
import time

import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from adalink.dataset import RESAMPLE  # noqa: E402
from adalink.default_model import add_file_arguments  # noqa: E402

BATCH = 8


class Photos:
    """pixel_values of each photo as the processor makes them (float32 CHW)."""

    def __init__(self, folder, names, image_cfg):
        self.folder, self.names = folder, names
        self.size, self.filter = image_cfg["size"], RESAMPLE[image_cfg.get("resample", "bicubic")]
        self.mean = np.asarray(image_cfg["mean"], dtype=np.float32)
        self.std = np.asarray(image_cfg["std"], dtype=np.float32)

    def __len__(self):
        return len(self.names)

    def __getitem__(self, i):
        image = ImageOps.exif_transpose(Image.open(os.path.join(self.folder, self.names[i]))).convert("RGB")
        image = image.resize((self.size, self.size), self.filter, reducing_gap=None)
        x = np.asarray(image, dtype=np.float32) / np.float32(255.0)
        return np.ascontiguousarray(((x - self.mean) / self.std).transpose(2, 0, 1))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_file_arguments(p)
    p.add_argument("--data", required=True)
    p.add_argument("--limit", type=int)
    p.add_argument("--workers", type=int, default=os.cpu_count())
    p.add_argument("--out", default="bench/results/image-cache-pytorch.json")
    args = p.parse_args()
    args.florence_base_size = False

    import torch
    from bench_train_step import frozen_model

    with open(os.path.join(args.package, "manifest.json")) as f:
        manifest = json.load(f)
    with open(os.path.join(args.data, "metadata.jsonl")) as f:
        names = [json.loads(line)["file_name"] for line in f if line.strip()][:args.limit]
    photos = Photos(args.data, names, manifest["image"])
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = frozen_model(args).to(device).eval()
    command = "python3 tools/bench_image_cache.py " + " ".join(sys.argv[1:])
    cpu = f"{platform.processor() or platform.machine()} x {os.cpu_count()}"
    gpu = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    print(f"command: {command}\nCPU: {cpu}\nGPU: {gpu}\ntorch {torch.__version__}, Pillow {Image.__version__}")

    one = {"decode": [], "resize": []}
    for name in names[:20]:
        t = time.perf_counter()
        image = ImageOps.exif_transpose(Image.open(os.path.join(args.data, name))).convert("RGB")
        t1 = time.perf_counter()
        image.resize((photos.size, photos.size), photos.filter, reducing_gap=None)
        t2 = time.perf_counter()
        one["decode"].append((t1 - t) * 1e3)
        one["resize"].append((t2 - t1) * 1e3)
    one = {k: float(np.median(v)) for k, v in one.items()}
    print(f"one image, one thread: decode {one['decode']:.1f} ms, resize {one['resize']:.1f} ms")

    def run(loader):
        features = []
        with torch.no_grad():
            for x in loader:
                features.append(model.image_embeds(torch.as_tensor(x).to(device)).float())
        if device == "cuda":
            torch.cuda.synchronize()
        return sum(len(f) for f in features)

    results = {}
    with torch.no_grad():  # warm-up: CUDA context, kernels
        model.image_embeds(torch.as_tensor(np.stack([photos[0]] * BATCH)).to(device))
    for workers in (0, args.workers):
        loader = torch.utils.data.DataLoader(photos, batch_size=BATCH, num_workers=workers)
        t = time.perf_counter()
        n = run(loader)
        seconds = time.perf_counter() - t
        key = "mainProcess" if workers == 0 else f"dataLoader{workers}"
        results[key] = {"workers": workers, "images": n, "seconds": seconds, "imagesPerSecond": n / seconds}
        print(f"{key}: {n} images in {seconds:.1f} s: {n / seconds:.1f} images/s")
    out = {"command": command, "cpu": cpu, "gpu": gpu, "model": manifest["id"], "imageSize": photos.size,
           "resample": manifest["image"].get("resample", "bicubic"), "oneThread": one, **results}
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
