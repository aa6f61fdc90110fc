/**
 * Image features, computed once per image by the frozen vision graph and kept on the GPU: the ViT never
 * runs again during training, whatever the number of epochs. Images that cannot be read are skipped with
 * their reason, and the examples that use them are dropped.
 */
import { decodeImage, pixelValues } from '../data/images.ts';
import type { CaptionDataset, SkippedRow } from '../data/imagefolder.ts';
import { AdaLinkError, PackageError } from './errors.ts';
import type { ModelPackage } from './modelPackage.ts';
import { ort } from './onnxRuntime.ts';

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

export async function cacheImageFeatures(
  pkg: ModelPackage,
  dataset: CaptionDataset,
  onProgress?: (done: number, total: number) => void,
): Promise<FeatureCache> {
  const { manifest, device } = pkg;
  const { size, tokens } = manifest.image;
  const d = manifest.d_model;
  const floatsPerImage = tokens * d;
  const buffer = device.createBuffer({
    label: 'image features',
    size: Math.max(16, dataset.images.length * floatsPerImage * 4),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  });
  const ok = dataset.images.map(() => false);
  const skipped: SkippedRow[] = [];
  const visionFile = manifest.files.vision;

  for (let start = 0; start < dataset.images.length; start += VISION_BATCH) {
    const names = dataset.images.slice(start, start + VISION_BATCH);
    const decoded: Array<{ index: number; pixels: Float32Array }> = [];
    for (const [offset, name] of names.entries()) {
      try {
        const image = await decodeImage(await dataset.source.read(name), `${dataset.label}/${name}`);
        decoded.push({ index: start + offset, pixels: pixelValues(image, manifest.image) });
      } catch (e) {
        skipped.push({ where: name, reason: e instanceof AdaLinkError ? e.problem : `cannot be read: ${(e as Error).message}` });
      }
    }
    if (decoded.length > 0) {
      const pixels = new Float32Array(decoded.length * 3 * size * size);
      decoded.forEach((item, i) => pixels.set(item.pixels, i * 3 * size * size));
      const outputs = await pkg.vision.run({
        [visionFile.inputs.pixel_values]: new ort.Tensor('float32', pixels, [decoded.length, 3, size, size]),
      });
      const features = outputs[visionFile.outputs.image_embeds];
      try {
        const dims = features.dims;
        if (dims.length !== 3 || dims[0] !== decoded.length || dims[1] !== tokens || dims[2] !== d) {
          throw new PackageError(`the vision graph gives image embeddings of shape [${dims.join(', ')}], the manifest says [${decoded.length}, ${tokens}, ${d}]`,
            `${pkg.source.label}/${visionFile.path}`, 'Fix image.tokens and d_model in manifest.json, or re-export the package.');
        }
        const encoder = device.createCommandEncoder({ label: 'cache image features' });
        decoded.forEach((item, i) => {
          encoder.copyBufferToBuffer(features.gpuBuffer as GPUBuffer, i * floatsPerImage * 4, buffer, item.index * floatsPerImage * 4, floatsPerImage * 4);
          ok[item.index] = true;
        });
        device.queue.submit([encoder.finish()]);
      } finally {
        features.dispose();
      }
    }
    onProgress?.(Math.min(start + VISION_BATCH, dataset.images.length), dataset.images.length);
  }
  return { buffer, ok, floatsPerImage, skipped };
}
