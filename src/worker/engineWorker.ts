/**
 * The training engine's worker: owns the GPU device, the ORT sessions, the feature cache and the
 * trainer. The UI thread never touches them; it calls this API through comlink.
 */
import * as Comlink from 'comlink';
import { readImageFolder, type CaptionDataset } from '../data/imagefolder.ts';
import { urlSource } from '../data/source.ts';
import { withDefaults, type TrainConfig } from '../engine/config.ts';
import { ConfigError } from '../engine/errors.ts';
import { cacheImageFeatures, type FeatureCache } from '../engine/featureCache.ts';
import { loadModelPackage, type ModelPackage } from '../engine/modelPackage.ts';
import { decodeTrainingState, encodeTrainingState } from '../engine/state.ts';
import { encodeExamples, Trainer } from '../engine/trainer.ts';
import { writeAdapterFile } from '../formats/adapterFile.ts';
import type { DatasetInfo, EngineApi, ModelInfo, Progress, StepReport, TrainOutcome } from '../shared/engineApi.ts';

let pkg: ModelPackage | undefined;
let dataset: CaptionDataset | undefined;
let features: FeatureCache | undefined;
let trainer: Trainer | undefined;
let pauseController: AbortController | undefined;

function requireModel(): ModelPackage {
  if (!pkg) throw new ConfigError('no model loaded', 'engine', 'Load a model first.');
  return pkg;
}

const api: EngineApi = {
  async loadModel(url: string, onProgress?: (p: Progress) => void): Promise<ModelInfo> {
    trainer?.destroy();
    trainer = undefined;
    features = undefined;
    pkg = await loadModelPackage(urlSource(url), (done, total) => onProgress?.({ phase: 'loading model', done, total }));
    const m = pkg.manifest;
    return { id: m.id, name: m.name, license: m.license, dModel: m.d_model, imageSize: m.image.size, imageTokens: m.image.tokens, vocabSize: m.text.vocab_size };
  },

  async loadDataset(url: string, onProgress?: (p: Progress) => void): Promise<DatasetInfo> {
    const model = requireModel();
    onProgress?.({ phase: 'reading dataset', done: 0, total: 1 });
    dataset = await readImageFolder(urlSource(url));
    features = await cacheImageFeatures(model, dataset, (done, total) => onProgress?.({ phase: 'caching image features', done, total }));
    return {
      label: dataset.label, images: features.ok.filter(Boolean).length,
      examples: encodeExamples(model, dataset.examples, features).length, skipped: [...dataset.skipped, ...features.skipped],
    };
  },

  async train(partial: Partial<TrainConfig>, options: { steps?: number; state?: Uint8Array } = {}, onStep?: (r: StepReport) => void): Promise<TrainOutcome> {
    const model = requireModel();
    if (!dataset || !features) throw new ConfigError('no dataset loaded', 'engine', 'Load a dataset first.');
    const saved = options.state ? decodeTrainingState(options.state) : undefined;
    const config = saved ? saved.config : withDefaults(partial);
    trainer?.destroy();
    trainer = new Trainer(model, features, encodeExamples(model, dataset.examples, features), config, saved);
    pauseController = new AbortController();
    const steps = Math.min(options.steps ?? config.steps, config.steps - trainer.step);
    let error: TrainOutcome['error'];
    try {
      await trainer.run(steps, { onStep: (r: StepReport) => onStep?.(r), signal: pauseController.signal });
    } catch (e) {
      error = { name: (e as Error).name, message: (e as Error).message };
    }
    const state = await trainer.exportState();
    return { step: state.step, losses: state.losses, error };
  },

  pause(): void {
    pauseController?.abort();
  },

  async saveState(): Promise<Uint8Array> {
    if (!trainer) throw new ConfigError('nothing trained yet', 'engine', 'Train first.');
    const bytes = encodeTrainingState(await trainer.exportState());
    return Comlink.transfer(bytes, [bytes.buffer]);
  },

  async exportAdapter(): Promise<Uint8Array> {
    if (!trainer) throw new ConfigError('nothing trained yet', 'engine', 'Train first.');
    const bytes = writeAdapterFile(await trainer.exportState(), requireModel().manifest);
    return Comlink.transfer(bytes, [bytes.buffer]);
  },
};

Comlink.expose(api);
