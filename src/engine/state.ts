/**
 * The whole training state as one serialisable object: config, step, adapter weights, optimizer moments
 * and the loss history. Randomness is counter-based (docs/ENGINE.md §3) — the data order and the dropout
 * masks are functions of (seed, step) — so the seed and step are the RNG state and the data position.
 * A state saved at step s and restored continues exactly as the uninterrupted run.
 */
import { readSafetensors, writeSafetensors } from '../formats/safetensors.ts';
import type { TrainConfig } from './config.ts';
import { FormatError } from './errors.ts';

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
  const json = file.metadata['adalink.training_state'];
  if (json === undefined) throw new FormatError('not a training state (no adalink.training_state metadata)', where, 'Choose a checkpoint saved by the studio.');
  const rest = JSON.parse(json) as Omit<TrainingState, 'tensors'>;
  if (rest.format !== 'adalink-training-state' || rest.version !== 1) {
    throw new FormatError(`unknown training-state format ${rest.format} v${rest.version}`, where, 'Choose a checkpoint saved by this version of the studio.');
  }
  const tensors: Record<string, Float32Array> = {};
  for (const [name, tensor] of file.tensors) {
    if (tensor.dtype !== 'F32') throw new FormatError(`tensor ${name} is ${tensor.dtype}, expected F32`, where, 'The checkpoint is damaged.');
    tensors[name] = new Float32Array(tensor.bytes.buffer, tensor.bytes.byteOffset, tensor.bytes.byteLength / 4);
  }
  return { ...rest, tensors };
}
