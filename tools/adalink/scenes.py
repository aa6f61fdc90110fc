"""Procedural scenes for the default model: images of 1-4 objects and text tasks chosen by a prompt.

A scene is a 64x64 RGB image (drawn at 2x and box-downsampled, so edges are anti-aliased) on a background
(plain pale or dark colour, a two-colour gradient, or low-frequency blotches) with per-pixel Gaussian noise.
Its objects sit in distinct cells of a 3x3 grid (jittered), each with

    shape    circle, square, triangle, diamond, star
    colour   red, orange, yellow, green, blue, purple, pink, brown
    size     small, large
    texture  solid, striped (stripes of a pale tint, random orientation), dotted (a grid of pale dots)

and no two objects share colour and shape. Tasks (prompt -> answer), for pretraining:

    caption en                                  -> "a red circle, a blue square and a green star"
    how many circles?                           -> "two"            (none, one, ..., four)
    how many objects? / how many red objects?   -> "three"
    what colour is the circle?                  -> "red"            (asked when the shape is unique)
    what shape is the red object?               -> "circle"         (asked when the colour is unique)
    where is the red circle?                    -> "top left"       (top/left/center/right/bottom grid cells)
    describe the red circle                     -> "a small striped red circle"
    what pattern is the red circle?             -> "striped"        (solid, striped, dotted)
    what size is the red circle?                -> "small"
    where is the red circle relative to the blue square?   -> "left of"   (left of, right of, above, below)

The short caption lists the objects in reading order (rows top to bottom, then left to right) by colour and
shape only. The demo set (`relational_example`) has what pretraining never produced: a detailed relational
caption under the default prompt, for scenes of exactly two objects in a clear horizontal or vertical
relation, always naming the left (or top) object first:

    caption en -> "a small striped red circle left of a large blue square"
                  "a large dotted green star above a small yellow triangle"

Everything is deterministic from a numpy Generator; numpy + PIL only.
"""
import io
import json
import math
import os
import zipfile

import numpy as np
from PIL import Image, ImageDraw

SIZE = 64
SCALE = 2  # drawn at SIZE*SCALE, then box-downsampled
SHAPES = ("circle", "square", "triangle", "diamond", "star")
PLURALS = {s: s + "s" for s in SHAPES}
COLOURS = {
    "red": (215, 35, 35), "orange": (240, 130, 20), "yellow": (235, 210, 30), "green": (40, 160, 60),
    "blue": (40, 80, 220), "purple": (130, 50, 180), "pink": (240, 110, 180), "brown": (120, 70, 30),
}
SIZES = ("small", "large")
TEXTURES = ("solid", "striped", "dotted")
REGIONS = (("top left", "top", "top right"), ("left", "center", "right"), ("bottom left", "bottom", "bottom right"))
COUNTS = ("none", "one", "two", "three", "four")
PROMPT = "caption en"  # the default prompt: the short caption, and in the demo set the relational one


# ---- drawing ------------------------------------------------------------------------------------

