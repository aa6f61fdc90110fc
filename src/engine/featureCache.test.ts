/**
 * A bad value never reaches training (issue 12): pixel values that are not finite, and features that are not
 * finite, stop the feature cache with an error naming the image; a loss that is NaN before any update says it
 * comes from the data or the model, not the learning rate. On the tiny package and dataset, over Dawn.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { withDefaults } from '../config.ts';
import { PackageError, TrainingError } from '../errors.ts';
import { cacheImageFeatures } from './featureCache.ts';
import { loadTiny, type TinySetup } from './testing/tinySetup.ts';
import { Trainer } from './trainer.ts';

let tiny: TinySetup;

beforeAll(async () => {
  tiny = await loadTiny();
});

/** The tiny package with other normalisation constants (the manifest's image.mean and image.std). */
function withStd(std: number) {
  return { ...tiny.pkg, manifest: { ...tiny.pkg.manifest, image: { ...tiny.pkg.manifest.image, std: [std, std, std] as [number, number, number] } } };
}

describe('the feature cache refuses values that are not finite', () => {
  it('pixel values: the error names the first image and what to fix', async () => {
    const error = await cacheImageFeatures(withStd(1e-320), tiny.dataset).catch((e) => e);
    expect(error).toBeInstanceOf(PackageError);
    expect(error.message).toContain(`${tiny.dataset.label}/${tiny.dataset.images[0]}`);
    expect(error.message).toMatch(/pixel values are not finite.*std must be above 0/);
  });

  it('features: the vision graph overflows on huge pixel values; the error names the image', async () => {
    // (x - 0.5) / 1e-30: finite pixels of up to 5e29, which the ViT's layers turn into infinities and NaN.
    const error = await cacheImageFeatures(withStd(1e-30), tiny.dataset).catch((e) => e);
    expect(error).toBeInstanceOf(PackageError);
    expect(error.message).toMatch(/features that are not finite/);
    expect(error.message).toContain(`${tiny.dataset.label}/${tiny.dataset.images[0]}`);
  });

  it('the same package with its own constants caches every image', async () => {
    const cache = await cacheImageFeatures(tiny.pkg, tiny.dataset);
    expect(cache.ok.every(Boolean)).toBe(true);
    cache.buffer.destroy();
  });
});

describe('a loss that is NaN before any update', () => {
  it('is blamed on the data or the model, not the learning rate', async () => {
    const { pkg, features, examples } = tiny;
    // Features poisoned after caching: the first step's loss is NaN with the adapter still the identity.
    const poisoned = pkg.device.createBuffer({ size: features.buffer.size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    pkg.device.queue.writeBuffer(poisoned, 0, new Float32Array(features.buffer.size / 4).fill(Number.NaN));
    const trainer = new Trainer(pkg, { ...features, buffer: poisoned }, examples, withDefaults({ steps: 2, batchSize: 4, rank: { image: 8, text: 4 } }));
    const error = await trainer.run(2).catch((e) => e);
    await trainer.destroy();
    poisoned.destroy();
    expect(error).toBeInstanceOf(TrainingError);
    expect(error.message).toMatch(/loss of step 1 is NaN before any update, so it comes from the data or the model, not from the learning rate/);
    expect(error.message).not.toMatch(/Lower the learning rate/);
  });
});
