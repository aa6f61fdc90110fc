/**
 * The bundled default model (public/models/pali-scenes-default) on the shipped demo dataset, in Node over
 * Dawn: greedy captions of validation images equal PyTorch's token for token (tools/reference_greedy.py
 * → e2e/fixtures/reference-greedy-default.json), frozen and with the committed adapter; and the evaluation
 * the studio shows scores exactly those captions.
 *
 * A greedy pass of the default model takes SwiftShader seconds per token at batch 20, in proportion to the
 * batch: of the fixture's 20 images, the HARDEST_IMAGES whose PyTorch captions are closest to another token
 * (smallest min_margin, frozen or adapted) are checked — those a rounding or a wrong input would change first.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installNodeWebGpu } from '../cli/nodeGpu.ts';
import { folderSource } from '../cli/fileSource.ts';
import { readDataset, type CaptionDataset } from '../data/dataset.ts';
import { selectSplit } from '../data/splits.ts';
import { zipSource } from '../data/zip.ts';
import { scoreCaptions } from '../eval/metrics.ts';
import { readAdapterFile, type AdapterWeights } from '../formats/adapterFile.ts';
import { evaluateCaptions, evaluationItems } from './evaluate.ts';
import { cacheImageFeatures, type FeatureCache } from './featureCache.ts';
import { CaptionGenerator } from './generate.ts';
import { loadModelPackage, releaseModelPackage, type ModelPackage } from './modelPackage.ts';

interface DefaultGreedyFixture {
  adapter: { source: string };
  examples: Array<{
    file_name: string; prompt: string; prompt_ids: number[];
    base: { ids: number[]; caption: string; min_margin: number }; adapted: { ids: number[]; caption: string; min_margin: number };
  }>;
}

const HARDEST_IMAGES = 10;
const fullFixture: DefaultGreedyFixture = JSON.parse(readFileSync('e2e/fixtures/reference-greedy-default.json', 'utf8'));
const margin = (e: DefaultGreedyFixture['examples'][number]) => Math.min(e.base.min_margin, e.adapted.min_margin);
/** The fixture with its hardest examples alone, in the fixture's order. */
const fixture: DefaultGreedyFixture = {
  ...fullFixture,
  examples: fullFixture.examples.filter((e) => [...fullFixture.examples].sort((a, b) => margin(a) - margin(b)).indexOf(e) < HARDEST_IMAGES),
};
let pkg: ModelPackage;
let dataset: CaptionDataset;
let features: FeatureCache;
let adapter: AdapterWeights[];

/** Only the fixture's images (in the fixture's order) and their rows. */
function fixtureImages(validation: CaptionDataset): CaptionDataset {
  const images = fixture.examples.map((e) => e.file_name);
  const examples = validation.examples
    .filter((e) => images.includes(validation.images[e.imageIndex]))
    .map((e) => ({ ...e, imageIndex: images.indexOf(validation.images[e.imageIndex]) }));
  return { ...validation, images, examples };
}

beforeAll(async () => {
  installNodeWebGpu();
  pkg = await loadModelPackage(folderSource('public/models/pali-scenes-default'));
  const demo = await readDataset(zipSource(new Uint8Array(readFileSync('public/demo/relational-captions.zip')), 'relational-captions.zip'));
  dataset = fixtureImages(selectSplit(demo, 'validation'));
  features = await cacheImageFeatures(pkg, dataset);
  adapter = readAdapterFile(new Uint8Array(readFileSync(`e2e/fixtures/${fixture.adapter.source}`)), pkg.manifest).weights;
}, 300_000);

afterAll(async () => {
  features?.buffer.destroy();
  if (pkg) await releaseModelPackage(pkg);
});

describe(`default model: greedy captions equal PyTorch token for token on the ${HARDEST_IMAGES} hardest of 20 validation images`, () => {
  const generate = async (weights: AdapterWeights[]) => {
    const generator = new CaptionGenerator(pkg);
    try {
      return await generator.generate({
        features,
        imageIndices: fixture.examples.map((_, i) => i),
        promptIds: fixture.examples.map((e) => pkg.text.promptIds(e.prompt)),
      }, weights, { batchSize: HARDEST_IMAGES });
    } finally {
      generator.destroy();
    }
  };

  it('encodes the prompts as PyTorch did', () => {
    expect(fixture.examples).toHaveLength(HARDEST_IMAGES);
    expect(dataset.images).toHaveLength(HARDEST_IMAGES);
    expect(features.ok.every(Boolean)).toBe(true);
    fixture.examples.forEach((e) => expect(pkg.text.promptIds(e.prompt)).toEqual(e.prompt_ids));
  });

  it('frozen', async () => {
    const captions = await generate([]);
    expect(captions.map((c) => c.ids)).toEqual(fixture.examples.map((e) => e.base.ids));
    expect(captions.map((c) => c.caption)).toEqual(fixture.examples.map((e) => e.base.caption));
  }, 300_000);

  // One captioning pass of the adapted model: the studio's evaluation, whose captions are checked against PyTorch's.
  it('with the committed adapter, through the evaluation, which scores exactly these captions', async () => {
    const items = evaluationItems(pkg, dataset, features);
    expect(items.map((item) => item.image)).toEqual(fixture.examples.map((e) => e.file_name));
    const evaluation = await evaluateCaptions(pkg, items, features, adapter, { batchSize: HARDEST_IMAGES });
    expect(evaluation.captions.map((c) => c.caption)).toEqual(fixture.examples.map((e) => e.adapted.caption));
    const refs = Object.fromEntries(items.map((item, i) => [i, item.references]));
    const cands = Object.fromEntries(fixture.examples.map((e, i) => [i, e.adapted.caption]));
    expect(evaluation.scores).toEqual(scoreCaptions(refs, cands));
    expect(evaluation.scores['CIDEr-D']).toBeGreaterThan(1);
  }, 300_000);
});