def shape_polygon(shape, cx, cy, r):
    if shape == "square":
        r *= 0.88
        return [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    if shape == "triangle":
        return [(cx, cy - r), (cx + r * 0.95, cy + r * 0.8), (cx - r * 0.95, cy + r * 0.8)]
    if shape == "diamond":
        return [(cx, cy - r), (cx + r * 0.8, cy), (cx, cy + r), (cx - r * 0.8, cy)]
    if shape == "star":
        pts = []
        for k in range(10):
            a = -math.pi / 2 + k * math.pi / 5
            rr = r if k % 2 == 0 else r * 0.45
            pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
        return pts
    raise ValueError(shape)


def texture_layer(texture, colour, shape, rng, dark_background):
    """An h x w RGB array (`shape`) of the object's colour, striped or dotted with a pale tint of it (on a
    dark background) or a dark shade of it (on a pale one), so the silhouette stays visible."""
    h, w = shape
    base = np.empty((h, w, 3), np.float32)
    base[:] = colour
    if texture == "solid":
        return base
    colour = np.asarray(colour, np.float32)
    tint = 0.45 * colour + 0.55 * 255.0 if dark_background else 0.4 * colour
    yy, xx = np.mgrid[0:h, 0:w]
    if texture == "striped":
        period = 4 * SCALE
        orient = rng.integers(3)
        coord = (yy, xx, xx + yy)[orient] + rng.integers(period)
        on = (coord % period) < period // 2
    else:  # dotted
        period = 5 * SCALE
        oy, ox = rng.integers(period, size=2)
        dy = (yy + oy) % period - period / 2
        dx = (xx + ox) % period - period / 2
        on = dy * dy + dx * dx <= (0.24 * period) ** 2
    base[on] = tint
    return base


def background(rng, n):
    kind = rng.choice(["plain", "plain", "gradient", "blotches"])
    dark = rng.random() < 0.25
    lo, hi = (15, 70) if dark else (170, 245)

    def colour():
        return rng.integers(lo, hi, size=3).astype(np.float32)
    if kind == "plain":
        img = np.empty((n, n, 3), np.float32)
        img[:] = colour()
    elif kind == "gradient":
        a, b = colour(), colour()
        t = np.linspace(0, 1, n, dtype=np.float32)
        t = t[:, None] if rng.random() < 0.5 else t[None, :]
        img = np.broadcast_to(a + (b - a) * t[..., None], (n, n, 3)).copy()
    else:
        a, b = colour(), colour()
        small = rng.random((4, 4)).astype(np.float32)
        t = np.asarray(Image.fromarray((small * 255).astype(np.uint8)).resize((n, n), Image.BILINEAR),
                       np.float32) / 255.0
        img = a + (b - a) * t[..., None]
    return img


def paint_objects(img, scene, f, rng, texture):
    """Draws each object of `scene` on the square canvas `img` (f canvas pixels per 64-px unit): its shape as a
    mask, its colour jittered, `texture(o, colour, box, (x0, y0, x1, y1), dark_background)` inside the mask.
    The random draws come in the same order for every canvas size (the demo's bytes depend on it)."""
    n = img.shape[0]
    for o in scene:
        cx, cy, r = o["cx"] * f, o["cy"] * f, o["r"] * f
        x0, y0 = max(0, int(cx - r) - 2), max(0, int(cy - r) - 2)
        x1, y1 = min(n, int(cx + r) + 3), min(n, int(cy + r) + 3)
        mask = Image.new("L", (x1 - x0, y1 - y0), 0)
        draw = ImageDraw.Draw(mask)
        lx, ly = cx - x0, cy - y0
        if o["shape"] == "circle":
            draw.ellipse([lx - r, ly - r, lx + r, ly + r], fill=255)
        else:
            draw.polygon(shape_polygon(o["shape"], lx, ly, r), fill=255)
        m = np.asarray(mask, np.float32)[..., None] / 255.0
        jitter = rng.integers(-15, 16, size=3)
        colour = np.clip(np.asarray(COLOURS[o["colour"]]) + jitter, 0, 255)
        box = img[y0:y1, x0:x1]
        layer = texture(o, colour, box, (x0, y0, x1, y1), box.mean() < 128)
        img[y0:y1, x0:x1] = box * (1 - m) + layer * m


def render(scene, rng, noise):
    """RGB uint8 [SIZE, SIZE, 3] of a scene (list of object dicts)."""
    img = background(rng, SIZE * SCALE)
    paint_objects(img, scene, SCALE, rng,
                  lambda o, colour, box, _, dark: texture_layer(o["texture"], colour, box.shape[:2], rng, dark_background=dark))
    small = img.reshape(SIZE, SCALE, SIZE, SCALE, 3).mean(axis=(1, 3))
    if noise > 0:
        small = small + rng.normal(0.0, noise, size=small.shape)
    return np.clip(np.rint(small), 0, 255).astype(np.uint8)


# ---- scenes ------------------------------------------------------------------------------------

def make_object(rng, cell, used):
    while True:
        colour = list(COLOURS)[rng.integers(len(COLOURS))]
        shape = SHAPES[rng.integers(len(SHAPES))]
        if (colour, shape) not in used:
            break
    used.add((colour, shape))
    row, col = divmod(int(cell), 3)
    size = SIZES[rng.integers(2)]
    r = rng.uniform(5.5, 7.0) if size == "small" else rng.uniform(9.0, 10.5)
    c = SIZE / 3
    cx = (col + 0.5) * c + rng.uniform(-1.5, 1.5)
    cy = (row + 0.5) * c + rng.uniform(-1.5, 1.5)
    texture = TEXTURES[rng.integers(3)]
    return {"shape": shape, "colour": colour, "size": size, "texture": texture, "row": row, "col": col,
            "cx": float(cx), "cy": float(cy), "r": float(r)}


def random_scene(rng, n_objects=None):
    n = int(rng.integers(1, 5)) if n_objects is None else n_objects
    cells = rng.choice(9, size=n, replace=False)
    used = set()
    return [make_object(rng, c, used) for c in cells]


def reading_order(scene):
    return sorted(scene, key=lambda o: (o["row"], o["col"]))


def article(word):
    return "an" if word[0] in "aeiou" else "a"


def short(o):
    return f"{article(o['colour'])} {o['colour']} {o['shape']}"


def detailed(o):
    texture = "" if o["texture"] == "solid" else o["texture"] + " "
    return f"a {o['size']} {texture}{o['colour']} {o['shape']}"


def name(o):
    return f"{o['colour']} {o['shape']}"


def listing(phrases):
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]


