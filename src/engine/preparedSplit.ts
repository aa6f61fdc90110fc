/**
 * A split made ready for the GPU: the images of the chosen training and validation examples, their
 * features computed once by the frozen vision graph (featureCache.ts), and the examples re-indexed into
 * that cache. Training, the validation loss and evaluation all read it — in the studio's worker and in the
 * command-line programs alike.
 */
import type { CaptionDataset, CaptionExample } from '../data/dataset.ts';
import type { RgbImage } from '../data/images.ts';
import { imagesOf, type SplitChoice } from '../data/splits.ts';
import { cacheImageFeatures, type FeatureCache } from './featureCache.ts';
import type { ModelPackage } from './modelPackage.ts';

export interface PreparedSplit {
  /** The images of `features`, in order, and the chosen examples (training, then validation). */
  dataset: CaptionDataset;
  features: FeatureCache;
  /** The chosen examples whose image decoded, indexing `dataset.images` and `features`. */
  train: CaptionExample[];
  validation: CaptionExample[];
}

export interface PrepareOptions {
  onProgress?: (done: number, total: number) => void;
  /** Each image's pixels as they are decoded for the vision graph (a thumbnail made then costs no second decode). */
  onImage?: (path: string, image: RgbImage) => void;
}

export async function prepareSplit(pkg: ModelPackage, dataset: CaptionDataset, choice: SplitChoice, options: PrepareOptions = {}): Promise<PreparedSplit> {
  const { images, groups: [train, validation] } = imagesOf(dataset, [choice.train, choice.validation]);
  const subset: CaptionDataset = { ...dataset, images, examples: [...train, ...validation] };
  options.onProgress?.(0, images.length);
  const onImage = options.onImage && ((index: number, image: RgbImage) => options.onImage!(images[index], image));
  const features = await cacheImageFeatures(pkg, subset, options.onProgress, onImage);
  return {
    dataset: subset, features,
    train: train.filter((e) => features.ok[e.imageIndex]),
    validation: validation.filter((e) => features.ok[e.imageIndex]),
  };
}

export function releaseSplit(prepared: PreparedSplit | undefined): void {
  prepared?.features.buffer.destroy();
}
