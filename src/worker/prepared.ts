/**
 * A split made ready for the GPU: the images of the chosen training and validation examples, their
 * features computed once by the frozen vision graph (cacheImageFeatures), and the examples re-indexed
 * into that cache. Training, validation loss and evaluation all read the same cache.
 */
import type { CaptionDataset, CaptionExample } from '../data/dataset.ts';
import { DatasetError } from '../errors.ts';
import type { Evaluation } from '../engine/evaluate.ts';
import { cacheImageFeatures, type FeatureCache } from '../engine/featureCache.ts';
import type { ModelPackage } from '../engine/modelPackage.ts';
import type { Progress } from '../shared/engineApi.ts';
import type { SplitChoice } from './datasetSession.ts';

export interface Prepared {
  key: string;
  /** The images of `features`, in order. */
  dataset: CaptionDataset;
  features: FeatureCache;
  train: CaptionExample[];
  validation: CaptionExample[];
  /** The frozen model's captions of the validation split, scored, once computed. */
  frozen?: Evaluation;
}

export async function prepare(pkg: ModelPackage, dataset: CaptionDataset, choice: SplitChoice, key: string,
  onProgress?: (p: Progress) => void): Promise<Prepared> {
  const images: string[] = [];
  const index = new Map<number, number>();
  const reindex = (e: CaptionExample): CaptionExample => {
    let i = index.get(e.imageIndex);
    if (i === undefined) {
      i = images.push(dataset.images[e.imageIndex]) - 1;
      index.set(e.imageIndex, i);
    }
    return { ...e, imageIndex: i };
  };
  const train = choice.train.map(reindex);
  const validation = choice.validation.map(reindex);
  if (train.length === 0) {
    throw new DatasetError('the training split is empty', dataset.label, 'Choose a split that leaves images for training, or add images.');
  }
  const subset: CaptionDataset = { ...dataset, images, examples: [...train, ...validation], skipped: [] };
  onProgress?.({ phase: 'caching image features', done: 0, total: images.length });
  const features = await cacheImageFeatures(pkg, subset, (done, total) => onProgress?.({ phase: 'caching image features', done, total }));
  return {
    key, dataset: subset, features,
    train: train.filter((e) => features.ok[e.imageIndex]),
    validation: validation.filter((e) => features.ok[e.imageIndex]),
  };
}

export function releasePrepared(prepared: Prepared | undefined): void {
  prepared?.features.buffer.destroy();
}