def relation(a, b):
    """Where a is relative to b on the grid, or None when the dominant axis is ambiguous."""
    dr, dc = a["row"] - b["row"], a["col"] - b["col"]
    if abs(dc) > abs(dr):
        return "left of" if dc < 0 else "right of"
    if abs(dr) > abs(dc):
        return "above" if dr < 0 else "below"
    return None


def tasks(scene, rng, k):
    """k distinct (prompt, answer) pairs for a scene; the first is always the short caption."""
    out = [(PROMPT, listing([short(o) for o in reading_order(scene)]))]
    shapes = [o["shape"] for o in scene]
    colours = [o["colour"] for o in scene]
    candidates = []
    s = SHAPES[rng.integers(len(SHAPES))]
    candidates.append((f"how many {PLURALS[s]}?", COUNTS[shapes.count(s)]))
    candidates.append(("how many objects?", COUNTS[len(scene)]))
    c = list(COLOURS)[rng.integers(len(COLOURS))]
    candidates.append((f"how many {c} objects?", COUNTS[colours.count(c)]))
    o = scene[rng.integers(len(scene))]
    if shapes.count(o["shape"]) == 1:
        candidates.append((f"what colour is the {o['shape']}?", o["colour"]))
    if colours.count(o["colour"]) == 1:
        candidates.append((f"what shape is the {o['colour']} object?", o["shape"]))
    candidates.append((f"where is the {name(o)}?", REGIONS[o["row"]][o["col"]]))
    candidates.append((f"describe the {name(o)}", detailed(o)))
    candidates.append((f"what pattern is the {name(o)}?", o["texture"]))
    candidates.append((f"what size is the {name(o)}?", o["size"]))
    if len(scene) >= 2:
        i, j = rng.choice(len(scene), size=2, replace=False)
        rel = relation(scene[i], scene[j])
        if rel is not None:
            candidates.append((f"where is the {name(scene[i])} relative to the {name(scene[j])}?", rel))
    order = rng.permutation(len(candidates))
    out += [candidates[i] for i in order[:k - 1]]
    return out


def pretraining_example(rng, k=4):
    """(image uint8 [64,64,3], [(prompt, answer)] * k) of a random scene (noise sigma in [0, 8])."""
    scene = random_scene(rng)
    image = render(scene, rng, noise=float(rng.uniform(0.0, 8.0)))
    return image, tasks(scene, rng, k)


def relational_scene(rng):
    """Two objects in a clear relation; returns (scene, caption) with the left / top object named first."""
    while True:
        scene = random_scene(rng, 2)
        a, b = scene
        rel = relation(a, b)
        if rel is None:
            continue
        if rel in ("right of", "below"):
            a, b = b, a
            rel = {"right of": "left of", "below": "above"}[rel]
        return scene, f"{detailed(a)} {rel} {detailed(b)}"


def relational_example(rng, noise_max=2.0):
    scene, caption = relational_scene(rng)
    return render(scene, rng, noise=float(rng.uniform(0.0, noise_max))), caption


# ---- batches (multiprocessing) ------------------------------------------------------------------

def _pretraining_chunk(args):
    seed, n, k = args
    rng = np.random.default_rng(seed)
    images = np.empty((n, SIZE, SIZE, 3), np.uint8)
    texts = []
    for i in range(n):
        images[i], t = pretraining_example(rng, k)
        texts.append(t)
    return images, texts


