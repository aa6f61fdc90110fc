/**
 * The tiny test package and dataset, loaded once per test file in Node over Dawn (real WebGPU on
 * SwiftShader or a GPU), plus the PyTorch reference fixtures (tools/reference_train.py).
 */
import { readFileSync } from 'node:fs';
import { folderSource } from '../../cli/fileSource.ts';
import { installNodeWebGpu } from '../../cli/nodeGpu.ts';
import { readImageFolder, type CaptionDataset } from '../../data/imagefolder.ts';
import type { AdapterWeights } from '../../formats/adapterFile.ts';
import type { EncodedExample } from '../batch.ts';
import { withDefaults, type TrainConfig } from '../../config.ts';
import { cacheImageFeatures, type FeatureCache } from '../featureCache.ts';
import { loadModelPackage, type ModelPackage } from '../modelPackage.ts';
import { encodeExamples } from '../trainer.ts';

export const TINY_PACKAGE = 'public/models/tiny-pali-test';
export const TINY_DATASET = 'e2e/fixtures/tiny-captions';

export interface ReferenceFixture {
  config: {
    optimizer: 'adamw' | 'adafactor'; lr: number; warmup: number; schedule: 'inverse_sqrt' | 'constant'; weight_decay: number;
    clip: number; batch_size: number; steps: number; seed: number; rank: { image: number; text: number }; dropout: number;
  };
  examples: Array<{ file_name: string; prompt_ids: number[]; target_ids: number[] }>;
  init: { wdown_image: number[]; wdown_text: number[] };
  batches: number[][];
  losses: number[];
  final: { wdown_image: number[]; wup_image: number[]; wdown_text: number[]; wup_text: number[] };
}

export function readFixture(name: 'adamw' | 'adafactor'): ReferenceFixture {
  return JSON.parse(readFileSync(`e2e/fixtures/reference-${name}.json`, 'utf8'));
}

/** A training fixture's final adapter (the weights PyTorch ended with). */
export function fixtureAdapter(fixture: ReferenceFixture): AdapterWeights[] {
  return (['image', 'text'] as const).map((modality) => ({
    modality, rank: fixture.config.rank[modality],
    wdown: new Float32Array(fixture.final[`wdown_${modality}`]), wup: new Float32Array(fixture.final[`wup_${modality}`]),
  }));
}

/** PyTorch's greedy captions of every image, without and with the Adafactor fixture's final adapter (ENGINE.md §7). */
export interface GreedyFixture {
  max_target_tokens: number;
  adapter: { source: string; weights: 'final'; rank: { image: number; text: number } };
  examples: Array<{
    file_name: string; prompt: string; prompt_ids: number[];
    base: { ids: number[]; caption: string; min_margin: number };
    adapted: { ids: number[]; caption: string; min_margin: number };
  }>;
}

export function readGreedyFixture(): GreedyFixture {
  return JSON.parse(readFileSync('e2e/fixtures/reference-greedy.json', 'utf8'));
}

/** The engine's config for a fixture's settings. */
export function fixtureConfig(fixture: ReferenceFixture): TrainConfig {
  const c = fixture.config;
  return withDefaults({
    modalities: ['image', 'text'], rank: c.rank, optimizer: c.optimizer, learningRate: c.lr, warmupSteps: c.warmup,
    schedule: c.schedule, weightDecay: c.weight_decay, clipNorm: c.clip, batchSize: c.batch_size, steps: c.steps,
    dropout: c.dropout, seed: c.seed,
  });
}

export interface TinySetup {
  pkg: ModelPackage;
  dataset: CaptionDataset;
  features: FeatureCache;
  examples: EncodedExample[];
}

export async function loadTiny(): Promise<TinySetup> {
  installNodeWebGpu();
  const pkg = await loadModelPackage(folderSource(TINY_PACKAGE));
  const dataset = await readImageFolder(folderSource(TINY_DATASET));
  const features = await cacheImageFeatures(pkg, dataset);
  return { pkg, dataset, features, examples: encodeExamples(pkg, dataset.examples, features) };
}
