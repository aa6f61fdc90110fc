/**
 * The training settings the studio shows, with their defaults (the paper's, from src/config.ts)
 * and a line of help each. Shared by the Train panel and the worker (which converts epochs to steps).
 */
import { DEFAULT_CONFIG, type TrainConfig } from '../config.ts';
import type { SplitOptions } from '../data/splits.ts';

export type { SplitOptions };

/** What the Train panel edits: the engine's config plus how the run length and validation are given. */
export interface StudioSettings {
  config: TrainConfig;
  /** The run's length as the person gives it; converted to config.steps. */
  length: { unit: 'steps' | 'epochs'; value: number };
  validateEvery: number;
  /** A checkpoint in the browser every this many steps (and on pause); 0 = only on pause and at the end. */
  checkpointEvery: number;
}

export const DEFAULT_SETTINGS: StudioSettings = {
  config: structuredClone(DEFAULT_CONFIG) as TrainConfig,
  length: { unit: 'steps', value: DEFAULT_CONFIG.steps },
  validateEvery: 50,
  // A few seconds of a real GPU's work between checkpoints; a checkpoint of the default model is about 300 KB.
  checkpointEvery: 50,
};

export const DEFAULT_SPLIT: SplitOptions = { mode: 'dataset', fraction: 0.1, seed: 0, maxTrainImages: 0, maxValidationImages: 0 };

/** Steps of a run: as given, or epochs × ⌈examples / batch⌉. */
export function stepsOf(settings: StudioSettings, trainExamples: number): number {
  const { unit, value } = settings.length;
  if (unit === 'steps') return Math.max(1, Math.round(value));
  return Math.max(1, Math.round(value * Math.ceil(Math.max(1, trainExamples) / settings.config.batchSize)));
}

export const HELP = {
  modalities: 'Which embeddings get an adapter: the image tokens from the vision tower, the prompt\'s text tokens, or both (the paper: both, one adapter each).',
  rank: 'Width r of the low-rank link E + (E·Wdown)·Wup. The paper uses 64; quality is flat past that, and the file grows with r.',
  learningRate: 'Step size. The paper uses 0.03 with Adafactor; with AdamW try 1e-3.',
  optimizer: 'Adafactor (the paper\'s; small optimizer state) or AdamW.',
  warmupSteps: 'Steps over which the learning rate rises linearly from 0 — keeps the first updates gentle.',
  schedule: 'After warm-up: inverse square root decay (the paper\'s) or constant.',
  batchSize: 'Examples per step. Larger is smoother but needs more GPU memory and time per step.',
  length: 'How long to train: a number of steps, or of passes over the training split (epochs).',
  dropout: 'Dropout on the adapter path during training (the paper: 0.1). Off when captioning.',
  seed: 'Fixes the starting weights, the data order and dropout: the same seed gives the same run.',
  clipNorm: 'Gradients larger than this (global norm) are scaled down; 0 turns clipping off.',
  validateEvery: 'Compute the loss on the validation split every this many steps (0: only before and after).',
  checkpointEvery: 'Save the run in this browser every this many steps (and on pause), so that a closed tab or a lost GPU costs at most this many steps (0: only on pause).',
} as const;
