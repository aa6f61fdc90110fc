/**
 * Train/validation splits: taking one split out of a dataset, and holding out a validation split for a
 * dataset that has none. Held-out examples are chosen by image, never by caption: an image whose
 * captions were split between train and validation would leak its answers into the score.
 */
import { ConfigError, DatasetError } from '../errors.ts';
import { orderSplits, type CaptionDataset, type CaptionExample } from './captionDataset.ts';

/**
 * The images that `groups` of examples use, in order of first use, and each group re-indexed into that
 * list: a subset of a dataset that keeps only what its examples need.
 */
export function imagesOf(dataset: CaptionDataset, groups: CaptionExample[][]): { images: string[]; groups: CaptionExample[][] } {
  const images: string[] = [];
  const newIndex = new Map<number, number>();
  const reindex = (e: CaptionExample): CaptionExample => {
    let index = newIndex.get(e.imageIndex);
    if (index === undefined) {
      index = images.push(dataset.images[e.imageIndex]) - 1;
      newIndex.set(e.imageIndex, index);
    }
    return { ...e, imageIndex: index };
  };
  return { images, groups: groups.map((group) => group.map(reindex)) };
}

/** The dataset restricted to one split: its examples, and the images they use, re-indexed. */
export function selectSplit(dataset: CaptionDataset, split: string): CaptionDataset {
  const chosen = dataset.examples.filter((e) => e.split === split);
  if (chosen.length === 0) {
    throw new DatasetError(`no examples in split "${split}"`, dataset.label,
      `The dataset's splits are ${dataset.splits.map((s) => `"${s}"`).join(', ')}: choose one of them.`);
  }
  const { images, groups: [examples] } = imagesOf(dataset, [chosen]);
  // `skipped` is the report on the files read, whichever split the rows were meant for: it stays whole.
  return { ...dataset, images, examples, splits: [split] };
}

/** The examples of one task (a `task` column), indexing the dataset's images as before; a task with none is refused. */
function examplesOfTask(dataset: CaptionDataset, task: string): CaptionExample[] {
  const chosen = dataset.examples.filter((e) => e.task === task);
  if (chosen.length === 0) {
    const tasks = tasksOf(dataset).map((t) => `"${t.task}"`);
    throw new DatasetError(`no examples of task "${task}"`, dataset.label,
      tasks.length > 0 ? `The dataset's tasks are ${tasks.join(', ')}: choose one of them, or all tasks.` : 'The dataset has no task column: train on all its examples.');
  }
  return chosen;
}

/** The dataset restricted to one task's examples, and the images they use, re-indexed. */
export function selectTask(dataset: CaptionDataset, task: string): CaptionDataset {
  const { images, groups: [examples] } = imagesOf(dataset, [examplesOfTask(dataset, task)]);
  return { ...dataset, images, examples, splits: orderSplits(examples.map((e) => e.split)) };
}

export interface ValidationSplitOptions {
  /** The share of the training images held out, in (0, 1). */
  fraction: number;
  /** The same seed and images give the same split, whatever the order of the rows. */
  seed: number;
}

/**
 * Moves a fraction of the training images, with all their examples, to a new 'validation' split. A
 * dataset that already has a validation split is returned as it is: its own split is the one to trust.
 * Which images move depends only on the seed and the image paths, so adding rows elsewhere or
 * reordering the file moves no other image.
 */
export function assignValidationSplit(dataset: CaptionDataset, { fraction, seed }: ValidationSplitOptions): CaptionDataset {
  if (!(fraction > 0 && fraction < 1)) {
    throw new ConfigError(`the validation fraction is ${fraction}`, 'validation fraction', 'Choose a fraction between 0 and 1, e.g. 0.1.');
  }
  if (!Number.isInteger(seed)) throw new ConfigError(`the seed is ${seed}`, 'validation seed', 'Choose a whole number.');
  if (dataset.splits.includes('validation')) return dataset;
  const trainImages = [...new Set(dataset.examples.filter((e) => e.split === 'train').map((e) => e.imageIndex))];
  if (trainImages.length < 2) {
    throw new DatasetError(`the training split has ${trainImages.length} image${trainImages.length === 1 ? '' : 's'}, too few to hold some out for validation`,
      dataset.label, 'Add images, or train without a validation split.');
  }
  // At least one image held out and at least one kept, whatever the fraction.
  const held = Math.min(trainImages.length - 1, Math.max(1, Math.round(fraction * trainImages.length)));
  const ranked = trainImages
    .map((index) => ({ index, rank: hash32(`${seed}\0${dataset.images[index]}`) }))
    .sort((a, b) => a.rank - b.rank || (dataset.images[a.index] < dataset.images[b.index] ? -1 : 1));
  const heldOut = new Set(ranked.slice(0, held).map((r) => r.index));
  const examples = dataset.examples.map((e) => (e.split === 'train' && heldOut.has(e.imageIndex) ? { ...e, split: 'validation' } : e));
  return { ...dataset, examples, splits: orderSplits(examples.map((e) => e.split)) };
}

