/**
 * The GPU resize (resampleRows.wgsl + resampleColumns.wgsl) against the CPU path it replaces in the feature
 * cache — src/data/resample.ts's Pillow port (itself checked byte for byte against Pillow) and
 * src/data/images.ts's normalisation: the same floats, bit for bit, for every filter, downscales by large
 * and non-integer factors, upscales, one axis unchanged, no change, 1×1, and several images into one buffer.
 */
import { describe, expect, it } from 'vitest';
import { pixelValues, type ImagePreprocessing, type RgbImage } from '../data/images.ts';
import { RESAMPLE_FILTERS, type ResampleFilter } from '../data/resample.ts';
import { ImageResampler } from './resampleImage.ts';
import { readF32 } from './testing/gpu.ts';
import { getTestDevice } from './testing/nodeDevice.ts';
import { TestRng } from './testing/rng.ts';

/** A photo-like test image: smooth gradients, a hard-edged block, noise. */
function testImage(width: number, height: number, seed: number): RgbImage {
  const rng = new TestRng(seed);
  const noise = rng.normals(width * height * 3, 12);
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const block = x > width / 3 && x < width / 2 && y > height / 4 ? 90 : 0;
      for (let c = 0; c < 3; c++) {
        const i = (y * width + x) * 3 + c;
        const base = (c === 0 ? (255 * x) / width : c === 1 ? (255 * y) / height : 128) + block;
        rgb[i] = Math.max(0, Math.min(255, Math.round(base + noise[i])));
      }
    }
  }
  return { width, height, rgb };
}

const preprocessing = (size: number, resample: ResampleFilter): ImagePreprocessing => ({
  size, resample, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225],
});

async function gpuPixels(images: RgbImage[], pre: ImagePreprocessing, maxBindingBytes?: number): Promise<Float32Array> {
  const device = await getTestDevice();
  const resampler = new ImageResampler(device, pre, { maxBindingBytes });
  const pixels = device.createBuffer({ size: images.length * resampler.floatsPerImage * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  device.pushErrorScope('validation');
  for (const [slot, image] of images.entries()) await resampler.resize(image, pixels, slot);
  const error = await device.popErrorScope();
  expect(error?.message).toBeUndefined();
  const out = await readF32(device, pixels);
  resampler.destroy();
  pixels.destroy();
  return out;
}

function expectSame(what: string, gpu: Float32Array, cpu: Float32Array): void {
  const first = cpu.findIndex((v, i) => !Object.is(v, gpu[i]));
  expect(first, `${what}: first difference at float ${first} (cpu ${cpu[first]}, gpu ${gpu[first]})`).toBe(-1);
}

const shapes: Array<[number, number, number]> = [
  [300, 200, 64], // downscale, non-integer factors
  [257, 31, 64], // down one way, up the other
  [20, 12, 32], // upscale
  [64, 90, 64], // width unchanged
  [64, 64, 64], // no change: a copy
  [1, 1, 8], // one pixel
  [1000, 750, 24], // a large factor (many taps)
];

describe('ImageResampler', () => {
  it.each(RESAMPLE_FILTERS.map((f) => [f]))('%s: the same floats as the CPU path for every shape', async (filter) => {
    for (const [i, [w, h, size]] of shapes.entries()) {
      const image = testImage(w, h, i + 1);
      const pre = preprocessing(size, filter);
      expectSame(`${w}×${h} → ${size} ${filter}`, await gpuPixels([image], pre), pixelValues(image, pre));
    }
  });

  it('several images of different sizes into consecutive slots, reusing its buffers', async () => {
    const pre = preprocessing(48, 'bicubic');
    const images = [testImage(500, 333, 7), testImage(33, 71, 8), testImage(48, 48, 9), testImage(500, 333, 10)];
    const gpu = await gpuPixels(images, pre);
    const plane = 3 * 48 * 48;
    images.forEach((image, i) => expectSame(`slot ${i}`, gpu.subarray(i * plane, (i + 1) * plane), pixelValues(image, pre)));
  });

  it('an image too large for one storage binding is resized on the CPU, with the same floats', async () => {
    const pre = preprocessing(40, 'lanczos');
    const images = [testImage(300, 200, 11), testImage(30, 20, 12)];
    // 20 KB per binding: the first image (180 KB of bytes) takes the CPU path, the second the GPU's.
    const gpu = await gpuPixels(images, pre, 20_000);
    const plane = 3 * 40 * 40;
    images.forEach((image, i) => expectSame(`slot ${i}`, gpu.subarray(i * plane, (i + 1) * plane), pixelValues(image, pre)));
  });
});
