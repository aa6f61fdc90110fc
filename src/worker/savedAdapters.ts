/**
 * The adapters saved in this browser (src/storage/adapterStore.ts), as the engine uses them: read back and
 * checked against the loaded model, each task's newest (what an evaluation by task routes through), a file to
 * download, and a file imported from elsewhere (the studio's format: from another browser, the command line
 * or the Python package).
 */
import { withDefaults, type TrainConfig } from '../config.ts';
import { ConfigError } from '../errors.ts';
import type { ModelPackage } from '../engine/modelPackage.ts';
import { readAdapterFile, type AdapterWeights } from '../formats/adapterFile.ts';
import type { AdapterSummary } from '../shared/engineApi.ts';
import * as store from '../storage/adapterStore.ts';
import type { TaskAdapters } from './evaluation.ts';

/** A saved adapter's weights, checked against the loaded model. */
export async function adapterOf(model: ModelPackage, id: string): Promise<{ weights: AdapterWeights[]; name: string }> {
  const record = await store.getAdapter(id);
  const adapter = readAdapterFile(record.file, model.manifest, `adapter "${record.name}"`);
  return { weights: adapter.weights, name: record.name };
}

/** Each task's newest saved adapter for the loaded model (what an evaluation by task routes through). */
export async function adaptersByTask(model: ModelPackage): Promise<TaskAdapters> {
  const byTask: TaskAdapters = new Map();
  for (const summary of await store.listAdapters()) {
    if (summary.modelId !== model.manifest.id || byTask.has(summary.task)) continue;
    byTask.set(summary.task, await adapterOf(model, summary.id));
  }
  if (byTask.size === 0) throw new ConfigError('no adapter of this model is saved', 'the Evaluate step', 'Train an adapter per task first (Train step: "one adapter per task").');
  return byTask;
}

export function safeFileName(name: string): string {
  return name.replace(/[^\p{L}\p{N}._ -]+/gu, '_').replace(/\s+/g, '-').slice(0, 80) || 'adapter';
}

/** A saved adapter's file, as the person downloads it (a copy the caller may transfer). */
export async function adapterDownload(id: string): Promise<{ fileName: string; bytes: Uint8Array }> {
  const record = await store.getAdapter(id);
  return { fileName: `${safeFileName(record.name)}.safetensors`, bytes: record.file.slice() };
}

/** Reads an adapter file, checks it against the loaded model, saves it under the task its metadata names. */
export async function importAdapterFile(model: ModelPackage, file: Blob, fileName: string): Promise<AdapterSummary> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const adapter = readAdapterFile(bytes, model.manifest, fileName);
  let config: TrainConfig;
  try {
    config = withDefaults(JSON.parse(adapter.metadata.training_config ?? '{}') as Partial<TrainConfig>);
  } catch {
    config = withDefaults({});
  }
  config.modalities = adapter.weights.map((w) => w.modality);
  for (const w of adapter.weights) config.rank[w.modality] = w.rank;
  const finalLoss = Number(adapter.metadata.final_loss);
  return store.saveAdapter({
    id: store.newAdapterId(), name: adapter.metadata.name ?? fileName.replace(/\.safetensors$/i, ''), task: adapter.metadata.task ?? 'caption',
    modelId: model.manifest.id, createdAt: Date.now(), steps: Number(adapter.metadata.steps) || 0, config, origin: 'imported',
    bytes: bytes.byteLength, file: bytes, metrics: Number.isFinite(finalLoss) ? { finalLoss } : {},
  });
}
