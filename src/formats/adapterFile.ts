/**
 * The adapter file a user takes away (docs/FORMATS.md): safetensors with, per modality m, `<m>.wdown` [d, r]
 * and `<m>.wup` [r, d], so that Ẽ_m = E_m + (E_m·Wdown)·Wup; the metadata says which model and how it
 * was trained. The Python side reads it with `safetensors.safe_open` (tools/README.md).
 */
import { MODALITIES, type Modality, type TrainConfig } from '../config.ts';
import { FormatError, shorten, shown } from '../errors.ts';
import type { TrainingState } from './trainingState.ts';
import type { ModelManifest } from './manifest.ts';
import { readSafetensors, tensorAsFloat32, writeSafetensors } from './safetensors.ts';

export interface AdapterWeights {
  modality: Modality;
  rank: number;
  wdown: Float32Array;
  wup: Float32Array;
}

export interface Adapter {
  baseModel: string;
  dModel: number;
  weights: AdapterWeights[];
  /** String metadata as stored (training config, step, loss…). */
  metadata: Record<string, string>;
}

/** The adapter of a training state, as a safetensors file. */
export function writeAdapterFile(state: TrainingState, manifest: ModelManifest, extra: Record<string, string> = {}): Uint8Array {
  const d = manifest.d_model;
  const config: TrainConfig = state.config;
  const tensors = adapterWeightsOfState(state).flatMap(({ modality: m, rank: r, wdown, wup }) => [
    { name: `${m}.wdown`, shape: [d, r], values: wdown },
    { name: `${m}.wup`, shape: [r, d], values: wup },
  ]);
  return writeSafetensors(tensors, {
    format: 'adalink-adapter',
    base_model: manifest.id,
    d_model: String(d),
    modalities: config.modalities.join(','),
    ...Object.fromEntries(config.modalities.map((m) => [`rank.${m}`, String(config.rank[m])])),
    steps: String(state.step),
    final_loss: String(state.losses.at(-1) ?? ''),
    training_config: JSON.stringify(config),
    ...extra,
  });
}

/** The adapter weights of a training state (Trainer.exportState() or a checkpoint), e.g. for generation. */
export function adapterWeightsOfState(state: TrainingState): AdapterWeights[] {
  return state.config.modalities.map((modality) => ({
    modality, rank: state.config.rank[modality], wdown: state.tensors[`${modality}.wdown`], wup: state.tensors[`${modality}.wup`],
  }));
}

/** Reads an adapter file and checks it against the model it is meant for. */
export function readAdapterFile(bytes: Uint8Array, manifest: ModelManifest, where = 'adapter file'): Adapter {
  const file = readSafetensors(bytes, where);
  const meta = file.metadata;
  if (meta.format !== 'adalink-adapter') throw new FormatError('not an AdaLink adapter (no format=adalink-adapter metadata)', where, 'Choose a .safetensors adapter saved by the studio.');
  if (meta.base_model !== manifest.id) {
    throw new FormatError(`the adapter was trained for model "${shorten(meta.base_model ?? '')}", the loaded model is "${manifest.id}"`, where, `Load model "${shorten(meta.base_model ?? '')}" first.`);
  }
  const d = manifest.d_model;
  const modalities = (meta.modalities ?? '').split(',').filter(Boolean);
  for (const [i, m] of modalities.entries()) {
    if (!MODALITIES.includes(m as Modality) || modalities.indexOf(m) !== i) {
      throw new FormatError(`its modalities "${shorten(meta.modalities)}" are not "image", "text" or both, once each`, where, 'Choose an adapter saved by the studio.');
    }
  }
  const weights = (modalities as Modality[]).map((modality) => {
    const wdown = tensorAsFloat32(file, `${modality}.wdown`, where);
    const wup = tensorAsFloat32(file, `${modality}.wup`, where);
    const r = wdown.shape[1];
    if (wdown.shape.length !== 2 || wup.shape.length !== 2 || wdown.shape[0] !== d || r < 1 || wup.shape[0] !== r || wup.shape[1] !== d) {
      throw new FormatError(`${modality} weights have shapes ${shown(wdown.shape)} and ${shown(wup.shape)}, expected [${d}, r] and [r, ${d}] with r ≥ 1`, where,
        'The adapter does not fit this model.');
    }
    return { modality, rank: r, wdown: wdown.values, wup: wup.values };
  });
  if (weights.length === 0) throw new FormatError('the adapter names no modality', where, 'Choose an adapter saved by the studio.');
  return { baseModel: meta.base_model, dModel: d, weights, metadata: meta };
}