/** How a dataset is split into training and validation (the studio's Dataset step). */
export interface SplitOptions {
  /**
   * 'dataset': use the dataset's own validation split; 'holdout': hold out `fraction` of the training
   * images (by image, seeded). A dataset without a validation split always holds out.
   */
  mode: 'dataset' | 'holdout';
  fraction: number;
  seed: number;
  /** Use at most this many images of each split (0 = all): a quick first run on a slow GPU. */
  maxTrainImages: number;
  maxValidationImages: number;
  /** Only the examples of this task (the dataset's `task` column); absent or '' = every example. */
  task?: string;
}

/** The examples a run trains on and the ones it is validated on. */
export interface SplitChoice {
  train: CaptionExample[];
  validation: CaptionExample[];
}

/** First `max` images (0: all) of `examples`, in the dataset's order, with all their examples. */
function limitImages(examples: CaptionExample[], max: number): CaptionExample[] {
  if (max <= 0) return examples;
  const kept = new Set<number>();
  for (const e of examples) {
    if (kept.size >= max) break;
    kept.add(e.imageIndex);
  }
  return examples.filter((e) => kept.has(e.imageIndex));
}

/** The training and validation examples for the person's split options. */
export function chooseSplit(dataset: CaptionDataset, options: SplitOptions): SplitChoice {
  let examples = options.task ? examplesOfTask(dataset, options.task) : dataset.examples;
  const hasValidation = examples.some((e) => e.split === 'validation');
  if (options.mode === 'holdout' || !hasValidation) {
    // The dataset's train and validation rows pooled, then a seeded share of the images held out.
    const pooled = examples.map((e) => (e.split === 'validation' ? { ...e, split: 'train' } : e));
    const withTrain = { ...dataset, examples: pooled, splits: [...new Set(pooled.map((e) => e.split))] };
    examples = assignValidationSplit(withTrain, { fraction: options.fraction, seed: options.seed }).examples;
  }
  return {
    train: limitImages(examples.filter((e) => e.split === 'train'), options.maxTrainImages),
    validation: limitImages(examples.filter((e) => e.split === 'validation'), options.maxValidationImages),
  };
}

/**
 * Every task's validation examples, each as that task's own split chooses them (chooseSplit with the task), and
 * the examples without a task as the split of all examples chooses them: what an evaluation that routes each
 * example through its task's adapter scores, with no adapter scored on an image it trained on.
 */
export function validationByTask(dataset: CaptionDataset, options: SplitOptions): SplitChoice {
  const validation: CaptionExample[] = [];
  // A task too small to hold images out has no validation examples: it is left out, as its own run would be.
  const validationOf = (task: string | undefined) => {
    try {
      return chooseSplit(dataset, { ...options, task }).validation;
    } catch (e) {
      if (e instanceof DatasetError) return [];
      throw e;
    }
  };
  for (const { task } of tasksOf(dataset)) validation.push(...validationOf(task));
  if (dataset.examples.some((e) => e.task === undefined)) validation.push(...validationOf(undefined).filter((e) => e.task === undefined));
  return { train: [], validation };
}

/** The dataset's tasks (its `task` column) with their example counts, in order of first use; [] without one. */
export function tasksOf(dataset: Pick<CaptionDataset, 'examples'>): Array<{ task: string; examples: number }> {
  const counts = new Map<string, number>();
  for (const e of dataset.examples) if (e.task !== undefined) counts.set(e.task, (counts.get(e.task) ?? 0) + 1);
  return [...counts].map(([task, examples]) => ({ task, examples }));
}

/** FNV-1a over UTF-16 code units, then a murmur3 finaliser so that nearby strings spread out. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
