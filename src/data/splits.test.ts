import { describe, expect, it } from 'vitest';
import { ConfigError, DatasetError } from '../errors.ts';
import type { CaptionDataset } from './captionDataset.ts';
import { readDataset } from './dataset.ts';
import { memorySource } from './source.ts';
import { assignValidationSplit, selectSplit } from './splits.ts';

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
