"""A tiny procedural image-caption dataset, deterministic from a seed.

Each example is a small RGB image (default 32x32) of one or two coloured shapes (circle, square, triangle)
on a plain pale background with a little noise, and a caption such as "a red circle on the left" or
"a blue square on the top and a green triangle on the bottom". Written as a Hugging Face imagefolder:
PNG files plus `metadata.jsonl` lines {"file_name": "0000.png", "text": "...", "prompt": "caption en"}; about
one example in four has the longer prompt "caption en describe the shapes", so batches pad prompts.
"""
import json
import os

import numpy as np
from PIL import Image, ImageDraw, ImageOps

COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 70, 220),
    "yellow": (235, 200, 30),
    "purple": (140, 50, 180),
    "black": (20, 20, 20),
}
SHAPES = ("circle", "square", "triangle")
POSITIONS = ("left", "right", "top", "bottom")
PAIRS = (("left", "right"), ("right", "left"), ("top", "bottom"), ("bottom", "top"))  # never overlapping
PROMPT = "caption en"  # the package's default prompt
OTHER_PROMPT = "caption en describe the shapes"  # a longer prompt on about one example in four (prompt padding)


def centre(position, size):
    """Centre (x, y) of a shape at `position` in a size x size image."""
    q, h = size / 4, size / 2
    return {"left": (q, h), "right": (3 * q, h), "top": (h, q), "bottom": (h, 3 * q)}[position]


def draw_shape(draw, shape, colour, position, size, rng):
    cx, cy = centre(position, size)
    cx += rng.uniform(-1.5, 1.5)
    cy += rng.uniform(-1.5, 1.5)
    r = size * rng.uniform(0.14, 0.2)  # "radius" in pixels
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif shape == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=colour)
    else:
        draw.polygon([(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)], fill=colour)


def make_example(rng, size):
    """One (image, caption, prompt) drawn from `rng` (a numpy Generator)."""
    background = tuple(int(v) for v in rng.integers(200, 250, size=3))
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    n_shapes = 1 if rng.random() < 0.5 else 2
    positions = [POSITIONS[rng.integers(4)]] if n_shapes == 1 else list(PAIRS[rng.integers(len(PAIRS))])
    phrases = []
    for position in positions:
        colour = list(COLOURS)[rng.integers(len(COLOURS))]
        shape = SHAPES[rng.integers(len(SHAPES))]
        draw_shape(draw, shape, COLOURS[colour], position, size, rng)
        phrases.append(f"a {colour} {shape} on the {position}")
    pixels = np.asarray(image, dtype=np.float32) + rng.normal(0.0, 6.0, size=(size, size, 3))
    image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB")
    prompt = OTHER_PROMPT if rng.random() < 0.25 else PROMPT
    return image, " and ".join(phrases), prompt


def generate(seed, n, size=32):
    """The first n examples of the dataset of `seed`: a list of (PIL image, caption, prompt)."""
    rng = np.random.default_rng(seed)
    return [make_example(rng, size) for _ in range(n)]


def all_caption_texts():
    """The tokenizer's training text: every one-shape caption, a sample of two-shape ones, the prompts."""
    single = [f"a {c} {s} on the {p}" for c in COLOURS for s in SHAPES for p in POSITIONS]
    by_position = {p: [t for t in single if t.endswith(p)] for p in POSITIONS}
    double = [f"{a} and {b}" for p, q in PAIRS for a in by_position[p][:6] for b in by_position[q][-6:]]
    return single + double + [PROMPT, OTHER_PROMPT]


def write_imagefolder(folder, seed, n, size=32):
    """Writes n examples as NNNN.png + metadata.jsonl; returns the metadata rows."""
    os.makedirs(folder, exist_ok=True)
    rows = []
    for i, (image, caption, prompt) in enumerate(generate(seed, n, size)):
        name = f"{i:04d}.png"
        image.save(os.path.join(folder, name), format="PNG", optimize=False)
        rows.append({"file_name": name, "text": caption, "prompt": prompt})
    with open(os.path.join(folder, "metadata.jsonl"), "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return rows


def read_imagefolder(folder):
    """metadata.jsonl rows in file order (the example index is the line number)."""
    with open(os.path.join(folder, "metadata.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


RESAMPLE = {"box": Image.BOX, "bilinear": Image.BILINEAR, "hamming": Image.HAMMING, "bicubic": Image.BICUBIC,
            "lanczos": Image.LANCZOS}


def load_pixels(folder, row, mean, std, size=None, resample="bicubic"):
    """pixel_values [3, S, S] float32 = (byte/255 - mean[c]) / std[c], RGB (ENGINE.md §1), as the engine reads an
    image (docs/IMAGES.md): transformers' load_image (EXIF orientation, convert("RGB")), then the processor's
    resize to size x size with Pillow's filter `resample` (the manifest's image.resample)."""
    image = ImageOps.exif_transpose(Image.open(os.path.join(folder, row["file_name"]))).convert("RGB")
    if size is not None and image.size != (size, size):
        image = image.resize((size, size), RESAMPLE[resample], reducing_gap=None)
    x = np.asarray(image, dtype=np.float32) / np.float32(255.0)
    x = (x - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))
