/**
 * A dataset split read from disk with its image features cached on the GPU: what `train`, `evaluate` and
 * the default-model report start from. A dataset without splits is all 'train'.
 */
import { readDataset, type CaptionDataset } from '../data/dataset.ts';
import { selectSplit } from '../data/splits.ts';
import { cacheImageFeatures, type FeatureCache } from '../engine/featureCache.ts';
import type { ModelPackage } from '../engine/modelPackage.ts';
import { datasetSource } from './fileSource.ts';
import { progress } from './progress.ts';

export async function readSplit(path: string, split: string): Promise<CaptionDataset> {
  const dataset = await readDataset(await datasetSource(path));
  if (dataset.splits.length === 1 && dataset.splits[0] === 'train' && split === 'train') return dataset;
  console.log(`${path}: split "${split}" of ${dataset.splits.map((s) => `"${s}"`).join(', ')}`);
  return selectSplit(dataset, split);
}

export async function cacheFeatures(pkg: ModelPackage, dataset: CaptionDataset): Promise<FeatureCache> {
  const bar = progress('caching image features', dataset.images.length);
  const started = performance.now();
  const rate = (done: number) => done / Math.max(1e-3, (performance.now() - started) / 1000);
  const features = await cacheImageFeatures(pkg, dataset, (done) => bar.update(done, `${rate(done).toFixed(1)} images/s`));
  bar.stop();
  console.log(`cached the features of ${dataset.images.length} images in ${((performance.now() - started) / 1000).toFixed(1)} s (${rate(dataset.images.length).toFixed(1)} images/s)`);
  for (const row of [...dataset.skipped, ...features.skipped]) console.log(`skipped ${row.where}: ${row.reason}`);
  return features;
}
