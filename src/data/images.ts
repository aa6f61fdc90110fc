/**
 * The image pipeline (docs/IMAGES.md): bytes → upright RGB bytes (decode) → the vision graph's
 * `pixel_values` (resize as Pillow does, scale to [0, 1], normalise per channel, CHW).
 *
 * It gives what a Hugging Face processor gives from `load_image` + `image_processor(...)`:
 *  - decode with the EXIF orientation applied (`ImageOps.exif_transpose`), alpha dropped the way Pillow's
 *    `convert("RGB")` drops it (the stored colour of a transparent pixel is kept), grey repeated;
 *  - resize to S×S with Pillow's antialiased filter named by the manifest (src/data/resample.ts: the same
 *    bytes as `Image.resize((S, S), filter, reducing_gap=None)`);
 *  - `(byte / 255 - mean[c]) / std[c]`.
 *
 * PNG and GIF are decoded in JavaScript (fast-png, gifuct-js) everywhere, so Node and the browser see identical
 * pixels, transparent ones included (a canvas would lose their colour). Every other format goes to the
 * platform's decoder, installed at start with `useImageDecoder`: the browser's own
 * (src/data/browserImageDecoder.ts, by the worker) or, in Node, sharp (src/cli/nodeImageDecoder.ts).
 */
import { convertIndexedToRgb, decode as decodePng, hasPngSignature } from 'fast-png';
import { decompressFrame, parseGIF } from 'gifuct-js';
import { DatasetError, PackageError } from '../errors.ts';
import { resampleRgb, type ResampleFilter } from './resample.ts';

export interface RgbImage {
  width: number;
  height: number;
  /** width·height·3 bytes, row-major RGB, upright. */
  rgb: Uint8Array;
}

/** How a model's processor turns an image into pixel values (manifest.json `image`). */
export interface ImagePreprocessing {
  size: number;
  mean: readonly number[];
  std: readonly number[];
  /** Pillow's filter for the resize to size×size (manifest `image.resample`). */
  resample: ResampleFilter;
}

/** Decodes the formats PNG is not: the browser's decoder, or a Node library. */
export interface ImageDecoder {
  /** What the decoder is, for messages ("the browser", "sharp"). */
  readonly name: string;
  /** Upright RGB; throws on bytes it cannot read. `maxPixels` guards against decompression bombs. */
  decode(bytes: Uint8Array, maxPixels: number): Promise<RgbImage>;
  /** Decodes without handing the pixels over (cheaper where reading them back costs): throws as decode does. */
  check?(bytes: Uint8Array, maxPixels: number): Promise<void>;
}

/** The most pixels one image may have before decoding (a guard against decompression bombs): 64 MP. */
export const MAX_IMAGE_PIXELS = 64 * 1024 * 1024;

/** The formats people have, by their first bytes (for messages; the decoders sniff for themselves). */
export const IMAGE_FORMATS = 'JPEG, PNG, WebP, AVIF, GIF or BMP';

let installed: ImageDecoder | undefined;

/**
 * Installs the decoder for formats other than PNG and GIF, once at start: the worker installs the browser's
 * (src/data/browserImageDecoder.ts), Node programs and tests sharp (src/cli/nodeImageDecoder.ts).
 */
export function useImageDecoder(decoder: ImageDecoder): void {
  installed = decoder;
}

function undecodable(name: string, why: string): DatasetError {
  return new DatasetError(`image cannot be decoded: ${why}`, name, `Replace or remove this image (${IMAGE_FORMATS} are read).`);
}

/** Upright 8-bit RGB of an image file; a DatasetError naming `name` when it cannot be read. */
export async function decodeImage(bytes: Uint8Array, name: string): Promise<RgbImage> {
  if (bytes.byteLength === 0) throw undecodable(name, 'the file is empty');
  let image: RgbImage;
  if (hasPngSignature(bytes)) {
    image = decodePngRgb(bytes, name);
  } else if (isGif(bytes)) {
    image = decodeGifRgb(bytes, name);
  } else {
    const decoder = installed;
    if (!decoder) throw undecodable(name, 'no decoder for this format here (only PNG is built in)');
    try {
      image = await decoder.decode(bytes, MAX_IMAGE_PIXELS);
    } catch (e) {
      throw undecodable(name, e instanceof DatasetError ? e.problem : (e as Error).message || `not an image ${decoder.name} can read`);
    }
  }
  if (!(image.width >= 1 && image.height >= 1) || image.rgb.length !== image.width * image.height * 3) {
    throw undecodable(name, `the decoder gave a ${image.width}×${image.height} image of ${image.rgb.length} bytes`);
  }
  return image;
}

/**
 * Whether an image decodes, as decodeImage would say, without its pixels where the platform can spare them
 * (the browser decodes but reads nothing back): the dataset check of every image before training.
 */
export async function checkImage(bytes: Uint8Array, name: string): Promise<void> {
  const decoder = installed;
  if (bytes.byteLength === 0 || hasPngSignature(bytes) || isGif(bytes) || !decoder?.check) {
    await decodeImage(bytes, name);
    return;
  }
  try {
    await decoder.check(bytes, MAX_IMAGE_PIXELS);
  } catch (e) {
    throw undecodable(name, (e as Error).message || `not an image ${decoder.name} can read`);
  }
}