def pretraining_set(seed, n, k=4, processes=None, chunk=2000):
    """n scenes x k tasks: (images uint8 [n,64,64,3], texts: list of n lists of (prompt, answer)).
    Chunk c uses the seed sequence (seed, c): the result does not depend on the number of processes."""
    from multiprocessing import Pool
    jobs = [(np.random.SeedSequence([seed, c]), min(chunk, n - c * chunk), k)
            for c in range((n + chunk - 1) // chunk)]
    processes = processes or os.cpu_count() or 1
    if processes > 1 and len(jobs) > 1:
        with Pool(processes) as pool:
            parts = pool.map(_pretraining_chunk, jobs)
    else:
        parts = [_pretraining_chunk(j) for j in jobs]
    return np.concatenate([p[0] for p in parts]), [t for p in parts for t in p[1]]


def corpus(seed=0, n=20000):
    """Text for the tokenizer: prompts and answers of n pretraining scenes, n demo captions, and every word."""
    rng = np.random.default_rng(seed)
    texts = []
    for _ in range(n):
        scene = random_scene(rng)
        for p, a in tasks(scene, rng, 12):
            texts += [p, a]
        texts.append(relational_scene(rng)[1])
    words = list(SHAPES) + list(PLURALS.values()) + list(COLOURS) + list(SIZES) + list(TEXTURES) + list(COUNTS)
    words += [w for row in REGIONS for w in row] + ["left of", "right of", "above", "below"]
    return texts + words


# ---- the demo dataset ---------------------------------------------------------------------------

def write_demo(folder, seed, n_train, n_validation, zip_path=None):
    """Hugging Face imagefolder: NNNN.png + metadata.jsonl rows {"file_name", "text", "split"} with split
    "train" or "validation" (no prompt column: the default prompt). Optionally also a .zip of the folder."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    rows = []
    for i in range(n_train + n_validation):
        image, caption = relational_example(rng)
        file_name = f"{i:04d}.png"
        Image.fromarray(image, "RGB").save(os.path.join(folder, file_name), format="PNG", optimize=True)
        rows.append({"file_name": file_name, "text": caption, "split": "train" if i < n_train else "validation"})
    with open(os.path.join(folder, "metadata.jsonl"), "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    if zip_path:
        with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for name_ in ["metadata.jsonl"] + [r["file_name"] for r in rows]:
                z.write(os.path.join(folder, name_), name_)
    return rows


def png_bytes(image):
    buf = io.BytesIO()
    Image.fromarray(image, "RGB").save(buf, format="PNG", optimize=True)
    return buf.getvalue()



# ---- the demo dataset as camera-like JPEG photos --------------------------------------------------

# Upright photo sizes (width, height) and the weight of each; the scene fills the whole frame (a 4:3 frame
# stretches it), so resizing the photo to 64x64, as the engine does, gives back the square scene and every
# relation in the caption stays true. Each is drawn at PHOTO_SUPERSAMPLE x the square side that covers it.
PHOTO_SIZES = (((256, 256), 4), ((320, 240), 3), ((240, 320), 2), ((384, 288), 2), ((288, 384), 1),
               ((320, 320), 1), ((512, 384), 1))
PHOTO_SUPERSAMPLE = 2
PHOTO_QUALITY = 88          # baseline JPEGs, 4:2:0
PHOTO_PROGRESSIVE_QUALITY = 85
PHOTO_ORIENTATIONS = (6, 8, 3)  # EXIF Orientation values used (rotate 90 CW / 90 CCW / 180 to display)


def render_photo(scene, rng, width, height, noise):
    """RGB uint8 [height, width, 3] of a scene, the same picture as `render` would make from the same rng
    state but drawn at a higher resolution: the same background, colour jitter, stripe / dot phases and
    tints, with stripes and dots at the same size relative to the scene (so in the same place), and
    per-pixel sensor noise (sigma `noise`) at the photo's resolution. The square scene is drawn at
    PHOTO_SUPERSAMPLE x the side k*64 that covers (width, height), box-downsampled, then resized
    (Lanczos, antialiased) to width x height when that is not k*64 square."""
    k = -(-max(width, height) // SIZE)  # 64-px units -> photo pixels (before any non-square resize)
    f = k * PHOTO_SUPERSAMPLE          # 64-px units -> canvas pixels
    n = SIZE * f
    unit = f / SCALE                   # canvas pixels per pixel of render()'s 2x canvas
    img = background(rng, n)
    paint_objects(img, scene, f, rng,
                  lambda o, colour, box, bounds, dark: _photo_texture(o, colour, bounds, unit, rng, dark_background=dark))
    s = PHOTO_SUPERSAMPLE
    img = img.reshape(SIZE * k, s, SIZE * k, s, 3).mean(axis=(1, 3))
    if (width, height) != (SIZE * k, SIZE * k):
        im = Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8), "RGB")
        img = np.asarray(im.resize((width, height), Image.LANCZOS), np.float32)
    if noise > 0:
        img = img + rng.normal(0.0, noise, size=img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _photo_texture(o, colour, box, unit, rng, dark_background):
    """`texture_layer` for the box (x0, y0, x1, y1) of a canvas with `unit` pixels per pixel of render()'s
    2x canvas: the same random draws, the pattern evaluated at each pixel centre in 2x-canvas coordinates."""
    x0, y0, x1, y1 = box
    h, w = y1 - y0, x1 - x0
    base = np.empty((h, w, 3), np.float32)
    base[:] = colour
    if o["texture"] == "solid":
        return base
    colour = np.asarray(colour, np.float32)
    tint = 0.45 * colour + 0.55 * 255.0 if dark_background else 0.4 * colour
    # render() counts pattern coordinates from its own box corner, int(c - r) - 2 in 2x pixels
    bx = max(0, int(o["cx"] * SCALE - o["r"] * SCALE) - 2)
    by = max(0, int(o["cy"] * SCALE - o["r"] * SCALE) - 2)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    yy = (yy + 0.5) / unit - 0.5 - by
    xx = (xx + 0.5) / unit - 0.5 - bx
    if o["texture"] == "striped":
        period = 4 * SCALE
        orient = rng.integers(3)
        coord = (yy, xx, xx + yy)[orient] + rng.integers(period)
        on = ((coord + 0.5) % period) < period // 2
    else:  # dotted
        period = 5 * SCALE
        oy, ox = rng.integers(period, size=2)
        dy = (yy + oy) % period - period / 2
        dx = (xx + ox) % period - period / 2
        on = dy * dy + dx * dx <= (0.24 * period) ** 2
    base[on] = tint
    return base


def photo_plan(rng, n):
    """Per image: (width, height) upright, EXIF orientation (1 = none) and progressive or not. Fixed counts,
    shuffled: n // 13 baseline with an orientation tag (6, 8 and 3 in turn), int(n / 6.5) progressive."""
    sizes, weights = zip(*PHOTO_SIZES)
    p = np.asarray(weights, np.float64) / sum(weights)
    size = [sizes[i] for i in rng.choice(len(sizes), size=n, p=p)]
    n_exif, n_progressive = n // 13, int(n / 6.5)
    kind = ["exif"] * n_exif + ["progressive"] * n_progressive + ["baseline"] * (n - n_exif - n_progressive)
    kind = [kind[i] for i in rng.permutation(n)]
    plan, e = [], 0
    for i in range(n):
        orientation = 1
        if kind[i] == "exif":
            orientation, e = PHOTO_ORIENTATIONS[e % len(PHOTO_ORIENTATIONS)], e + 1
        plan.append({"size": size[i], "orientation": orientation, "progressive": kind[i] == "progressive"})
    return plan


# Stored pixels for each EXIF orientation: the upright image transposed by the inverse of what a viewer
# (PIL.ImageOps.exif_transpose) applies to display it.
_STORE_FOR_ORIENTATION = {1: None, 3: Image.ROTATE_180, 6: Image.ROTATE_90, 8: Image.ROTATE_270}


def jpeg_bytes(image, orientation=1, progressive=False):
    """JPEG of an upright RGB uint8 image: baseline (quality PHOTO_QUALITY) or progressive
    (PHOTO_PROGRESSIVE_QUALITY), 4:2:0; with orientation != 1 the pixels are stored rotated and an EXIF
    Orientation tag says how to turn them upright."""
    im = Image.fromarray(image, "RGB")
    kwargs = {"quality": PHOTO_PROGRESSIVE_QUALITY if progressive else PHOTO_QUALITY, "subsampling": 2}
    if progressive:
        kwargs["progressive"] = True
    if orientation != 1:
        im = im.transpose(_STORE_FOR_ORIENTATION[orientation])
        exif = Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif.tobytes()
    buf = io.BytesIO()
    im.save(buf, format="JPEG", **kwargs)
    return buf.getvalue()


def photo_example(rng, width, height, noise_max=3.0):
    """(photo uint8 [height, width, 3] upright, 64-px render uint8 [64, 64, 3] without noise, caption) of a
    relational scene; the render is what `render` makes of the same scene from the same rng state."""
    scene, caption = relational_scene(rng)
    noise = float(rng.uniform(0.0, noise_max))
    state = rng.bit_generator.state
    reference = render(scene, _rng_at(state), noise=0.0)
    rng.bit_generator.state = state
    return render_photo(scene, rng, width, height, noise), reference, caption


def _rng_at(state):
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    return rng


def write_photos(folder, seed, n_train, n_validation, zip_path=None):
    """Like `write_demo`, as JPEG photos NNNN.jpg (see `photo_plan`, `render_photo`, `jpeg_bytes`); the zip
    has fixed timestamps (JPEGs stored, metadata.jsonl deflated), so it is byte-identical on regeneration
    with the same Pillow / libjpeg. Returns the rows, each also with the plan (not written)."""
    rng = np.random.default_rng(seed)
    n = n_train + n_validation
    plan = photo_plan(rng, n)
    os.makedirs(folder, exist_ok=True)
    rows, files = [], {}
    for i in range(n):
        (w, h), orientation, progressive = plan[i]["size"], plan[i]["orientation"], plan[i]["progressive"]
        photo, _, caption = photo_example(rng, w, h)
        file_name = f"{i:04d}.jpg"
        files[file_name] = jpeg_bytes(photo, orientation, progressive)
        with open(os.path.join(folder, file_name), "wb") as f:
            f.write(files[file_name])
        rows.append({"file_name": file_name, "text": caption, "split": "train" if i < n_train else "validation"})
    metadata = "".join(json.dumps(row) + "\n" for row in rows).encode()
    with open(os.path.join(folder, "metadata.jsonl"), "wb") as f:
        f.write(metadata)
    if zip_path:
        with zipfile.ZipFile(zip_path, "w") as z:
            for name_, data in [("metadata.jsonl", metadata)] + list(files.items()):
                info = zipfile.ZipInfo(name_, date_time=(2024, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED if name_.endswith(".jsonl") else zipfile.ZIP_STORED
                z.writestr(info, data)
    return [dict(row, **plan[i]) for i, row in enumerate(rows)]


def main_photos():
    """Writes the photo demo dataset (JPEG; deterministic: same seed and Pillow, same bytes).

        cd tools && /usr/bin/python3 -m adalink.scenes --photos --zip ../public/demo/relational-photos.zip
    """
    import argparse
    p = argparse.ArgumentParser(description=main_photos.__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--photos", action="store_true", required=True)
    p.add_argument("--folder", default="/tmp/relational-photos", help="the imagefolder to write")
    p.add_argument("--zip", default=None, help="also write this .zip of the folder")
    p.add_argument("--seed", type=int, default=2025)
    p.add_argument("--train", type=int, default=200)
    p.add_argument("--validation", type=int, default=60)
    args = p.parse_args()
    rows = write_photos(args.folder, args.seed, args.train, args.validation, args.zip)
    tagged = sum(r["orientation"] != 1 for r in rows)
    progressive = sum(r["progressive"] for r in rows)
    print(f"{len(rows)} rows -> {args.folder}" + (f", {args.zip} ({os.path.getsize(args.zip)} bytes)" if args.zip else "")
          + f"; {tagged} with an EXIF orientation, {progressive} progressive")

def main():
    """Writes the demo dataset (deterministic: the same seed gives the same PNG bytes) and a preview grid.

        cd tools && python3 -m adalink.scenes --zip ../public/demo/relational-captions.zip

    With --photos: the JPEG photo version instead (see main_photos; --photos --help for its options).
    """
    import sys
    if "--photos" in sys.argv[1:]:
        return main_photos()
    import argparse
    p = argparse.ArgumentParser(description=main.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--folder", default="/tmp/relational-captions", help="the imagefolder to write")
    p.add_argument("--zip", default=None, help="also write this .zip of the folder")
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--train", type=int, default=250)
    p.add_argument("--validation", type=int, default=100)
    p.add_argument("--preview", default=None, help="PNG grid of 32 pretraining scenes (seed --seed)")
    args = p.parse_args()
    rows = write_demo(args.folder, args.seed, args.train, args.validation, args.zip)
    print(f"{len(rows)} rows -> {args.folder}" + (f", {args.zip} ({os.path.getsize(args.zip)} bytes)" if args.zip else ""))
    if args.preview:
        rng = np.random.default_rng(args.seed)
        ims = [pretraining_example(rng)[0] for _ in range(32)]
        grid = np.concatenate([np.concatenate(ims[r * 8:(r + 1) * 8], 1) for r in range(4)], 0)
        Image.fromarray(grid).save(args.preview)


if __name__ == "__main__":
    main()
