/**
 * The whole training state as one serialisable object: config, step, adapter weights, optimizer moments
 * and the loss history. Randomness is counter-based (docs/ENGINE.md §3) — the data order and the dropout
 * masks are functions of (seed, step) — so the seed and step are the RNG state and the data position.
 * A state saved at step s and restored continues exactly as the uninterrupted run.
 */
import { readSafetensors, writeSafetensors } from './safetensors.ts';
import { validateConfig, type TrainConfig } from '../config.ts';
import { ConfigError, FormatError, shorten, shown } from '../errors.ts';

export interface TrainingState {
  format: 'adalink-training-state';
  version: 1;
  /** The model package the adapter belongs to. */
  packageId: string;
  /** Examples in the training set (the data order depends on it). */
  exampleCount: number;
  config: TrainConfig;
  /** Updates applied so far; the next step to run has this index. */
  step: number;
  /** Loss of each step run so far (length = step). */
  losses: number[];
  /** Adapter weights and optimizer state by name (see Trainer.tensorNames). */
  tensors: Record<string, Float32Array>;
}

/** The state as one safetensors file: the tensors, and everything else as JSON in the metadata. */
export function encodeTrainingState(state: TrainingState): Uint8Array {
  const { tensors, ...rest } = state;
  return writeSafetensors(
    Object.entries(tensors).map(([name, values]) => ({ name, shape: [values.length], values })),
    { 'adalink.training_state': JSON.stringify(rest) },
  );
}

export function decodeTrainingState(bytes: Uint8Array, where = 'training state'): TrainingState {
  const file = readSafetensors(bytes, where);
  const damaged = (problem: string) => new FormatError(problem, where, 'The checkpoint is damaged: start a new run, or choose another checkpoint.');
  const json = file.metadata['adalink.training_state'];
  if (json === undefined) throw new FormatError('not a training state (no adalink.training_state metadata)', where, 'Choose a checkpoint saved by the studio.');
  let rest: Omit<TrainingState, 'tensors'>;
  try {
    rest = JSON.parse(json);
  } catch (e) {
    throw damaged(`its adalink.training_state metadata is not JSON: ${shorten((e as Error).message)}`);
  }
  if (typeof rest !== 'object' || rest === null || Array.isArray(rest)) throw damaged('its adalink.training_state metadata is not a JSON object');
  if (rest.format !== 'adalink-training-state' || rest.version !== 1) {
    throw new FormatError(`unknown training-state format ${shown(rest.format)} v${shown(rest.version)}`, where, 'Choose a checkpoint saved by this version of the studio.');
  }
  const { packageId, exampleCount, config, step, losses } = rest;
  if (typeof packageId !== 'string') throw damaged(`its packageId is ${shown(packageId)}, not text`);
  if (!Number.isSafeInteger(exampleCount) || exampleCount < 1) throw damaged(`its exampleCount is ${shown(exampleCount)}, not a positive integer`);
  if (typeof config !== 'object' || config === null || !Array.isArray(config.modalities) || typeof config.rank !== 'object' || config.rank === null) {
    throw damaged('its config is not a training config');
  }
  try {
    // The model's width is checked when the state is resumed (Trainer); here only that each setting is one.
    validateConfig(config, Number.MAX_SAFE_INTEGER);
  } catch (e) {
    if (e instanceof ConfigError) throw damaged(`its config has a bad setting: ${e.problem}`);
    throw e;
  }
  if (!Number.isSafeInteger(step) || step < 0) throw damaged(`its step is ${shown(step)}, not an integer ≥ 0`);
  if (!Array.isArray(losses) || losses.length !== step || !losses.every((l) => typeof l === 'number')) {
    throw damaged(`its losses are not ${step} numbers, one a step run`);
  }
  // No prototype: a tensor may be named "__proto__" or "constructor" without becoming something else.
  const tensors: Record<string, Float32Array> = Object.create(null);
  for (const [name, tensor] of file.tensors) {
    if (tensor.dtype !== 'F32') throw new FormatError(`tensor ${shorten(name)} is ${tensor.dtype}, expected F32`, where, 'The checkpoint is damaged.');
    tensors[name] = new Float32Array(tensor.bytes.buffer, tensor.bytes.byteOffset, tensor.bytes.byteLength / 4);
  }
  return { ...rest, tensors };
}
