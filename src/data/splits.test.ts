import { describe, expect, it } from 'vitest';
import { ConfigError, DatasetError } from '../errors.ts';
import type { CaptionDataset } from './captionDataset.ts';
import { readDataset } from './dataset.ts';
import { memorySource } from './source.ts';
import { assignValidationSplit, chooseSplit, selectSplit, selectTask, tasksOf, validationByTask } from './splits.ts';

/** A dataset of `images` images with `captionsPerImage` captions each, all in train unless `split` says. */
function dataset(images: number, captionsPerImage: number, split: (image: number) => string = () => 'train'): CaptionDataset {
  const names = Array.from({ length: images }, (_, i) => `img${String(i).padStart(4, '0')}.png`);
  return {
    label: 'synthetic', source: memorySource('synthetic', new Map()), format: 'imagefolder', images: names, skipped: [],
    examples: names.flatMap((_, i) => Array.from({ length: captionsPerImage }, (_, c) => ({ imageIndex: i, caption: `caption ${c} of ${i}`, split: split(i) }))),
    splits: [...new Set(names.map((_, i) => split(i)))],
  };
}

describe('selectSplit', () => {
  it('keeps one split\'s examples and only the images they use, re-indexed', async () => {
    const source = memorySource('s', new Map(Object.entries({
      'metadata.jsonl': [
        { file_name: 'a.png', text: 'a1', split: 'train' }, { file_name: 'b.png', text: 'b1', split: 'validation' },
        { file_name: 'c.png', text: 'c1', split: 'train' }, { file_name: 'b.png', text: 'b2', split: 'validation' },
      ].map((r) => JSON.stringify(r)).join('\n'),
      'a.png': 'A', 'b.png': 'B', 'c.png': 'C',
    }).map(([k, v]) => [k, new TextEncoder().encode(v)])));
    const full = await readDataset(source);
    const validation = selectSplit(full, 'validation');
    expect(validation.images).toEqual(['b.png']);
    expect(validation.examples).toEqual([{ imageIndex: 0, caption: 'b1', prompt: undefined, split: 'validation' }, { imageIndex: 0, caption: 'b2', prompt: undefined, split: 'validation' }]);
    expect(validation.splits).toEqual(['validation']);
    const train = selectSplit(full, 'train');
    expect(train.images).toEqual(['a.png', 'c.png']);
    expect(train.examples.map((e) => train.images[e.imageIndex])).toEqual(['a.png', 'c.png']);
    expect(full.examples).toHaveLength(4); // the original is left as it was
  });

  it('fails for a split the dataset does not have, naming the ones it has', () => {
    expect(() => selectSplit(dataset(3, 1), 'test')).toThrow(DatasetError);
    expect(() => selectSplit(dataset(3, 1), 'test')).toThrow('The dataset\'s splits are "train": choose one of them.');
  });
});

describe('assignValidationSplit', () => {
  it('holds out whole images, never some captions of an image', () => {
    const result = assignValidationSplit(dataset(100, 5), { fraction: 0.2, seed: 7 });
    expect(result.splits).toEqual(['train', 'validation']);
    const splitsOfImage = new Map<number, Set<string>>();
    for (const e of result.examples) splitsOfImage.set(e.imageIndex, (splitsOfImage.get(e.imageIndex) ?? new Set()).add(e.split));
    expect([...splitsOfImage.values()].every((s) => s.size === 1)).toBe(true);
    const held = [...splitsOfImage.values()].filter((s) => s.has('validation')).length;
    expect(held).toBe(20);
    expect(result.examples.filter((e) => e.split === 'validation')).toHaveLength(100);
  });

  it('is deterministic from the seed and the image names, whatever the order of the rows', () => {
    const heldNames = (d: CaptionDataset) => d.examples.filter((e) => e.split === 'validation').map((e) => d.images[e.imageIndex]).sort();
    const base = dataset(50, 2);
    const a = heldNames(assignValidationSplit(base, { fraction: 0.1, seed: 1 }));
    expect(heldNames(assignValidationSplit(base, { fraction: 0.1, seed: 1 }))).toEqual(a);
    const reversed = { ...base, images: [...base.images].reverse(), examples: base.examples.map((e) => ({ ...e, imageIndex: 49 - e.imageIndex })).reverse() };
    expect(heldNames(assignValidationSplit(reversed, { fraction: 0.1, seed: 1 }))).toEqual(a);
    expect(heldNames(assignValidationSplit(base, { fraction: 0.1, seed: 2 }))).not.toEqual(a);
  });

  it('holds out at least one image and keeps at least one, moves only training images', () => {
    const tiny = assignValidationSplit(dataset(2, 1), { fraction: 0.01, seed: 0 });
    expect(tiny.examples.map((e) => e.split).sort()).toEqual(['train', 'validation']);
    const most = assignValidationSplit(dataset(3, 1), { fraction: 0.99, seed: 0 });
    expect(most.examples.filter((e) => e.split === 'train')).toHaveLength(1);
    const withTest = assignValidationSplit(dataset(10, 1, (i) => (i < 5 ? 'test' : 'train')), { fraction: 0.4, seed: 3 });
    expect(withTest.splits).toEqual(['train', 'validation', 'test']);
    expect(withTest.examples.filter((e) => e.split === 'test')).toHaveLength(5);
    expect(withTest.examples.filter((e) => e.split === 'validation')).toHaveLength(2);
  });

  it('returns a dataset that has a validation split as it is', () => {
    const own = dataset(10, 1, (i) => (i < 3 ? 'validation' : 'train'));
    expect(assignValidationSplit(own, { fraction: 0.5, seed: 1 })).toBe(own);
  });

  it('refuses fractions outside (0, 1), a seed that is not whole, and a training split of one image', () => {
    for (const fraction of [0, 1, -0.5, Number.NaN]) expect(() => assignValidationSplit(dataset(10, 1), { fraction, seed: 1 })).toThrow(ConfigError);
    expect(() => assignValidationSplit(dataset(10, 1), { fraction: 0.1, seed: 0.5 })).toThrow(ConfigError);
    expect(() => assignValidationSplit(dataset(1, 3), { fraction: 0.5, seed: 1 })).toThrow('the training split has 1 image, too few');
  });
});

