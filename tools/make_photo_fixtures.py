#!/usr/bin/python3
"""Test images "as users bring them", and what Hugging Face's image pipeline gives for each.

Writes ``src/data/testing/photos/`` (deterministic: fixed seeds, no timestamps), from the repository root:

    /usr/bin/python3 tools/make_photo_fixtures.py

(Debian's Python: Pillow 9.4.0 with libjpeg-turbo 2.1.5 and libwebp 1.2.4, numpy; plus ``avifenc``/``avifdec``
0.11.1 from libavif-bin, ImageMagick 6.9.11 ``/usr/bin/convert`` and ``cwebp`` 1.2.4 on PATH. Other versions of
these tools may write other bytes; the expectations are always recomputed from the files actually written.)

What it writes:

* about 45 small image files in many formats and modes (JPEG baseline / 4:4:4 / progressive / grey / CMYK / YCCK /
  EXIF orientations 1..8 / large, WebP lossy and lossless-with-alpha, AVIF, GIF animated and transparent, BMP 24 / 8
  / 32 bit, PNG RGBA / palette+tRNS / 16-bit RGB / 16-bit grey / grey+alpha / 1x1 / RGB) and three bad files, all
  from one procedural "photo-like" picture (smooth gradients, hard-edged shapes, fine texture, gaussian noise,
  and a bright framed mark in the top-left quadrant, so a wrong EXIF rotation or flip shows);
* ``metadata.jsonl``: an imagefolder metadata file with a UTF-8 BOM and CRLF line ends, one row per file (good and
  bad), the lossy WebP in ``sub/``;
* ``expected/``: per file, transformers' ``load_image`` result (``PIL.ImageOps.exif_transpose`` then
  ``.convert("RGB")``) as ``<file>.decoded.png`` (skipped above 400x400 pixels), and the slow (PIL) image
  processors' resize of it, ``img.resize((S, S), resample=F, reducing_gap=None)``, as ``<file>.<S>-<filter>.png``
  for (64, bilinear) and (32, bicubic) for every file, (768, bicubic) for three files; ``expected/index.json``
  describes every source file;
* ``README.md``.

The output folder is deleted and rewritten (only when it is empty or was written by this script).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import warnings
import zlib
from pathlib import Path

import numpy as np
import PIL
from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / 'src' / 'data' / 'testing' / 'photos'
COMMAND = '/usr/bin/python3 tools/make_photo_fixtures.py'
SEED = 20240611
DECODED_MAX_PIXELS = 400 * 400
FLORENCE_FILES = ('jpeg-large-1600x1200.jpg', 'jpeg-exif-orientation-6-120x80.jpg', 'png-rgba-120x90.png')
RESIZES = [(64, 'bilinear'), (32, 'bicubic')]
FLORENCE_RESIZE = (768, 'bicubic')
FILTERS = {'bilinear': Image.BILINEAR, 'bicubic': Image.BICUBIC}
ORIENTATION = 0x0112
# exif_transpose's method per orientation, and the transpose that undoes it (what the camera stored).
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
STORED = {**UPRIGHT, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}
# Where the bright mark sits in the upright picture (fractions of width and height): the top-left quadrant, off the
# diagonal, so every one of the eight orientations moves it somewhere else.
NOISE = 2.0  # sigma of the gaussian noise at the bottom of the picture (8-bit levels)
NOISE_SKY = 0.3  # the noise's sigma at the top, as a fraction of NOISE
MARK = (0.10, 0.24, 0.14, 0.40)  # u0, u1, v0, v1


# ----------------------------------------------------------------------------------------------------------------
# The picture


def scene_float(w: int, h: int, seed: int, noise: float = NOISE) -> np.ndarray:
    """A photo-like RGB picture as float32 (h, w, 3) in 0..255 (not yet rounded); the same layout at every size."""
    rng = np.random.default_rng(seed)
    x = (np.arange(w, dtype=np.float64) + 0.5)[None, :]
    y = (np.arange(h, dtype=np.float64) + 0.5)[:, None]
    u = np.broadcast_to(x / w, (h, w))
    v = np.broadcast_to(y / h, (h, w))
    img = np.empty((h, w, 3))
    # Smooth background: a "sky" to "ground" gradient with a slow wave.
    wave = np.sin(2 * np.pi * (0.7 * u + 1.3 * v))
    img[..., 0] = 45 + 150 * u + 18 * wave
    img[..., 1] = 85 + 100 * (1 - v) + 35 * u * v
    img[..., 2] = 150 + 80 * (1 - v) - 95 * u + 12 * wave
    # Hard-edged shapes with some shading inside.
    disc = ((u - 0.68) / 0.17) ** 2 + ((v - 0.64) / 0.25) ** 2 < 1
    shade = 0.75 + 0.35 * (1 - v)
    img[disc] = np.stack([200 * shade, 45 * shade, 35 * shade], -1)[disc]
    a = np.deg2rad(25)
    du, dv = u - 0.33, (v - 0.70) * h / w
    ru, rv = du * np.cos(a) + dv * np.sin(a), -du * np.sin(a) + dv * np.cos(a)
    rect = (np.abs(ru) < 0.16) & (np.abs(rv) < 0.055)
    hatch = np.where(((np.floor(x) + np.floor(y)) // 2) % 2 == 0, 22.0, -22.0)  # 2-pixel diagonal hatching
    blue = np.stack([35 + hatch, 70 + hatch, 160 + hatch], -1)
    img[rect] = blue[rect]

    def left(p, q):  # points left of the edge p→q
        return (q[0] - p[0]) * (v - p[1]) - (q[1] - p[1]) * (u - p[0]) > 0
    tri_pts = [(0.55, 0.08), (0.92, 0.14), (0.76, 0.42)]
    tri = left(tri_pts[0], tri_pts[1]) & left(tri_pts[1], tri_pts[2]) & left(tri_pts[2], tri_pts[0])
    img[tri] = np.stack([235 - 30 * u, 200 - 20 * v, 45 + 0 * u], -1)[tri]
    # Fine texture: a grating of period 2.5 pixels in a band near the bottom (what resampling filters disagree on).
    band = (v > 0.86) & (v < 0.95) & (u > 0.04) & (u < 0.58)
    grating = 45 * np.sin(2 * np.pi * np.broadcast_to(x, (h, w)) / 2.5)
    img[band] += grating[band][:, None]
    # The distinctive bright mark: a white patch in a black frame, top-left quadrant.
    u0, u1, v0, v1 = MARK
    fu, fv = 0.25 * (u1 - u0), 0.25 * (v1 - v0)
    frame = (u > u0 - fu) & (u < u1 + fu) & (v > v0 - fv) & (v < v1 + fv)
    img[frame] = 15
    img[(u > u0) & (u < u1) & (v > v0) & (v < v1)] = 250
    # Mild gaussian noise, weaker in the "sky" (top) than on the "ground" (bottom), as in many photos.
    sigma = noise * (NOISE_SKY + (1 - NOISE_SKY) * np.clip((v - 0.3) / 0.4, 0, 1))
    img += rng.normal(0.0, 1.0, img.shape) * sigma[..., None]
    return img.astype(np.float32)


def to_u8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def scene(w: int, h: int, seed: int, noise: float = NOISE) -> Image.Image:
    return Image.fromarray(to_u8(scene_float(w, h, seed, noise)), 'RGB')


def alpha_plane(w: int, h: int) -> np.ndarray:
    """Alpha for the RGBA files: a left-to-right gradient 0..255, fully transparent in a left strip and a hole."""
    x = (np.arange(w) + 0.5)[None, :] / w
    y = (np.arange(h) + 0.5)[:, None] / h
    alpha = np.broadcast_to(np.clip((x - 0.15) / 0.8, 0, 1) * 255, (h, w)).copy()
    hole = ((x - 0.70) / 0.12) ** 2 + ((y - 0.30) / 0.16) ** 2 < 1
    alpha[hole] = 0
    alpha[:, : max(1, w // 8)] = 0
    return np.rint(alpha).astype(np.uint8)


def rgba(w: int, h: int, seed: int) -> Image.Image:
    """The picture with the alpha plane; the colour under alpha 0 is the picture itself (not black)."""
    rgb = to_u8(scene_float(w, h, seed))
    return Image.fromarray(np.dstack([rgb, alpha_plane(w, h)]), 'RGBA')


def quantized(img: Image.Image, colors: int) -> Image.Image:
    """A P image: median cut, no dithering (deterministic)."""
    return img.quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)


# ----------------------------------------------------------------------------------------------------------------
# Writers


def save_pil(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png_bytes(arr: np.ndarray, color_type: int, bit_depth: int) -> bytes:
    """A PNG written by hand (Pillow cannot write 16-bit RGB): filter 0 on every row, zlib level 9."""
    h, w = arr.shape[:2]
    dtype = '>u2' if bit_depth == 16 else 'u1'
    rows = arr.reshape(h, -1).astype(dtype)
    raw = b''.join(b'\x00' + row.tobytes() for row in rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack('>IIBBBBB', w, h, bit_depth, color_type, 0, 0, 0)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b'')


def run_tool(args: list[str]) -> None:
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f'{" ".join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}')


def convert_binary() -> str:
    # ImageMagick 6's convert itself when it is there (some systems put a wrapper first on PATH).
    return '/usr/bin/convert' if Path('/usr/bin/convert').exists() else 'convert'


def jpeg_adobe_transform(data: bytes) -> int | None:
    """The transform flag of the JPEG's Adobe APP14 segment (0 = CMYK/RGB, 1 = YCbCr, 2 = YCCK), or None."""
    i = 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], 'big')
        seg = data[i + 4:i + 2 + length]
        if marker == 0xEE and seg.startswith(b'Adobe'):
            return seg[11]
        if marker == 0xDA:
            break
        i += 2 + length
    return None


