/**
 * What the Florence-2 engine tests share, whichever way the model was loaded (a package: florence.test.ts; the
 * Hub's layout: hubPackage.test.ts): the reference fixtures, the tiny-captions images with their features
 * cached, the encoded examples, a caption generator and the inputs of the greedy fixture's examples.
 */
import { readFileSync } from 'node:fs';
import { folderSource } from '../../cli/fileSource.ts';
import { installNodeWebGpu } from '../../cli/nodeGpu.ts';
import { readImageFolder } from '../../data/imagefolder.ts';
import type { EncodedExample } from '../batch.ts';
import { cacheImageFeatures, type FeatureCache } from '../featureCache.ts';
import { CaptionGenerator, type CaptionInputs } from '../generate.ts';
import { releaseModelPackage, type ModelPackage } from '../modelPackage.ts';
import { encodeExamples } from '../trainer.ts';
import type { GreedyFixture, ReferenceFixture } from './tinySetup.ts';

const DATASET = 'e2e/fixtures/tiny-captions';
export const florenceTraining: ReferenceFixture = JSON.parse(readFileSync('e2e/fixtures/reference-florence-adamw.json', 'utf8'));
export const florenceGreedy: GreedyFixture = JSON.parse(readFileSync('e2e/fixtures/reference-greedy-florence.json', 'utf8'));

export interface FlorenceSetup {
  pkg: ModelPackage;
  images: string[];
  features: FeatureCache;
  examples: EncodedExample[];
  generator: CaptionGenerator;
  /** The greedy fixture's examples: their images in `features`, their prompt ids. */
  inputs: CaptionInputs;
}

export async function florenceSetup(load: () => Promise<ModelPackage>): Promise<FlorenceSetup> {
  installNodeWebGpu();
  const pkg = await load();
  const dataset = await readImageFolder(folderSource(DATASET));
  const features = await cacheImageFeatures(pkg, dataset);
  return {
    pkg, images: dataset.images, features,
    examples: encodeExamples(pkg, dataset.examples, features),
    generator: new CaptionGenerator(pkg),
    inputs: {
      features,
      imageIndices: florenceGreedy.examples.map((e) => dataset.images.indexOf(e.file_name)),
      promptIds: florenceGreedy.examples.map((e) => e.prompt_ids),
    },
  };
}

export async function releaseFlorenceSetup(setup: Partial<FlorenceSetup> | undefined): Promise<void> {
  setup?.generator?.destroy();
  setup?.features?.buffer.destroy();
  if (setup?.pkg) await releaseModelPackage(setup.pkg);
}

export function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / Math.abs(expected[i]));
  return worst;
}
