/**
 * Image bytes → the vision graph's `pixel_values` (docs/ENGINE.md §1): decode, resize to S×S (bilinear,
 * half-pixel centres), scale to [0, 1], normalise per channel, lay out as CHW.
 *
 * PNG is decoded in JavaScript (fast-png) everywhere, so Node and the browser see identical pixels;
 * other formats use the browser's decoder (createImageBitmap).
 */
import { convertIndexedToRgb, decode as decodePng, hasPngSignature } from 'fast-png';
import { DatasetError } from '../engine/errors.ts';

export interface RgbImage {
  width: number;
  height: number;
  /** width·height·3 bytes, row-major RGB. */
  rgb: Uint8Array;
}

export interface ImageNormalisation {
  size: number;
  mean: readonly number[];
  std: readonly number[];
}

/** The most pixels one image may have before decoding (a guard against decompression bombs). */
export const MAX_IMAGE_PIXELS = 64 * 1024 * 1024;

export async function decodeImage(bytes: Uint8Array, name: string): Promise<RgbImage> {
  const undecodable = (why: string) => new DatasetError(`image cannot be decoded: ${why}`, name, 'Replace or remove this image.');
  if (hasPngSignature(bytes)) {
    let png;
    try {
      png = decodePng(bytes);
    } catch (e) {
      throw undecodable((e as Error).message);
    }
    if (png.width * png.height > MAX_IMAGE_PIXELS) throw undecodable(`${png.width}×${png.height} is too large`);
    const data = png.palette ? convertIndexedToRgb(png) : png.data;
    const channels = png.palette ? (png.transparency ? 4 : 3) : png.channels;
    const shift = png.depth === 16 && !png.palette ? 8 : 0;
    const rgb = new Uint8Array(png.width * png.height * 3);
    for (let p = 0; p < png.width * png.height; p++) {
      for (let c = 0; c < 3; c++) {
        // Grey (1 or 2 channels) repeats its one value; 16-bit keeps the high byte.
        const source = channels >= 3 ? p * channels + c : p * channels;
        rgb[p * 3 + c] = Number(data[source]) >> shift;
      }
    }
    return { width: png.width, height: png.height, rgb };
  }
  if (typeof createImageBitmap === 'undefined' || typeof OffscreenCanvas === 'undefined') {
    throw undecodable('only PNG can be decoded outside the browser');
  }
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes as BlobPart]), { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch (e) {
    throw undecodable((e as Error).message || 'not an image the browser can read');
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext('2d')!;
  context.drawImage(bitmap, 0, 0);
  const rgba = context.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const rgb = new Uint8Array(bitmap.width * bitmap.height * 3);
  for (let p = 0; p < bitmap.width * bitmap.height; p++) {
    rgb[p * 3] = rgba[p * 4];
    rgb[p * 3 + 1] = rgba[p * 4 + 1];
    rgb[p * 3 + 2] = rgba[p * 4 + 2];
  }
  bitmap.close();
  return { width: bitmap.width, height: bitmap.height, rgb };
}

/** CHW float32 pixel values of one image, resized to S×S and normalised. */
export function pixelValues(image: RgbImage, { size, mean, std }: ImageNormalisation): Float32Array {
  const out = new Float32Array(3 * size * size);
  const sx = image.width / size;
  const sy = image.height / size;
  for (let y = 0; y < size; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), image.height - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, image.height - 1);
    const wy = fy - y0;
    for (let x = 0; x < size; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), image.width - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, image.width - 1);
      const wx = fx - x0;
      for (let c = 0; c < 3; c++) {
        const at = (yy: number, xx: number) => image.rgb[(yy * image.width + xx) * 3 + c];
        const value = (1 - wy) * ((1 - wx) * at(y0, x0) + wx * at(y0, x1)) + wy * ((1 - wx) * at(y1, x0) + wx * at(y1, x1));
        out[c * size * size + y * size + x] = (value / 255 - mean[c]) / std[c];
      }
    }
  }
  return out;
}
