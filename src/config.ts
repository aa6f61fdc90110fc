/**
 * One typed training config. Its defaults are the paper's multimodal settings (AdaLink, Wang et al. 2023:
 * rank 64 per modality, Adafactor, lr 0.03, linear warm-up then inverse-sqrt decay, dropout 0.1 on the
 * adapter path), with a batch size a laptop GPU holds.
 */
import { ConfigError, shown } from './errors.ts';

export type Modality = 'image' | 'text';
export const MODALITIES: readonly Modality[] = ['image', 'text'];

export interface TrainConfig {
  /** Which modalities get an adapter; the other passes through unchanged. */
  modalities: Modality[];
  /** Rank r of each modality's adapter (1 ≤ r ≤ d_model). */
  rank: Record<Modality, number>;
  optimizer: 'adafactor' | 'adamw';
  learningRate: number;
  /** Linear warm-up steps W; then `inverse_sqrt` decays as sqrt(W/t), `constant` holds. */
  warmupSteps: number;
  schedule: 'inverse_sqrt' | 'constant';
  weightDecay: number;
  /** Global gradient-norm clip; 0 turns clipping off. */
  clipNorm: number;
  batchSize: number;
  steps: number;
  /** Dropout probability on the adapter's hidden activations. */
  dropout: number;
  seed: number;
  adamBeta1: number;
  adamBeta2: number;
  adamEpsilon: number;
}

const paperDefaults: TrainConfig = {
  modalities: ['image', 'text'],
  rank: { image: 64, text: 64 },
  optimizer: 'adafactor',
  learningRate: 0.03,
  warmupSteps: 100,
  schedule: 'inverse_sqrt',
  weightDecay: 0,
  clipNorm: 1.0,
  batchSize: 16,
  steps: 1000,
  dropout: 0.1,
  seed: 0,
  adamBeta1: 0.9,
  adamBeta2: 0.999,
  adamEpsilon: 1e-8,
};

export const DEFAULT_CONFIG: Readonly<TrainConfig> = Object.freeze(paperDefaults);

export function withDefaults(partial: Partial<TrainConfig>): TrainConfig {
  return { ...DEFAULT_CONFIG, ...partial, rank: { ...DEFAULT_CONFIG.rank, ...partial.rank }, modalities: [...(partial.modalities ?? DEFAULT_CONFIG.modalities)] };
}

/** Checks every field against the model's width d; raises a ConfigError naming the field. */
export function validateConfig(config: TrainConfig, dModel: number): TrainConfig {
  const fail = (field: string, problem: string, fix: string) => new ConfigError(problem, `training setting "${field}"`, fix);
  if (config.modalities.length === 0 || !config.modalities.every((m) => MODALITIES.includes(m))) {
    throw fail('modalities', `modalities must be "image", "text" or both, got ${shown(config.modalities)}`, 'Choose at least one modality.');
  }
  for (const m of config.modalities) {
    const r = config.rank[m];
    if (!Number.isInteger(r) || r < 1 || r > dModel) {
      throw fail(`rank.${m}`, `rank ${shown(r)} is not an integer between 1 and d_model = ${dModel}`,
        `Pick a rank from 1 to ${dModel}; the paper uses 64, and quality is flat past that.`);
    }
  }
  const positive = (field: keyof TrainConfig, integer: boolean) => {
    const v = config[field] as number;
    if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
      throw fail(field, `${field} must be a positive ${integer ? 'integer' : 'number'}, got ${shown(v)}`, 'Set a positive value.');
    }
  };
  positive('learningRate', false);
  positive('batchSize', true);
  positive('steps', true);
  positive('adamEpsilon', false);
  const inRange = (field: keyof TrainConfig, lo: number, hi: number, integer = false) => {
    const v = config[field] as number;
    if (!Number.isFinite(v) || v < lo || v >= hi || (integer && !Number.isInteger(v))) {
      throw fail(field, `${field} must be in [${lo}, ${hi}), got ${shown(v)}`, `Set ${field} inside that range.`);
    }
  };
  inRange('warmupSteps', 0, Number.MAX_SAFE_INTEGER, true);
  inRange('weightDecay', 0, 1);
  inRange('clipNorm', 0, Number.MAX_VALUE);
  inRange('dropout', 0, 1);
  inRange('adamBeta1', 0, 1);
  inRange('adamBeta2', 0, 1);
  inRange('seed', 0, 2 ** 32, true);
  if (config.optimizer !== 'adafactor' && config.optimizer !== 'adamw') {
    throw fail('optimizer', `optimizer must be "adafactor" or "adamw", got ${shown(config.optimizer)}`, 'Choose one of the two.');
  }
  if (config.schedule !== 'inverse_sqrt' && config.schedule !== 'constant') {
    throw fail('schedule', `schedule must be "inverse_sqrt" or "constant", got ${shown(config.schedule)}`, 'Choose one of the two.');
  }
  return config;
}

/** The learning rate of update t = 1, 2, … (docs/ENGINE.md §5). */
export function learningRateAt(config: TrainConfig, t: number): number {
  const { learningRate: lr, warmupSteps: w, schedule } = config;
  if (schedule === 'constant') return w === 0 ? lr : lr * Math.min(1, t / w);
  return w === 0 ? lr / Math.sqrt(t) : lr * Math.min(t / w, Math.sqrt(w / t));
}
