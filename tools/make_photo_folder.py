"""A folder of camera-sized JPEG photos for the image-cache benchmark (issue 12): an imagefolder (metadata.jsonl +
images) of `--count` JPEGs of `--width` x `--height` (default 1 000 of 4000x3000, about 2 GB), photo-like content
(smooth colour fields, shapes with hard edges, sensor-like noise), quality 90, 4:2:0; one in ten stored rotated with
an EXIF orientation tag (6), as phones write portrait shots. Deterministic for a seed (Pillow's encoder aside).

    python3 tools/make_photo_folder.py --out /tmp/photos [--count 1000] [--width 4000] [--height 3000] [--workers 16]

Then `npm run bench:images -- --data /tmp/photos` and `python3 tools/bench_image_cache.py --data /tmp/photos`.
"""
import argparse
import json
import os
from multiprocessing import Pool

import numpy as np
from PIL import Image, ImageDraw


def photo(index, width, height, seed):
    rng = np.random.default_rng([seed, index])
    # A smooth colour field: a small random image upscaled (Pillow's C code does the heavy part).
    field = Image.fromarray(rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)).resize((width, height), Image.BICUBIC)
    draw = ImageDraw.Draw(field)
    for _ in range(int(rng.integers(3, 9))):
        x0, y0 = int(rng.integers(0, width - 50)), int(rng.integers(0, height - 50))
        x1, y1 = x0 + int(rng.integers(50, width // 3)), y0 + int(rng.integers(50, height // 3))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    # Sensor-like noise from a 512x512 tile (cheap), so the JPEG holds fine detail as a photo does.
    tile = rng.normal(0.0, 4.0, size=(512, 512, 1)).astype(np.float32)
    noise = np.tile(tile, (height // 512 + 1, width // 512 + 1, 3))[:height, :width]
    pixels = np.clip(np.asarray(field, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


def write_one(job):
    index, out, width, height, seed = job
    image = photo(index, width, height, seed)
    name = f"photo-{index:04d}.jpg"
    if index % 10 == 9:
        # Stored rotated 90° clockwise with orientation 6: upright, it is the picture above.
        exif = Image.Exif()
        exif[0x0112] = 6
        image.transpose(Image.Transpose.ROTATE_270).save(os.path.join(out, name), quality=90, exif=exif.tobytes())
    else:
        image.save(os.path.join(out, name), quality=90)
    return {"file_name": name, "text": f"a photo number {index}"}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--width", type=int, default=4000)
    p.add_argument("--height", type=int, default=3000)
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--workers", type=int, default=os.cpu_count())
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    jobs = [(i, args.out, args.width, args.height, args.seed) for i in range(args.count)]
    with Pool(args.workers) as pool:
        rows = pool.map(write_one, jobs, chunksize=4)
    with open(os.path.join(args.out, "metadata.jsonl"), "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    size = sum(os.path.getsize(os.path.join(args.out, r["file_name"])) for r in rows)
    print(f"wrote {len(rows)} JPEGs of {args.width}x{args.height} ({size / 1e9:.2f} GB) to {args.out}")


if __name__ == "__main__":
    main()