describe('tasks (a task column: one adapter per task)', () => {
  async function twoTasks(): Promise<CaptionDataset> {
    const rows = [
      ...['a', 'b', 'c', 'd', 'e', 'f'].flatMap((name, i) => [
        { file_name: `${name}.png`, text: `describe ${name}`, prompt: 'caption en', task: 'describe', split: i < 4 ? 'train' : 'validation' },
        { file_name: `${name}.png`, text: `count ${name}`, task: 'count', split: i < 4 ? 'train' : 'validation' },
      ]),
      { file_name: 'g.png', text: 'no task', split: 'train' },
      { file_name: 'h.png', text: 'no task either', split: 'validation' },
      { file_name: 'a.png', text: 'describe a', prompt: 'caption en', task: 'describe' }, // a duplicate within its task
      { file_name: 'a.png', text: 'describe a', prompt: 'caption en', task: 'count' }, // the same row in another task is not
      { file_name: 'a.png', text: 'x', task: 7 },
      { file_name: 'a.png', text: 'y', task: { name: 'bad' } },
      { file_name: 'a.png', text: 'z', task: 'q'.repeat(101) },
    ];
    const files = Object.fromEntries(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((n) => [`${n}.png`, n]));
    const source = memorySource('tasks', new Map(Object.entries({ 'metadata.jsonl': rows.map((r) => JSON.stringify(r)).join('\n'), ...files })
      .map(([k, v]) => [k, new TextEncoder().encode(v)])));
    return readDataset(source);
  }

  it('reads the task of each row, counts the tasks, and skips a task that is not a short text', async () => {
    const data = await twoTasks();
    expect(tasksOf(data)).toEqual([{ task: 'describe', examples: 6 }, { task: 'count', examples: 7 }, { task: '7', examples: 1 }]);
    expect(data.examples.filter((e) => e.task === undefined).map((e) => e.caption)).toEqual(['no task', 'no task either']);
    expect(data.skipped.map((s) => s.reason)).toEqual([
      expect.stringMatching(/^duplicate of metadata.jsonl line 1$/),
      'the task is not text: name it in a few words, e.g. "count"',
      expect.stringMatching(/^the task is 101 characters long, more than 100/),
    ]);
  });

  it('chooses a task\'s examples only, with its own validation split, and names the tasks when one is missing', async () => {
    const data = await twoTasks();
    const options = { mode: 'dataset' as const, fraction: 0.25, seed: 0, maxTrainImages: 0, maxValidationImages: 0 };
    const count = chooseSplit(data, { ...options, task: 'count' });
    expect(count.train.map((e) => e.caption)).toEqual(['count a', 'count b', 'count c', 'count d', 'describe a']);
    expect(count.validation.map((e) => e.caption)).toEqual(['count e', 'count f']);
    expect(chooseSplit(data, options).train).toHaveLength(11);
    expect(() => chooseSplit(data, { ...options, task: 'ocr' })).toThrow(DatasetError);
    expect(() => chooseSplit(data, { ...options, task: 'ocr' })).toThrow('The dataset\'s tasks are "describe", "count", "7": choose one of them, or all tasks.');
  });

  it('selects one task\'s examples and their images, re-indexed (the command line\'s --task)', async () => {
    const data = await twoTasks();
    const count = selectTask(data, 'count');
    expect(count.examples.map((e) => [count.images[e.imageIndex], e.caption])).toEqual([
      ...['a', 'b', 'c', 'd', 'e', 'f'].map((n) => [`${n}.png`, `count ${n}`]), ['a.png', 'describe a'],
    ]);
    expect(count.images).toEqual(['a.png', 'b.png', 'c.png', 'd.png', 'e.png', 'f.png']);
    expect(count.splits).toEqual(['train', 'validation']);
    expect(() => selectTask(data, 'ocr')).toThrow('no examples of task "ocr"');
  });

  it('routes validation by task: each task\'s own held-out images, so no adapter is scored on an image it trained on', async () => {
    const data = await twoTasks();
    const options = { mode: 'holdout' as const, fraction: 0.34, seed: 3, maxTrainImages: 0, maxValidationImages: 0 };
    const routed = validationByTask(data, options);
    expect(routed.train).toEqual([]);
    expect(() => chooseSplit(data, { ...options, task: '7' })).toThrow(DatasetError); // one image: nothing to hold out
    expect(routed.validation.some((e) => e.task === '7')).toBe(false);
    for (const { task } of tasksOf(data).filter((t) => t.task !== '7')) {
      const own = chooseSplit(data, { ...options, task });
      const trained = new Set(own.train.map((e) => e.imageIndex));
      const scored = routed.validation.filter((e) => e.task === task);
      expect(scored).toEqual(own.validation);
      expect(scored.some((e) => trained.has(e.imageIndex))).toBe(false);
    }
    expect(routed.validation.filter((e) => e.task === undefined).length).toBeLessThanOrEqual(1);
  });
});
