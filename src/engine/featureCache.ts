/**
 * Image features, computed once per image by the frozen vision graph and kept on the GPU: the ViT never
 * runs again during training, whatever the number of epochs. Images that cannot be decoded are skipped
 * with their reason, and the examples that use them are dropped; features that are not finite stop the
 * run, naming the image, before they can reach training.
 *
 * Decoding runs ahead of the vision graph: several images are decoded at once (the browser's and libvips'
 * decoders work on their own threads, src/data/images.ts); each decoded image goes to the GPU as it comes,
 * where it is resized as Pillow resizes and normalised into pixel_values (src/kernels/resampleImage.ts), and
 * every VISION_BATCH images the vision graph runs on them.
 */
import { decodeImage, type RgbImage } from '../data/images.ts';
import { inOrder } from '../data/inOrder.ts';
import type { CaptionDataset, SkippedRow } from '../data/imagefolder.ts';
import { DatasetError, PackageError } from '../errors.ts';
import { readFloats } from './gpuBuffers.ts';
import type { ModelPackage } from './modelPackage.ts';
import { ImageResampler } from '../kernels/resampleImage.ts';
import { gpuTensor } from './onnxRuntime.ts';

export interface FeatureCache {
  /** f32 [images, Ni, d]; the features of image i start at i·Ni·d. */
  buffer: GPUBuffer;
  /** Whether image i was decoded and encoded. */
  ok: boolean[];
  /** Floats per image (Ni·d). */
  floatsPerImage: number;
  skipped: SkippedRow[];
}

/** Images per vision run: enough to keep the GPU busy, small enough for a laptop's memory. */
const VISION_BATCH = 8;

/**
 * Images decoded at once, ahead of the GPU: the decoders' threads (one per core) kept busy, and at most this
 * many decoded photos in memory (a 12-megapixel photo is 36 MB of RGB).
 */
export function decodeAhead(): number {
  const cores = typeof navigator !== 'undefined' ? navigator.hardwareConcurrency : undefined;
  return Math.max(2, Math.min(16, cores ?? 4));
}

type Decoded = { image: RgbImage } | { skipped: string };

/** The images to cache: where to read them (a dataset is one; so is one dropped picture). */
export type ImageFiles = Pick<CaptionDataset, 'label' | 'source' | 'images'>;

/** One image decoded, or why it was skipped; errors other than a bad image propagate. */
async function decodeOne(dataset: ImageFiles, name: string): Promise<Decoded> {
  try {
    return { image: await decodeImage(await dataset.source.read(name), `${dataset.label}/${name}`) };
  } catch (e) {
    if (e instanceof DatasetError) return { skipped: e.problem };
    throw e;
  }
}

/** The first image of a batch whose features hold a NaN or an infinity, or -1. */
function firstNonFinite(features: Float32Array, floatsPerImage: number): number {
  for (let i = 0; i < features.length; i++) {
    if (!Number.isFinite(features[i])) return Math.floor(i / floatsPerImage);
  }
  return -1;
}

export async function cacheImageFeatures(
  pkg: ModelPackage,
  dataset: ImageFiles,
  onProgress?: (done: number, total: number) => void,
  /** Called with each image's pixels once decoded (e.g. for a thumbnail), before they go to the GPU. */
  onImage?: (index: number, image: RgbImage) => void,
): Promise<FeatureCache> {
  const { manifest, device } = pkg;
  const { size, tokens } = manifest.image;
  const d = manifest.d_model;
  const floatsPerImage = tokens * d;
  const count = dataset.images.length;
  // First, as it checks the normalisation finite (normalisationTable), blaming the first image.
  const resampler = count > 0 ? new ImageResampler(device, manifest.image, { where: `${dataset.label}/${dataset.images[0]}` }) : undefined;
  const buffer = device.createBuffer({
    label: 'image features',
    size: Math.max(16, count * floatsPerImage * 4),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  });
  const ok = dataset.images.map(() => false);
  const skipped: SkippedRow[] = [];
  const visionFile = manifest.files.vision;
  if (!resampler) return { buffer, ok, floatsPerImage, skipped };
  // Two pixel_values buffers, used in turn: one is written while the vision graph may still read the other.
  const pixelBuffers = [0, 1].map((i) => device.createBuffer({
    label: `pixel_values ${i}`, size: VISION_BATCH * resampler.floatsPerImage * 4,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  }));

  try {
    const images = inOrder(count, decodeAhead(), (index) => decodeOne(dataset, dataset.images[index]));
    for (let start = 0, batch = 0; start < count; start += VISION_BATCH, batch++) {
      const end = Math.min(start + VISION_BATCH, count);
      const pixels = pixelBuffers[batch % 2];
      const indices: number[] = [];
      for (let index = start; index < end; index++) {
        const result = (await images.next()).value as Decoded;
        if ('skipped' in result) skipped.push({ where: dataset.images[index], reason: result.skipped });
        else {
          onImage?.(index, result.image);
          await resampler.resize(result.image, pixels, indices.push(index) - 1);
        }
      }
      if (indices.length > 0) await encodeBatch(pixels, indices);
      onProgress?.(end, count);
    }
  } catch (e) {
    buffer.destroy();
    throw e;
  } finally {
    resampler.destroy();
    for (const b of pixelBuffers) b.destroy();
  }
  return { buffer, ok, floatsPerImage, skipped };

  /** The vision graph over the batch's pixel values; its features checked finite and copied into the cache. */
  async function encodeBatch(pixels: GPUBuffer, indices: number[]): Promise<void> {
    const outputs = await pkg.vision.run({
      [visionFile.inputs.pixel_values]: gpuTensor(pixels, [indices.length, 3, size, size]),
    });
    const features = outputs[visionFile.outputs.image_embeds];
    try {
      const dims = features.dims;
      if (dims.length !== 3 || dims[0] !== indices.length || dims[1] !== tokens || dims[2] !== d) {
        throw new PackageError(`the vision graph gives image embeddings of shape [${dims.join(', ')}], the manifest says [${indices.length}, ${tokens}, ${d}]`,
          `${pkg.source.label}/${visionFile.path}`, 'Fix image.tokens and d_model in manifest.json, or re-export the package.');
      }
      // Read back by us, not Tensor.getData(): ORT's download buffer is one, and another run may be reading.
      const bad = firstNonFinite(await readFloats(device, features.gpuBuffer as GPUBuffer, indices.length * floatsPerImage), floatsPerImage);
      if (bad >= 0) {
        throw new PackageError('the vision graph gives features that are not finite (NaN or infinite) for this image',
          `${dataset.label}/${dataset.images[indices[bad]]}`,
          'Remove the image and try again; if every image does this, the model package is broken: re-export it (in float32).');
      }
      const encoder = device.createCommandEncoder({ label: 'cache image features' });
      indices.forEach((index, i) => {
        encoder.copyBufferToBuffer(features.gpuBuffer as GPUBuffer, i * floatsPerImage * 4, buffer, index * floatsPerImage * 4, floatsPerImage * 4);
        ok[index] = true;
      });
      device.queue.submit([encoder.finish()]);
    } finally {
      features.dispose();
    }
  }
}