def jpeg_sampling(data: bytes) -> list[str]:
    """The SOF segment's sampling factors per component, e.g. ['2x2', '1x1', '1x1']."""
    i = 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], 'big')
        if marker in (0xC0, 0xC1, 0xC2):
            n = data[i + 9]
            comps = data[i + 10:i + 10 + 3 * n]
            return [f'{comps[3 * k + 1] >> 4}x{comps[3 * k + 1] & 15}' for k in range(n)]
        i += 2 + length
    return []


class Fixtures:
    def __init__(self, out: Path, tmp: Path):
        self.out, self.tmp = out, tmp
        self.entries: list[dict] = []  # in metadata order

    def add(self, name: str, data: bytes, caption: str, what: str, **extra) -> None:
        path = self.out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.entries.append({'file': name, 'caption': caption, 'what': what, **extra})

    def tmp_png(self, img: Image.Image, name: str) -> Path:
        path = self.tmp / name
        img.save(path, 'PNG')
        return path


# ----------------------------------------------------------------------------------------------------------------
# The files


def make_files(fx: Fixtures) -> None:
    s = SEED
    # --- JPEG ----------------------------------------------------------------------------------------------
    fx.add('jpeg-baseline-640x480.jpg', save_pil(scene(640, 480, s + 1), 'JPEG', quality=85, subsampling=2),
           'a photo of a red disc, a blue bar and a yellow triangle',
           'baseline JPEG, 4:2:0, quality 85 (Pillow/libjpeg-turbo)')
    fx.add('jpeg-baseline-97x61.jpg', save_pil(scene(97, 61, s + 2), 'JPEG', quality=85, subsampling=2),
           'a small odd-sized photo', 'baseline JPEG, 4:2:0, quality 85, odd size (partial MCUs)')
    fx.add('jpeg-444-200x150.jpg', save_pil(scene(200, 150, s + 3), 'JPEG', quality=90, subsampling=0),
           'a photo without chroma subsampling', 'baseline JPEG, 4:4:4 (no chroma subsampling), quality 90')
    fx.add('jpeg-progressive-320x240.jpg',
           save_pil(scene(320, 240, s + 4), 'JPEG', quality=85, subsampling=2, progressive=True),
           'a progressive photo', 'progressive JPEG, 4:2:0, quality 85')
    fx.add('jpeg-grey-160x120.jpg', save_pil(scene(160, 120, s + 5).convert('L'), 'JPEG', quality=85),
           'a black and white photo', 'greyscale JPEG (one component; Pillow mode L)')
    fx.add('jpeg-cmyk-160x120.jpg', save_pil(cmyk_picture(160, 120, s + 6), 'JPEG', quality=90),
           'a photo stored as CMYK',
           "CMYK JPEG written by Pillow: 4 components, Adobe APP14 marker with transform 0, inverted (Adobe) values, "
           "K from grey-component replacement")
    fx.add('jpeg-ycck-160x120.jpg', ycck_jpeg(fx, 160, 120, s + 7),
           'a photo stored as YCCK',
           'YCCK JPEG written by ImageMagick 6 (`convert x.png -colorspace CMYK -quality 90 x.jpg`): Adobe APP14 '
           'transform 2, components 1-4 (Y, Cb, Cr, K)')
    upright = scene(120, 80, s + 8)
    for o in range(1, 9):
        stored = upright if o == 1 else upright.transpose(STORED[o])
        exif = Image.Exif()
        exif[ORIENTATION] = o
        fx.add(f'jpeg-exif-orientation-{o}-120x80.jpg',
               save_pil(stored, 'JPEG', quality=92, subsampling=2, exif=exif.tobytes()),
               f'an upright photo (EXIF orientation {o})',
               f'JPEG 4:2:0 q92 with EXIF Orientation = {o}: pixels stored '
               + ('upright (120x80)' if o == 1 else f'as {stored.width}x{stored.height}, transformed so that '
                  'exif_transpose gives the same upright 120x80 picture as orientation 1'),
               orientation_group=True)
    fx.add('jpeg-large-1600x1200.jpg', save_pil(scene(1600, 1200, s + 9, noise=1.5), 'JPEG', quality=30, subsampling=2),
           'a large photo', 'large baseline JPEG, 4:2:0, quality 30 (kept small)')
    # --- WebP ----------------------------------------------------------------------------------------------
    fx.add('sub/webp-lossy-300x200.webp', save_pil(scene(300, 200, s + 10), 'WEBP', quality=80, method=4),
           'a photo in a subfolder', 'lossy WebP (VP8), quality 80, in a subfolder (Pillow/libwebp)')
    png = fx.tmp_png(rgba(120, 90, s + 11), 'webp-src.png')
    webp = fx.tmp / 'webp.webp'
    run_tool(['cwebp', '-quiet', '-lossless', '-exact', '-z', '6', str(png), '-o', str(webp)])
    fx.add('webp-lossless-alpha-120x90.webp', webp.read_bytes(), 'a photo with a transparent part',
           'lossless WebP (VP8L) with alpha: gradient and fully transparent pixels whose RGB is kept (cwebp -lossless '
           '-exact -z 6)')
    # --- AVIF ----------------------------------------------------------------------------------------------
    png = fx.tmp_png(scene(300, 200, s + 12), 'avif-src.png')
    avif = fx.tmp / 'a.avif'
    run_tool(['avifenc', '-c', 'aom', '-s', '6', '-j', '1', '-d', '8', '-y', '420', '-r', 'full', '--cicp', '1/13/6',
              '--min', '18', '--max', '26', png.as_posix(), avif.as_posix()])
    fx.add('avif-300x200.avif', avif.read_bytes(), 'a photo in AVIF',
           'AVIF, 8-bit YUV 4:2:0 full range, CICP 1/13/6 (BT.709 primaries, sRGB transfer, BT.601 matrix), aom '
           'speed 6, quantizer 18..26', avif_command='avifenc -c aom -s 6 -j 1 -d 8 -y 420 -r full --cicp 1/13/6 '
           '--min 18 --max 26 src.png avif-300x200.avif')
    png = fx.tmp_png(rgba(120, 90, s + 13), 'avif-alpha-src.png')
    avif = fx.tmp / 'b.avif'
    run_tool(['avifenc', '-c', 'aom', '-s', '6', '-j', '1', '-d', '8', '-y', '444', '-r', 'full', '--cicp', '1/13/6',
              '--min', '18', '--max', '26', '--minalpha', '0', '--maxalpha', '0', png.as_posix(), avif.as_posix()])
    fx.add('avif-alpha-120x90.avif', avif.read_bytes(), 'a transparent photo in AVIF',
           'AVIF with alpha (lossless alpha plane, not premultiplied), 8-bit YUV 4:4:4; colour kept under alpha 0',
           avif_command='avifenc -c aom -s 6 -j 1 -d 8 -y 444 -r full --cicp 1/13/6 --min 18 --max 26 '
           '--minalpha 0 --maxalpha 0 src.png avif-alpha-120x90.avif')
    # --- GIF -----------------------------------------------------------------------------------------------
    first = scene(100, 80, s + 14)
    pal = quantized(first, 64)
    frames = [pal]
    for k in (1, 2):  # later frames: the picture mirrored and colour-inverted, a dark bar moving across
        arr = 255 - np.asarray(first.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
        arr = arr.copy()
        arr[:, 20 * k:20 * k + 15] = 10
        frames.append(Image.fromarray(arr, 'RGB').quantize(palette=pal, dither=Image.Dither.NONE))
    fx.add('gif-animated-3frames-100x80.gif',
           save_pil(frames[0], 'GIF', save_all=True, append_images=frames[1:], duration=[400, 300, 300], loop=0),
           'an animated picture', 'animated GIF, 3 frames (frame 0 is the picture; frames 1-2 are mirrored, '
           'colour-inverted, with a dark bar): only frame 0 counts')
    fx.add('gif-transparent-64x64.gif', transparent_gif(64, 64, s + 15), 'a picture with a transparent hole',
           'GIF with a transparent colour index whose palette colour is (200, 60, 220), not black')
    # --- BMP -----------------------------------------------------------------------------------------------
    fx.add('bmp-24bit-90x60.bmp', save_pil(scene(90, 60, s + 16), 'BMP'), 'a bitmap photo', 'BMP, 24-bit BGR, bottom-up')
    fx.add('bmp-8bit-palette-90x60.bmp', save_pil(quantized(scene(90, 60, s + 17), 256), 'BMP'), 'a palette bitmap',
           'BMP, 8-bit with a 256-colour palette')
    fx.add('bmp-32bit-90x60.bmp', save_pil(rgba(90, 60, s + 18), 'BMP'), 'a 32-bit bitmap',
           'BMP, 32-bit BGRA written by Pillow from RGBA (BITMAPINFOHEADER, BI_RGB): Pillow reads it back as RGB, the '
           '4th byte (alpha gradient and zeros) ignored')
    # --- PNG -----------------------------------------------------------------------------------------------
    fx.add('png-rgba-120x90.png', save_pil(rgba(120, 90, s + 19), 'PNG'), 'a transparent photo',
           'PNG RGBA 8-bit: alpha gradient and fully transparent pixels whose RGB is the picture (not black)')
    fx.add('png-palette-trns-64x48.png', palette_trns_png(64, 48, s + 20), 'a palette picture with transparency',
           'PNG palette (16 colours) with a tRNS chunk: some entries alpha 0, some 128, the rest opaque')
    fx.add('png-16bit-rgb-80x60.png', png16_rgb(80, 60, s + 21), 'a 16-bit photo',
           'PNG RGB 16 bits per channel (written by hand); low bytes spread over 0..255 so truncation and rounding '
           'to 8 bits differ')
    fx.add('png-16bit-grey-80x60.png', png16_grey(80, 60, s + 22), 'a 16-bit grey photo',
           'PNG greyscale 16 bits (written by hand), the picture over 0..65535 plus a dark ramp 0..511 in the left 8 '
           'columns: Pillow 9.4 opens it as mode I and clips to 255 when converting to RGB')
    fx.add('png-grey-alpha-64x64.png', save_pil(grey_alpha(64, 64, s + 23), 'PNG'), 'a grey picture with alpha',
           'PNG grey + alpha (Pillow mode LA), transparent pixels keep their grey')
    fx.add('png-1x1.png', save_pil(Image.new('RGB', (1, 1), (201, 99, 37)), 'PNG'), 'a single orange pixel',
           'PNG RGB, 1x1 pixel (201, 99, 37)')
    fx.add('png-rgb-64x64.png', save_pil(scene(64, 64, s + 24), 'PNG'), 'a small photo in café colours',
           'PNG RGB 8-bit, already 64x64 (the default model resizes it to itself: a copy)')
    # --- Bad files -----------------------------------------------------------------------------------------
    good = save_pil(scene(160, 120, s + 25), 'JPEG', quality=85, subsampling=2)
    fx.add('bad-truncated.jpg', good[:len(good) // 2], 'a broken photo',
           f'a valid 160x120 baseline JPEG ({len(good)} bytes) cut to its first half; headers intact', bad=True)
    fx.add('bad-not-an-image.jpg', b'This is not a picture, only text saved with a .jpg name.\n', 'not a picture',
           'text bytes with a .jpg name', bad=True)
    fx.add('bad-empty.png', b'', 'an empty file', 'zero bytes', bad=True)


def cmyk_picture(w: int, h: int, seed: int) -> Image.Image:
    """The picture as CMYK with partial grey-component replacement (so K is not all zero)."""
    rgb = scene_float(w, h, seed) / 255.0
    rgb = np.clip(rgb, 0, 1)
    k = (1 - rgb.max(-1)) * 0.8
    cmy = (1 - rgb - k[..., None]) / np.maximum(1 - k[..., None], 1e-6)
    return Image.fromarray(to_u8(np.dstack([np.clip(cmy, 0, 1), k]) * 255), 'CMYK')


def ycck_jpeg(fx: Fixtures, w: int, h: int, seed: int) -> bytes:
    png = fx.tmp_png(scene(w, h, seed), 'ycck-src.png')
    out = fx.tmp / 'ycck.jpg'
    run_tool([convert_binary(), png.as_posix(), '-strip', '-colorspace', 'CMYK', '-quality', '90', out.as_posix()])
    data = out.read_bytes()
    if jpeg_adobe_transform(data) != 2:
        raise SystemExit(f'ImageMagick wrote Adobe transform {jpeg_adobe_transform(data)}, not 2 (YCCK)')
    return data


def transparent_gif(w: int, h: int, seed: int) -> bytes:
    p = quantized(scene(w, h, seed), 31)
    idx = np.asarray(p).copy()
    x = (np.arange(w) + 0.5)[None, :] / w
    y = (np.arange(h) + 0.5)[:, None] / h
    hole = (((x - 0.62) / 0.22) ** 2 + ((y - 0.55) / 0.22) ** 2 < 1) | (np.broadcast_to(y, (h, w)) > 0.9)
    idx[hole] = 31
    palette = p.getpalette()[:31 * 3] + [200, 60, 220]
    img = Image.fromarray(idx, 'P')
    img.putpalette(palette)
    return save_pil(img, 'GIF', transparency=31, optimize=False)


def palette_trns_png(w: int, h: int, seed: int) -> bytes:
    p = quantized(scene(w, h, seed), 16)
    alpha = bytes([0, 128, 0] + [255] * 10 + [128, 255, 64])  # per palette index
    return save_pil(p, 'PNG', transparency=alpha)


def png16_rgb(w: int, h: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed + 1000)
    base = to_u8(scene_float(w, h, seed)).astype(np.uint32)
    low = rng.integers(0, 256, base.shape, dtype=np.uint32)
    return png_bytes((base * 256 + low).astype(np.uint16), color_type=2, bit_depth=16)


def png16_grey(w: int, h: int, seed: int) -> bytes:
    grey = np.clip(np.rint((scene_float(w, h, seed) @ np.array([0.299, 0.587, 0.114])) * 257), 0, 65535)
    # Deep shadows: the left 8 columns are a ramp 0..511 from top to bottom (below and above Pillow's clip at 255).
    grey[:, :8] = np.rint(np.linspace(0, 511, h))[:, None]
    return png_bytes(grey.astype(np.uint16), color_type=0, bit_depth=16)


def grey_alpha(w: int, h: int, seed: int) -> Image.Image:
    grey = np.asarray(scene(w, h, seed).convert('L'))
    return Image.fromarray(np.dstack([grey, alpha_plane(w, h)]), 'LA')


# ----------------------------------------------------------------------------------------------------------------
# Expectations


def load_like_transformers(path: Path) -> tuple[Image.Image, Image.Image]:
    """transformers.image_utils.load_image on a path: open, exif_transpose, convert('RGB')."""
    img = Image.open(path)
    upright = ImageOps.exif_transpose(img)
    return img, upright.convert('RGB')


def describe(entry: dict, out: Path, tmp: Path) -> dict:
    name = entry['file']
    path = out / name
    data = path.read_bytes()
    info: dict = {
        'what': entry['what'], 'bytes': len(data), 'sha256': hashlib.sha256(data).hexdigest(),
        'in_metadata': True, 'bad': bool(entry.get('bad')),
    }
    cwd = os.getcwd()
    os.chdir(out)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            img, rgb = load_like_transformers(Path(name))
            img.load()
        if caught:
            info['pillow_warnings'] = sorted({f'{w.category.__name__}: {w.message}' for w in caught})
        info.update(pillow_readable=True, pillow_error=None, format=img.format, mode=img.mode,
                    size=list(img.size), exif_orientation=img.getexif().get(ORIENTATION))
        source = 'pillow'
    except Exception as e:  # noqa: BLE001 - the message is the point
        # Pillow names the file by its real (absolute) path: keep the name relative to the folder.
        message = str(e).replace(f'{out.as_posix()}/', '')
        info.update(pillow_readable=False, pillow_error=f'{type(e).__name__}: {message}')
        try:
            img = Image.open(Path(name))
            info.update(format=img.format, mode=img.mode, size=list(img.size),
                        exif_orientation=img.getexif().get(ORIENTATION))
        except Exception:  # noqa: BLE001
            info.update(format=None, mode=None, size=None, exif_orientation=None)
        rgb = None
    finally:
        os.chdir(cwd)
    if name.endswith('.jpg') and info.get('format') == 'JPEG':
        info['jpeg'] = {'sampling': jpeg_sampling(data), 'adobe_transform': jpeg_adobe_transform(data),
                        'progressive': bool(img.info.get('progressive') or img.info.get('progression'))}
    if name.endswith('.avif'):
        decoded = tmp / (Path(name).stem + '.png')
        run_tool(['avifdec', '-c', 'dav1d', '-j', '1', '-d', '8', path.as_posix(), decoded.as_posix()])
        via = Image.open(decoded)
        via.load()
        info.update(format='AVIF', mode_via_avifdec=via.mode, size=list(via.size), exif_orientation=None,
                    avif_command=entry.get('avif_command'))
        rgb = via.convert('RGB')
        source = 'avifdec 0.11.1 (dav1d 1.0.0, default "automatic" chroma upsampling) -> PNG -> Pillow'
    if entry.get('bad'):
        # A decoder must report these; note what Pillow does when told to accept truncated data.
        if name == 'bad-truncated.jpg':
            from PIL import ImageFile
            ImageFile.LOAD_TRUNCATED_IMAGES = True
            try:
                t = Image.open(path)
                t.load()
                arr = np.asarray(t.convert('RGB'))
                flat = np.all(arr == 128, axis=(1, 2))
                grey_rows = int(np.argmin(flat[::-1])) if not flat.all() else len(flat)
                info['with_LOAD_TRUNCATED_IMAGES'] = (
                    f'loads as {t.mode} {t.size[0]}x{t.size[1]}; the last {grey_rows} rows are exactly (128, 128, 128)')
            finally:
                ImageFile.LOAD_TRUNCATED_IMAGES = False
        info['expected'] = {}
        return info
    assert rgb is not None, name
    info['expected_source'] = source
    info['upright_size'] = list(rgb.size)
    expected: dict = {}
    base = Path(name).name
    if rgb.width * rgb.height <= DECODED_MAX_PIXELS:
        expected['decoded'] = write_expected(rgb, out, f'{base}.decoded.png')
    else:
        expected['decoded'] = None
        info['decoded_skipped'] = f'{rgb.width}x{rgb.height} is over 400x400 pixels (size budget)'
    sizes = RESIZES + ([FLORENCE_RESIZE] if base in FLORENCE_FILES else [])
    for size, filt in sizes:
        resized = rgb.resize((size, size), resample=FILTERS[filt], reducing_gap=None)
        expected[f'{size}-{filt}'] = write_expected(resized, out, f'{base}.{size}-{filt}.png')
    info['expected'] = expected
    return info


def write_expected(img: Image.Image, out: Path, name: str) -> str:
    assert img.mode == 'RGB'
    rel = f'expected/{name}'
    img.save(out / rel, 'PNG', optimize=True)
    return rel


# ----------------------------------------------------------------------------------------------------------------
# Checks of what the notes say about Pillow


def self_checks(out: Path, index: dict) -> list[str]:
    notes = []
    files = index['files']
    # EXIF: all eight orientations give the same upright picture (up to JPEG error), mark in the top-left quadrant.
    ref = None
    for o in range(1, 9):
        name = f'jpeg-exif-orientation-{o}-120x80.jpg'
        rgb = np.asarray(Image.open(out / 'expected' / f'{name}.decoded.png')).astype(int)
        assert rgb.shape == (80, 120, 3), (name, rgb.shape)
        u0, u1, v0, v1 = MARK
        mark = rgb[int(v0 * 80) + 2:int(v1 * 80) - 1, int(u0 * 120) + 2:int(u1 * 120) - 1]
        assert mark.mean() > 225, (name, mark.mean())
        if ref is None:
            ref = rgb
        diff = np.abs(rgb - ref)
        assert diff.mean() < 3.0, (name, diff.mean())
        files[name]['upright_vs_orientation_1'] = {'mean_abs_diff': round(float(diff.mean()), 3),
                                                   'max_abs_diff': int(diff.max())}
    # 16-bit RGB PNG: Pillow keeps the high byte (truncates), it does not round.
    raw = np.asarray(Image.open(out / 'png-16bit-rgb-80x60.png'))
    src16 = png16_source(out / 'png-16bit-rgb-80x60.png')
    assert np.array_equal(raw, (src16 >> 8).astype(np.uint8))
    rounded = np.clip(np.rint(src16 / 257.0), 0, 255)
    notes.append(f'16-bit RGB PNG: Pillow mode RGB = high byte of each sample (v >> 8); rounding v/257 would differ '
                 f'in {int((rounded != (src16 >> 8)).sum())} of {src16.size} samples')
    # 16-bit grey PNG: mode I, convert('RGB') clips at 255.
    g = Image.open(out / 'png-16bit-grey-80x60.png')
    gv = np.asarray(g).astype(np.int64)
    grgb = np.asarray(g.convert('RGB'))
    assert g.mode == 'I' and np.array_equal(grgb[..., 0], np.clip(gv, 0, 255))
    notes.append(f'16-bit grey PNG: Pillow 9.4 opens it as mode I (0..65535); convert("RGB") = min(v, 255) in each '
                 f'channel, NOT v >> 8: {(gv >= 255).mean() * 100:.1f}% of this file\'s pixels become white, only the '
                 f'dark ramp keeps its values (a long-standing Pillow behaviour, python-pillow/Pillow#3011)')
    # CMYK -> RGB: Pillow's formula, checked exhaustively on a grid and on the file.
    c = np.arange(0, 256, dtype=np.int64)
    cc, kk = np.meshgrid(c, c, indexing='ij')
    grid = np.zeros((256, 256, 4), np.uint8)
    grid[..., 0], grid[..., 3] = cc, kk
    got = np.asarray(Image.fromarray(grid, 'CMYK').convert('RGB'))[..., 0].astype(np.int64)
    assert np.array_equal(got, cmyk_formula(cc, kk))
    for name in ('jpeg-cmyk-160x120.jpg', 'jpeg-ycck-160x120.jpg'):
        cm = np.asarray(Image.open(out / name)).astype(np.int64)
        rgb = np.asarray(Image.open(out / 'expected' / f'{name}.decoded.png')).astype(np.int64)
        assert np.array_equal(rgb, np.stack([cmyk_formula(cm[..., i], cm[..., 3]) for i in range(3)], -1)), name
    notes.append('CMYK/YCCK JPEG -> RGB (Pillow 9.4, after reading Adobe-inverted values back): '
                 'nk = 255 - K; R = nk - t(C, nk) with t(a, b) = ((a*b + 128) + ((a*b + 128) >> 8)) >> 8, same for G/M '
                 'and B/Y, i.e. round((255 - C)(255 - K)/255); checked on all C, K and on both files')
    # Palette/alpha: convert('RGB') drops alpha and transparency, the hidden colour stays.
    for name, probe in (('png-rgba-120x90.png', None), ('gif-transparent-64x64.gif', None),
                        ('png-palette-trns-64x48.png', None), ('webp-lossless-alpha-120x90.webp', None)):
        img = Image.open(out / name)
        rgb = np.asarray(Image.open(out / 'expected' / f'{name}.decoded.png'))
        if img.mode == 'RGBA':
            a = np.asarray(img)
            zero = a[..., 3] == 0
            assert np.array_equal(rgb, a[..., :3]) and rgb[zero].max() > 0, name
            files[name]['transparent_pixels'] = int(zero.sum())
        else:
            t = img.info.get('transparency')
            idx = np.asarray(img)
            pal = np.array(img.getpalette()[:768] + [0] * max(0, 768 - len(img.getpalette()))).reshape(-1, 3)
            assert np.array_equal(rgb, pal[idx].astype(np.uint8)), name
            if isinstance(t, int):
                files[name]['transparent_pixels'] = int((idx == t).sum())
                files[name]['transparent_index_colour'] = pal[t].tolist()
            else:
                files[name]['transparent_pixels'] = int(sum((idx == i).sum() for i, a in enumerate(t) if a == 0))
    # 32-bit BMP: Pillow ignores the 4th byte.
    assert Image.open(out / 'bmp-32bit-90x60.bmp').mode == 'RGB'
    # GIF: frame 0 only, and it differs from the later frames.
    gif = Image.open(out / 'gif-animated-3frames-100x80.gif')
    f0 = np.asarray(gif.convert('RGB')).astype(int)
    gif.seek(1)
    f1 = np.asarray(gif.convert('RGB')).astype(int)
    files['gif-animated-3frames-100x80.gif']['frames'] = gif.n_frames
    files['gif-animated-3frames-100x80.gif']['frame_1_mode_in_pillow'] = gif.mode
    assert np.abs(f0 - f1).mean() > 50
    return notes


def cmyk_formula(c: np.ndarray, k: np.ndarray) -> np.ndarray:
    nk = 255 - k
    t = c * nk + 128
    return np.clip(nk - ((t >> 8) + t >> 8), 0, 255)


def png16_source(path: Path) -> np.ndarray:
    data = path.read_bytes()
    w, h = struct.unpack('>II', data[16:24])
    i, idat = 8, b''
    while i < len(data):
        n = struct.unpack('>I', data[i:i + 4])[0]
        if data[i + 4:i + 8] == b'IDAT':
            idat += data[i + 8:i + 8 + n]
        i += 12 + n
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * 6)
    assert not raw[:, 0].any()
    return raw[:, 1:].copy().view('>u2').reshape(h, w, 3).astype(np.int64)


# ----------------------------------------------------------------------------------------------------------------
# metadata.jsonl, index.json, README


def write_metadata(out: Path, entries: list[dict]) -> None:
    lines = [json.dumps({'file_name': e['file'], 'text': e['caption']}, ensure_ascii=False) for e in entries]
    (out / 'metadata.jsonl').write_bytes(b'\xef\xbb\xbf' + ''.join(f'{line}\r\n' for line in lines).encode('utf-8'))


def folder_size(out: Path) -> tuple[int, int]:
    files = [p for p in out.rglob('*') if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def tool_versions() -> dict:
    def first_line(args):
        try:
            r = subprocess.run(args, capture_output=True, text=True)
            return (r.stdout or r.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return None
    return {'python': sys.version.split()[0], 'pillow': PIL.__version__, 'numpy': np.__version__,
            'avifenc': first_line(['avifenc', '--version']), 'cwebp': first_line(['cwebp', '-version']),
            'imagemagick': first_line([convert_binary(), '-version'])}


PIPELINE = {
    'load_image': 'img = PIL.Image.open(path); img = PIL.ImageOps.exif_transpose(img); img = img.convert("RGB")  '
                  '# transformers.image_utils.load_image: alpha is dropped (not composited), P/L/LA/I/CMYK go through '
                  "Pillow's own convert",
    'resize': 'img.resize((S, S), resample=F, reducing_gap=None)  # the slow (PIL) image processors; uint8 before '
              'rescale/normalise',
    'processors': {'64-bilinear': 'the project default model (S=64, Image.BILINEAR)',
                   '32-bicubic': 'the tiny Florence-2 test package (S=32, Image.BICUBIC)',
                   '768-bicubic': f'Florence-2 base/large (S=768, Image.BICUBIC), only for {", ".join(FLORENCE_FILES)}'},
    'decoded': 'the load_image result itself (before resize), skipped above 400x400 pixels',
}


def write_readme(out: Path, index: dict, notes: list[str]) -> None:
    files = index['files']
    rows = []
    for name, f in files.items():
        size = f'{f["size"][0]}x{f["size"][1]}' if f.get('size') else '-'
        mode = f.get('mode') or (f'({f["mode_via_avifdec"]} via avifdec)' if f.get('mode_via_avifdec') else '-')
        if f['bad'] or not f['pillow_readable']:
            read = f.get('pillow_error') or ''
        else:
            read = 'yes'
        orient = f['exif_orientation'] if f.get('exif_orientation') is not None else ''
        rows.append(f'| `{name}` | {f["bytes"]:,} | {f.get("format") or "-"} | {mode} | {size} | {orient} | '
                    f'{read.replace("|", "/")} | {f["what"]} |')
    table = '\n'.join(rows)
    n_files, total = index['total_files'], index['total_bytes']
    src_bytes = sum(f['bytes'] for f in files.values())
    note_lines = '\n'.join(f'- {n}' for n in notes)
    text = f"""# Test photos "as users bring them"

Generated by `tools/make_photo_fixtures.py`; do not edit by hand. Regenerate from the repository root with

```sh
{COMMAND}
```

(Debian's Python 3.11 with Pillow {PIL.__version__} and numpy; `avifenc`/`avifdec` from `libavif-bin`
0.11.1, ImageMagick 6.9.11 `/usr/bin/convert` and `cwebp` 1.2.4 on PATH; no extra packages were installed.)
It is deterministic: fixed seeds, no timestamps; two runs give identical bytes. Other versions of Pillow,
libjpeg-turbo, libwebp, libavif/aom or ImageMagick may write other bytes, but the expectations are always
recomputed from the files written, so they stay consistent with them.

This folder is itself a mixed-format imagefolder dataset, the way a new user drops one: `metadata.jsonl`
(UTF-8 **with a BOM**, **CRLF** line ends, one `{{"file_name", "text"}}` row per file, one caption with a
non-ASCII character) names every source file below, including the lossy WebP in `sub/` (as `sub/<name>`)
and the three bad files, which a loader must report and leave out. `README.md` and `expected/` are not part
of the dataset (they are not in `metadata.jsonl`; a loader that globs every image in the folder, such as
Hugging Face `datasets`' imagefolder, would also see `expected/*.png`).

All pictures come from one procedural photo-like scene: a smooth 2-D gradient with a slow wave, a shaded red
disc, a blue bar with 2-pixel diagonal hatching, a yellow triangle (hard edges, no antialiasing), a grating of
period 2.5 pixels near the bottom, mild gaussian noise (sigma 2 levels at the bottom fading to 0.6 at the top;
1.5 to 0.45 in the 1600x1200 JPEG), and a **white
patch in a black frame in the top-left quadrant** (x 10-24 %, y 14-40 % of the upright picture; off the
diagonal, so each of the 8 EXIF orientations done wrong moves it elsewhere).

## Files

Sizes in bytes; format/mode/size are what Pillow {PIL.__version__} reports on `Image.open` (stored size,
before EXIF rotation); "Pillow" is whether `load_image` below succeeds, else its error.

| file | bytes | format | mode | size | EXIF orient. | Pillow | what |
|---|---:|---|---|---|---|---|---|
{table}

Source files: {src_bytes:,} bytes. Whole folder (sources, metadata, expectations, this README):
{n_files} files, {total:,} bytes (about {total / 1e6:.2f} MB; `du -sh` shows a little more for block rounding).

`jpeg-exif-orientation-<o>-120x80.jpg`: the name gives the **upright** size; orientations 5-8 store 80x120
pixels. For every o, `exif_transpose` gives the same 120x80 picture up to JPEG error (mean difference to
orientation 1 in `expected/index.json`, `upright_vs_orientation_1`).

## Expectations (`expected/`)

What Hugging Face's image pipeline gives for each file Pillow can open, as lossless RGB PNGs:

```python
img = PIL.Image.open(path)
img = PIL.ImageOps.exif_transpose(img)   # transformers.image_utils.load_image
img = img.convert("RGB")                 # alpha DROPPED (not composited): transparent pixels keep their RGB
img.save("expected/<file>.decoded.png")  # skipped above 400x400 pixels (size budget)
for S, F in [(64, Image.BILINEAR), (32, Image.BICUBIC)] (+ (768, Image.BICUBIC) for 3 files):
    img.resize((S, S), resample=F, reducing_gap=None).save("expected/<file>.<S>-<bilinear|bicubic>.png")
```

- `64-bilinear`: the project's default model; `32-bicubic`: the tiny Florence-2 test package;
  `768-bicubic`: Florence-2 itself, only for `{'`, `'.join(FLORENCE_FILES)}`.
- The uint8 result of the resize is the value before rescale/normalise. This is the **slow** (PIL) image
  processor. transformers' "fast" processors (torchvision, the default for some models in recent versions)
  resize tensors differently and differ from these by a few levels.
- The resize is Pillow's separable convolution, not a 4-tap interpolation: pixel centres at (i + 0.5) * scale,
  when downscaling the filter's support widened by the scale factor (antialiased), weights normalised and
  turned into fixed point (22 fraction bits), a horizontal pass then a vertical pass, each rounded and clipped
  to uint8. A resize to the image's own size returns a copy (`png-rgb-64x64.png` at 64).
- AVIF: Pillow 9.4 has no AVIF (`Image.open` fails, recorded as such); its expectations are made from
  `avifdec -c dav1d -j 1 -d 8 <file> x.png` (default "automatic" chroma upsampling) then the same Pillow calls on
  that PNG, and `expected_source` says so.
- Bad files have no expectations; `pillow_error` gives Pillow's message.

`expected/index.json` lists per source file: `format`, Pillow's `mode`, `size`, `exif_orientation`,
`pillow_readable` and `pillow_error`, `upright_size`, `expected_source`, the expectation files (`expected`),
`bytes`, `sha256`, and for JPEGs the sampling factors and Adobe transform flag.

## Pillow behaviours a decoder must match to give these values

{note_lines}
"""
    (out / 'README.md').write_text(text, encoding='utf-8')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    out: Path = args.out.resolve()
    if out.exists():
        if any(out.iterdir()) and not (out / 'expected' / 'index.json').exists():
            raise SystemExit(f'{out} exists and was not written by this script: not deleting it')
        shutil.rmtree(out)
    (out / 'expected').mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        fx = Fixtures(out, tmp)
        make_files(fx)
        write_metadata(out, fx.entries)
        files = {e['file']: describe(e, out, tmp) for e in fx.entries}
    index = {
        'generator': 'tools/make_photo_fixtures.py', 'command': COMMAND, 'seed': SEED, 'versions': tool_versions(),
        'pipeline': PIPELINE, 'files': files,
    }
    notes = self_checks(out, index) + STATIC_NOTES
    # The totals include README.md and index.json themselves: write until the numbers stop changing.
    index['notes'] = notes
    index['total_files'], index['total_bytes'] = 0, 0
    for _ in range(6):
        (out / 'expected' / 'index.json').write_text(json.dumps(index, indent=1, ensure_ascii=False) + '\n',
                                                      encoding='utf-8')
        write_readme(out, index, notes)
        n_files, total = folder_size(out)
        if (n_files, total) == (index['total_files'], index['total_bytes']):
            break
        index['total_files'], index['total_bytes'] = n_files, total
    else:
        raise SystemExit('the folder size did not settle')
    for name, f in files.items():
        print(f'{f["bytes"]:>8}  {name}  {f.get("mode")}  {f.get("pillow_error") or ""}')
    print(f'{n_files} files, {total} bytes in {out}')


STATIC_NOTES = [
    'EXIF orientation: load_image applies it (ImageOps.exif_transpose: 2 FLIP_LEFT_RIGHT, 3 ROTATE_180, '
    '4 FLIP_TOP_BOTTOM, 5 TRANSPOSE, 6 ROTATE_270, 7 TRANSVERSE, 8 ROTATE_90). Current browsers apply it in '
    'createImageBitmap by default (imageOrientation "from-image"); sharp only when asked (.rotate() without '
    'arguments).',
    'Alpha: convert("RGB") drops it; the RGB under alpha 0 is kept (PNG RGBA, LA, lossless WebP). A canvas '
    '(drawImage + getImageData) stores premultiplied colour: alpha-0 pixels come back (0, 0, 0) and partly '
    'transparent ones lose precision, so a browser decoder disagrees with Pillow on every pixel with alpha < 255.',
    'Palette transparency (PNG tRNS, GIF transparent index): convert("RGB") from P is a palette lookup; the '
    'transparent index shows its palette colour (here (200, 60, 220) in the GIF), alpha is ignored.',
    'GIF: Image.open gives frame 0 (mode P; Pillow 9.4 uses L only when the GIF has no colour table or its table is '
    'the identity grey ramp); load_image never sees frames 1-2. createImageBitmap also gives the first frame.',
    '32-bit BMP (BI_RGB, BITMAPINFOHEADER): Pillow reads mode RGB and ignores the 4th byte; browsers may treat '
    'it as alpha (then the canvas premultiplies it).',
    'Grey (L, LA) to RGB: the grey value in all three channels. CMYK JPEGs with an Adobe marker hold inverted '
    'values (Pillow writes them so and reads them back with rawmode CMYK;I); YCCK is turned into CMYK by '
    'libjpeg, then the same CMYK formula. P (GIF, BMP, PNG) to RGB: palette lookup.',
    'JPEG: Pillow uses libjpeg-turbo with its defaults (islow IDCT, fancy upsampling, its own YCbCr->RGB); a '
    'decoder that does the same (sharp/libvips; browsers when they decode to RGB through libjpeg-turbo) can match '
    'exactly; one that decodes 4:2:0 to YUV planes and converts elsewhere, or another library (Safari\'s ImageIO), '
    'differs by a few levels, mostly near colour edges.',
    'Truncated JPEG: Image.open succeeds (headers are intact), load() raises OSError "image file is truncated '
    '(N bytes not processed)", so load_image fails; with ImageFile.LOAD_TRUNCATED_IMAGES = True it loads, the '
    'missing part filled by libjpeg (see with_LOAD_TRUNCATED_IMAGES in index.json).',
    'Not an image / empty file: PIL.UnidentifiedImageError "cannot identify image file ...".',
    'Pillow applies no ICC profile and no gamma (none of these files has one); createImageBitmap with '
    'colorSpaceConversion "none" does not either.',
]


if __name__ == '__main__':
    main()
