/**
 * The browser's own image decoder (JPEG, WebP, AVIF, BMP…), in the worker: `createImageBitmap` decodes off
 * the page's thread with the EXIF orientation applied ('from-image', as `ImageOps.exif_transpose`), no
 * colour management ('none': the file's bytes, as Pillow reads them) and no premultiplication ('none').
 *
 * The decoded bytes are read back through WebGPU (`copyExternalImageToTexture` with premultipliedAlpha
 * false): exactly the stored colour, also where alpha is below 255, which Pillow's `convert("RGB")` keeps.
 * A 2-D canvas would premultiply — a transparent pixel's colour lost, a half-transparent one's rounded — so
 * it is only the fallback where WebGPU is missing or the image is larger than a texture may be. The device is
 * this module's own, made on first use: the decoder needs no model. docs/IMAGES.md has the measurements.
 */
import type { ImageDecoder, RgbImage } from './images.ts';

let devicePromise: Promise<GPUDevice | undefined> | undefined;

/** A WebGPU device for reading decoded images back, or undefined where there is none. */
function readbackDevice(): Promise<GPUDevice | undefined> {
  devicePromise ??= (async () => {
    if (typeof navigator === 'undefined' || !('gpu' in navigator)) return undefined;
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return undefined;
    const device = await adapter.requestDevice({
      label: 'image read-back',
      requiredLimits: { maxTextureDimension2D: adapter.limits.maxTextureDimension2D, maxBufferSize: adapter.limits.maxBufferSize },
    });
    void device.lost.then(() => {
      devicePromise = undefined;
    });
    return device;
  })().catch(() => undefined);
  return devicePromise;
}

/** RGBA rows of `rowBytes` each (the last `width·4` of them used) → tightly packed RGB. */
function rgbOf(rgba: Uint8Array | Uint8ClampedArray, width: number, height: number, rowBytes: number): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0, p = 0; y < height; y++) {
    for (let q = y * rowBytes, end = q + width * 4; q < end; q += 4, p += 3) {
      rgb[p] = rgba[q];
      rgb[p + 1] = rgba[q + 1];
      rgb[p + 2] = rgba[q + 2];
    }
  }
  return rgb;
}

/** The bitmap's unpremultiplied bytes through a texture, or undefined when WebGPU cannot take it. */
async function readThroughGpu(bitmap: ImageBitmap): Promise<Uint8Array | undefined> {
  const device = await readbackDevice();
  const { width, height } = bitmap;
  if (!device || width > device.limits.maxTextureDimension2D || height > device.limits.maxTextureDimension2D) return undefined;
  const rowBytes = Math.ceil((width * 4) / 256) * 256;
  if (rowBytes * height > device.limits.maxBufferSize) return undefined;
  const texture = device.createTexture({
    label: 'decoded image', size: [width, height], format: 'rgba8unorm',
    usage: GPUTextureUsage.COPY_DST | GPUTextureUsage.COPY_SRC | GPUTextureUsage.RENDER_ATTACHMENT,
  });
  const buffer = device.createBuffer({ label: 'decoded image', size: rowBytes * height, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
  try {
    device.queue.copyExternalImageToTexture({ source: bitmap }, { texture, premultipliedAlpha: false }, [width, height]);
    const encoder = device.createCommandEncoder();
    encoder.copyTextureToBuffer({ texture }, { buffer, bytesPerRow: rowBytes }, [width, height]);
    device.queue.submit([encoder.finish()]);
    await buffer.mapAsync(GPUMapMode.READ);
    return rgbOf(new Uint8Array(buffer.getMappedRange()), width, height, rowBytes);
  } finally {
    texture.destroy();
    buffer.destroy();
  }
}

/** The fallback: a 2-D canvas (premultiplied: exact only where alpha is 255). */
function readThroughCanvas(bitmap: ImageBitmap): Uint8Array {
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d', { willReadFrequently: true });
  if (!context) throw new Error('no 2-D canvas to read the decoded pixels from');
  context.drawImage(bitmap, 0, 0);
  return rgbOf(context.getImageData(0, 0, width, height, { colorSpace: 'srgb' }).data, width, height, width * 4);
}

/** The bitmap of an image file, with its size checked; the caller closes it. */
async function decodedBitmap(bytes: Uint8Array, maxPixels: number): Promise<ImageBitmap> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes as BlobPart]), {
      imageOrientation: 'from-image', colorSpaceConversion: 'none', premultiplyAlpha: 'none',
    });
  } catch (e) {
    throw new Error((e as Error).message || 'not an image the browser can read');
  }
  // Read the size before close(): a closed bitmap reports 0×0.
  const { width, height } = bitmap;
  if (!(width >= 1 && height >= 1) || width * height > maxPixels) {
    bitmap.close();
    throw new Error(width * height > maxPixels ? `${width}×${height} is too large` : `the browser decoded it as ${width}×${height}`);
  }
  return bitmap;
}

export const browserImageDecoder: ImageDecoder = {
  name: 'the browser',
  async decode(bytes: Uint8Array, maxPixels: number): Promise<RgbImage> {
    const bitmap = await decodedBitmap(bytes, maxPixels);
    const { width, height } = bitmap;
    try {
      const rgb = (await readThroughGpu(bitmap)) ?? readThroughCanvas(bitmap);
      return { width, height, rgb };
    } finally {
      bitmap.close();
    }
  },
  async check(bytes: Uint8Array, maxPixels: number): Promise<void> {
    (await decodedBitmap(bytes, maxPixels)).close();
  },
};
