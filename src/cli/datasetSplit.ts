/**
 * A dataset split read from disk with its image features cached on the GPU (src/engine/preparedSplit.ts, as
 * the studio's worker prepares one): what `train`, `evaluate` and the default-model report start from. A
 * dataset without splits is all 'train'.
 */
import { readDataset, type CaptionDataset } from '../data/dataset.ts';
import { selectSplit, selectTask } from '../data/splits.ts';
import type { ModelPackage } from '../engine/modelPackage.ts';
import { prepareSplit, type PreparedSplit } from '../engine/preparedSplit.ts';
import { datasetSource } from './fileSource.ts';
import { progress } from './progress.ts';

/** One split of a dataset on disk, and of it only the examples of `task` when one is given (a `task` column). */
export async function readSplit(path: string, split: string, task?: string): Promise<CaptionDataset> {
  const read = await readDataset(await datasetSource(path));
  const dataset = task === undefined ? read : selectTask(read, task);
  if (task !== undefined) console.log(`${path}: task "${task}" (${dataset.examples.length} of ${read.examples.length} captions)`);
  if (dataset.splits.length === 1 && dataset.splits[0] === 'train' && split === 'train') return dataset;
  console.log(`${path}: split "${split}" of ${dataset.splits.map((s) => `"${s}"`).join(', ')}`);
  return selectSplit(dataset, split);
}

/** Every example of `dataset`, to train on or to be scored on, with its images' features cached (a progress bar). */
export async function prepareExamples(pkg: ModelPackage, dataset: CaptionDataset, use: 'train' | 'validation'): Promise<PreparedSplit> {
  const bar = progress('caching image features', dataset.images.length);
  const started = performance.now();
  const rate = (done: number) => done / Math.max(1e-3, (performance.now() - started) / 1000);
  const choice = use === 'train' ? { train: dataset.examples, validation: [] } : { train: [], validation: dataset.examples };
  const prepared = await prepareSplit(pkg, dataset, choice, { onProgress: (done) => bar.update(done, `${rate(done).toFixed(1)} images/s`) });
  bar.stop();
  const images = prepared.dataset.images.length;
  console.log(`cached the features of ${images} images in ${((performance.now() - started) / 1000).toFixed(1)} s (${rate(images).toFixed(1)} images/s)`);
  for (const row of [...dataset.skipped, ...prepared.features.skipped]) console.log(`skipped ${row.where}: ${row.reason}`);
  return prepared;
}
