/**
 * The training engine's worker: owns the GPU device, the ORT sessions, the dataset, the feature cache,
 * the trainer and the adapter store. The UI thread never touches them; it calls this API through
 * comlink (src/ui/engineBridge.ts) and gets back small things: numbers, text, thumbnails.
 */
import * as Comlink from 'comlink';
import { readDataset, type CaptionDataset } from '../data/dataset.ts';
import { urlSource } from '../data/source.ts';
import { withDefaults, type TrainConfig } from '../engine/config.ts';
import { ConfigError, DatasetError, PackageError } from '../engine/errors.ts';
import { CaptionGenerator } from '../engine/generate.ts';
import { loadModelPackage, releaseModelPackage, type ModelPackage } from '../engine/modelPackage.ts';
import { decodeTrainingState, encodeTrainingState } from '../engine/state.ts';
import { encodeExamples, Trainer } from '../engine/trainer.ts';
import { readAdapterFile, writeAdapterFile, type AdapterWeights } from '../formats/adapterFile.ts';
import type {
  AdapterSummary, DatasetInfo, DatasetInput, DatasetSummary, EngineApi, EvaluationResult, ModelInfo, ModelInput, PlaygroundResult, Progress,
  RunEvent, SplitOptions, SplitSummary, StepReport, StudioRunOptions, TrainOutcome,
} from '../shared/engineApi.ts';
import { ENGINE_READY, sendReadableErrors } from '../shared/errors.ts';
import * as store from '../storage/adapterStore.ts';
import { chooseSplit, describeSplit, openDataset, type OpenedDataset } from './datasetSession.ts';
import { captionImage, evaluateValidation, validationLoss } from './evaluation.ts';
import { gpuBytesInUse, trackGpuMemory } from '../engine/gpuMemory.ts';
import { prepare, releasePrepared, type Prepared } from './prepared.ts';
import { downloadPackage } from './sources.ts';

trackGpuMemory();
sendReadableErrors();

interface Run {
  trainer: Trainer;
  prepared: Prepared;
  totalSteps: number;
  validationLoss?: number;
  datasetLabel: string;
}

let pkg: ModelPackage | undefined;
let modelInfo: ModelInfo | undefined;
let generator: CaptionGenerator | undefined;
let opened: OpenedDataset | undefined;
/** Features of the split in use (studio), or of the whole dataset (harness). */
let prepared: Prepared | undefined;
let run: Run | undefined;
let pauseController: AbortController | undefined;

function requireModel(): ModelPackage {
  if (!pkg) throw new ConfigError('no model is loaded', 'the Model step', 'Load a model first (the default one is a click away).');
  return pkg;
}

function requireDataset(): OpenedDataset {
  if (!opened) throw new ConfigError('no dataset is open', 'the Dataset step', 'Drop a dataset, or press "Try the demo dataset".');
  return opened;
}

function requireGenerator(): CaptionGenerator {
  const model = requireModel();
  generator ??= new CaptionGenerator(model);
  return generator;
}

function endRun(): void {
  if (!run) return;
  run.trainer.destroy();
  if (run.prepared !== prepared) releasePrepared(run.prepared);
  run = undefined;
}

/** The features of `split` on the open dataset, cached for as long as the split, dataset and model stay. */
async function preparedFor(split: SplitOptions, onProgress?: (p: Progress) => void): Promise<Prepared> {
  const model = requireModel();
  const data = requireDataset();
  const key = JSON.stringify([model.manifest.id, data.serial, split]);
  if (prepared?.key === key) return prepared;
  if (prepared && prepared !== run?.prepared) releasePrepared(prepared);
  prepared = undefined;
  prepared = await prepare(model, data.dataset, chooseSplit(data.dataset, split), key, onProgress);
  return prepared;
}

async function adapterOf(id: string): Promise<{ weights: AdapterWeights[]; name: string }> {
  const model = requireModel();
  const record = await store.getAdapter(id);
  const adapter = readAdapterFile(record.file, model.manifest, `adapter "${record.name}"`);
  return { weights: adapter.weights, name: record.name };
}

function safeFileName(name: string): string {
  return name.replace(/[^\p{L}\p{N}._ -]+/gu, '_').replace(/\s+/g, '-').slice(0, 80) || 'adapter';
}