/** PNG of any kind (8/16-bit, grey, palette, alpha) as Pillow's `convert("RGB")` reads it. */
function decodePngRgb(bytes: Uint8Array, name: string): RgbImage {
  let png;
  try {
    png = decodePng(bytes);
  } catch (e) {
    throw undecodable(name, (e as Error).message);
  }
  if (png.width * png.height > MAX_IMAGE_PIXELS) throw undecodable(name, `${png.width}×${png.height} is too large`);
  // fast-png gives a palette with tRNS as RGBA entries; that alpha is dropped, so a transparent entry keeps
  // its colour, as in Pillow.
  const data = png.palette ? convertIndexedToRgb(png) : png.data;
  const channels = png.palette ? (png.palette[0]?.length ?? 3) : png.channels;
  const sixteen = png.depth === 16 && !png.palette;
  const pixels = png.width * png.height;
  const rgb = new Uint8Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < 3; c++) {
      // Grey (1 or 2 channels) repeats its one value; alpha is dropped. 16 bits as Pillow reads them: colour
      // keeps the high byte, grey (Pillow's mode I) is clipped at 255 — most of a 16-bit grey image is white.
      const source = channels >= 3 ? p * channels + c : p * channels;
      const value = Number(data[source]);
      rgb[p * 3 + c] = !sixteen ? value : channels >= 3 ? value >> 8 : Math.min(value, 255);
    }
  }
  return { width: png.width, height: png.height, rgb };
}

function isGif(bytes: Uint8Array): boolean {
  return bytes.length > 6 && bytes[0] === 0x47 && bytes[1] === 0x49 && bytes[2] === 0x46 && bytes[3] === 0x38; // "GIF8"
}

/**
 * A GIF's first frame as Pillow reads it: the logical screen filled with the transparent index (else index 0),
 * the frame's indices at its offset, every index looked up in the palette — transparency dropped.
 */
function decodeGifRgb(bytes: Uint8Array, name: string): RgbImage {
  let width: number;
  let height: number;
  let frame;
  try {
    const gif = parseGIF(bytes.slice().buffer);
    ({ width, height } = gif.lsd);
    if (width * height > MAX_IMAGE_PIXELS) throw new Error(`${width}×${height} is too large`);
    const first = gif.frames.find((f) => 'image' in f);
    if (!first || !('image' in first)) throw new Error('the GIF has no image');
    frame = decompressFrame(first, gif.gct, false);
  } catch (e) {
    throw undecodable(name, (e as Error).message);
  }
  const { colorTable, pixels, dims } = frame;
  const fill = frame.transparentIndex >= 0 && frame.transparentIndex < colorTable.length ? frame.transparentIndex : 0;
  const indices = new Uint8Array(width * height).fill(fill);
  for (let y = 0; y < dims.height && dims.top + y < height; y++) {
    for (let x = 0; x < dims.width && dims.left + x < width; x++) indices[(dims.top + y) * width + dims.left + x] = pixels[y * dims.width + x];
  }
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0; p < indices.length; p++) {
    const colour = colorTable[indices[p]] ?? [0, 0, 0];
    rgb[p * 3] = colour[0];
    rgb[p * 3 + 1] = colour[1];
    rgb[p * 3 + 2] = colour[2];
  }
  return { width, height, rgb };
}

/** The image resized to S×S as the model's processor resizes it (8-bit, Pillow's filter). */
export function resizedRgb(image: RgbImage, { size, resample }: Pick<ImagePreprocessing, 'size' | 'resample'>): Uint8Array {
  return resampleRgb(image.rgb, image.width, image.height, size, size, resample);
}

/**
 * The 3·256 floats a byte of channel c becomes, `(byte / 255 - mean[c]) / std[c]`, at c·256 + byte: what both
 * the CPU path below and the GPU's resampleColumns.wgsl read, so the two give the same floats. A value that is
 * not finite (a manifest whose std is almost 0) stops here, naming `where` (an image), before it can reach training.
 */
export function normalisationTable({ mean, std }: Pick<ImagePreprocessing, 'mean' | 'std'>, where: string): Float32Array {
  const table = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) {
    for (let v = 0; v < 256; v++) table[c * 256 + v] = (v / 255 - mean[c]) / std[c];
  }
  const bad = table.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) {
    const c = Math.floor(bad / 256);
    throw new PackageError(`its pixel values are not finite (channel ${c}: mean ${mean[c]}, std ${std[c]})`, where,
      'Fix image.mean and image.std in the model package\'s manifest.json: std must be above 0.');
  }
  return table;
}

/** CHW float32 pixel values of S×S RGB bytes: `(byte / 255 - mean[c]) / std[c]` (normalisationTable). */
export function normalisedPixels(rgb: Uint8Array, preprocessing: Pick<ImagePreprocessing, 'size' | 'mean' | 'std'>, name: string): Float32Array {
  const table = normalisationTable(preprocessing, name);
  const plane = preprocessing.size * preprocessing.size;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    for (let p = 0; p < plane; p++) out[c * plane + p] = table[c * 256 + rgb[p * 3 + c]];
  }
  return out;
}

/** CHW float32 pixel values of one decoded image: resized, scaled and normalised as the processor does. */
export function pixelValues(image: RgbImage, preprocessing: ImagePreprocessing, name = 'image'): Float32Array {
  return normalisedPixels(resizedRgb(image, preprocessing), preprocessing, name);
}