const api: EngineApi = {
  async loadModel(source: ModelInput, onProgress?: (p: Progress) => void): Promise<ModelInfo> {
    const { source: files, bytes } = await downloadPackage(source, (done, total) => onProgress?.({ phase: 'loading model', done, total, unit: 'bytes' }));
    const next = await loadModelPackage(files, (done, total) => onProgress?.({ phase: 'opening graphs', done, total }));
    // The new model is good: only now let go of the old one and everything built on it.
    endRun();
    releasePrepared(prepared);
    prepared = undefined;
    generator?.destroy();
    generator = undefined;
    if (pkg) await releaseModelPackage(pkg);
    pkg = next;
    const m = pkg.manifest;
    modelInfo = {
      id: m.id, name: m.name, license: m.license, dModel: m.d_model, imageSize: m.image.size, imageTokens: m.image.tokens,
      vocabSize: m.text.vocab_size, label: files.label, bytes, defaultPrompt: m.text.default_prompt, canGenerate: Boolean(pkg.generation),
    };
    return modelInfo;
  },

  async loadDataset(url: string, onProgress?: (p: Progress) => void): Promise<DatasetInfo> {
    const model = requireModel();
    onProgress?.({ phase: 'reading dataset', done: 0, total: 1 });
    const dataset: CaptionDataset = await readDataset(urlSource(url));
    endRun();
    releasePrepared(prepared);
    prepared = await prepare(model, dataset, { train: dataset.examples, validation: [] }, `harness ${url}`, onProgress);
    return {
      label: dataset.label, images: prepared.features.ok.filter(Boolean).length,
      examples: encodeExamples(model, prepared.train, prepared.features).length, skipped: [...dataset.skipped, ...prepared.features.skipped],
    };
  },

  async train(partial: Partial<TrainConfig>, options: { steps?: number; state?: Uint8Array } = {}, onStep?: (r: StepReport) => void): Promise<TrainOutcome> {
    const model = requireModel();
    if (!prepared) throw new ConfigError('no dataset loaded', 'engine', 'Load a dataset first.');
    const saved = options.state ? decodeTrainingState(options.state) : undefined;
    const config = saved ? saved.config : withDefaults(partial);
    endRun();
    const trainer = new Trainer(model, prepared.features, encodeExamples(model, prepared.train, prepared.features), config, saved);
    run = { trainer, prepared, totalSteps: config.steps, datasetLabel: prepared.dataset.label };
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
    if (!run) throw new ConfigError('nothing trained yet', 'engine', 'Train first.');
    const bytes = encodeTrainingState(await run.trainer.exportState());
    return Comlink.transfer(bytes, [bytes.buffer]);
  },

  async exportAdapter(): Promise<Uint8Array> {
    if (!run) throw new ConfigError('nothing trained yet', 'engine', 'Train first.');
    const bytes = writeAdapterFile(await run.trainer.exportState(), requireModel().manifest);
    return Comlink.transfer(bytes, [bytes.buffer]);
  },

  async openDataset(input: DatasetInput, onProgress?: (p: Progress) => void): Promise<DatasetSummary> {
    const next = await openDataset(input, onProgress);
    // Only a dataset that was read replaces the one in use; a paused run keeps its own features.
    if (prepared && prepared !== run?.prepared) releasePrepared(prepared);
    prepared = undefined;
    opened = next;
    return next.summary;
  },

  async describeSplit(options: SplitOptions): Promise<SplitSummary> {
    return describeSplit(chooseSplit(requireDataset().dataset, options));
  },

  async trainStudio(partial: Partial<TrainConfig>, options: StudioRunOptions, onStep?: (r: StepReport) => void, onEvent?: (e: RunEvent) => void): Promise<TrainOutcome> {
    const model = requireModel();
    const emit = (e: RunEvent) => onEvent?.(e);
    if (!options.resume || !run) {
      endRun();
      const data = await preparedFor(options.split, (progress) => emit({ type: 'progress', progress }));
      const config = withDefaults(partial);
      const trainer = new Trainer(model, data.features, encodeExamples(model, data.train, data.features), config);
      run = { trainer, prepared: data, totalSteps: config.steps, datasetLabel: requireDataset().summary.label };
    }
    const current = run;
    const { trainer } = current;
    pauseController = new AbortController();
    const signal = pauseController.signal;
    const validate = async () => {
      if (!model.generation || current.prepared.validation.length === 0) return;
      emit({ type: 'progress', progress: { phase: 'validation loss', done: 0, total: 1 } });
      const loss = await validationLoss(model, requireGenerator(), current.prepared, await trainer.adapterWeights());
      current.validationLoss = loss;
      emit({ type: 'validation', step: trainer.step, loss });
      emit({ type: 'progress', progress: { phase: 'training', done: trainer.step, total: current.totalSteps } });
    };
    let error: TrainOutcome['error'];
    try {
      if (trainer.step === 0 && options.validateEvery >= 0) await validate();
      // GPU memory is sent when it changes, not with every step: each message is work for the page's thread.
      let gpuBytes = gpuBytesInUse();
      emit({ type: 'memory', gpuBytes });
      while (trainer.step < current.totalSteps && !signal.aborted) {
        const every = options.validateEvery > 0 ? options.validateEvery : current.totalSteps;
        const chunk = Math.min(every - (trainer.step % every), current.totalSteps - trainer.step);
        await trainer.run(chunk, {
          signal,
          onStep: (r) => {
            onStep?.(r);
            const now = gpuBytesInUse();
            if (now !== gpuBytes) emit({ type: 'memory', gpuBytes: (gpuBytes = now) });
          },
        });
        if (trainer.step % every === 0 || trainer.step === current.totalSteps) await validate();
      }
    } catch (e) {
      error = { name: (e as Error).name, message: (e as Error).message };
    }
    return { step: trainer.step, totalSteps: current.totalSteps, losses: [], error };
  },

  async saveRun({ name, task }: { name: string; task: string }): Promise<AdapterSummary> {
    const model = requireModel();
    if (!run) throw new ConfigError('there is no trained adapter to save', 'the Train step', 'Train first.');
    const state = await run.trainer.exportState();
    if (state.step === 0) throw new ConfigError('the run has not taken a step yet', 'the Train step', 'Train for at least one step.');
    const file = writeAdapterFile(state, model.manifest, { name, task, dataset: run.datasetLabel });
    return store.saveAdapter({
      id: store.newAdapterId(), name: name.trim() || 'adapter', task: task.trim() || 'caption', modelId: model.manifest.id,
      createdAt: Date.now(), steps: state.step, config: state.config, origin: 'trained', bytes: file.byteLength, file,
      metrics: { finalLoss: state.losses.at(-1), validationLoss: run.validationLoss },
    });
  },

  async evaluate({ adapterId, split }: { adapterId?: string; split: SplitOptions }, onProgress?: (p: Progress) => void): Promise<EvaluationResult> {
    const model = requireModel();
    let adapter: { weights: AdapterWeights[]; name: string };
    if (adapterId) adapter = await adapterOf(adapterId);
    else if (run) adapter = { weights: await run.trainer.adapterWeights(), name: 'the current run' };
    else throw new ConfigError('there is no adapter to evaluate', 'the Evaluate step', 'Train one, or pick a saved adapter.');
    const data = run && !adapterId ? run.prepared : await preparedFor(split, onProgress);
    if (data.validation.length === 0) {
      throw new DatasetError('the validation split is empty', requireDataset().summary.label, 'Hold out some images for validation in the Dataset step.');
    }
    const result = await evaluateValidation(model, requireGenerator(), data, adapter.weights, onProgress, requireDataset().thumbnails);
    if (adapterId) {
      await store.updateAdapter(adapterId, { metrics: { before: result.before, after: result.after, evaluatedOn: result.images } });
    }
    return { ...result, adapterId, adapterName: adapter.name };
  },

  listAdapters: () => store.listAdapters(),

  renameAdapter: (id, changes) => store.updateAdapter(id, changes),

  deleteAdapter: (id) => store.deleteAdapter(id),

  async adapterFile(id: string): Promise<{ fileName: string; bytes: Uint8Array }> {
    const record = await store.getAdapter(id);
    const bytes = record.file.slice();
    return Comlink.transfer({ fileName: `${safeFileName(record.name)}.safetensors`, bytes }, [bytes.buffer]);
  },

  async importAdapter(file: Blob, fileName: string): Promise<AdapterSummary> {
    const model = requireModel();
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
  },

  async caption(image: Blob, prompt: string, adapterId?: string, onProgress?: (p: Progress) => void): Promise<PlaygroundResult> {
    const model = requireModel();
    if (!model.generation) throw new PackageError('this model package cannot write captions (no generation graphs)', model.source.label, 'Load a package exported with its generation graphs.');
    const adapter = adapterId ? await adapterOf(adapterId) : undefined;
    const result = await captionImage(model, requireGenerator(), image, prompt.trim() || model.manifest.text.default_prompt, adapter?.weights, onProgress);
    return { ...result, adapterName: adapter?.name };
  },

  gpuBytes: () => gpuBytesInUse(),
};

Comlink.expose(api);
// Tells the bridge the module loaded (comlink ignores messages without an id).
self.postMessage(ENGINE_READY);
