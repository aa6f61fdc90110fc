/**
 * The training engine's worker: owns the GPU device, the ORT sessions, the dataset, the feature cache,
 * the trainer, the checkpoints and the adapter store. The UI thread never touches them; it calls this API
 * through comlink (src/ui/engineBridge.ts) and gets back small things: numbers, text, thumbnails.
 *
 * A studio run writes a checkpoint (src/storage/checkpointStore.ts) when it starts, every
 * `checkpointEvery` steps, on pause and at its end; a run resumes from one after a reload. When the GPU
 * device is lost, the worker says so (isDeviceLostMessage) and the bridge replaces it with a new worker:
 * onnxruntime-web keeps the device it started with for the life of its wasm instance (docs/ENGINE.md §8).
 */
import * as Comlink from 'comlink';
import { browserImageDecoder } from '../data/browserImageDecoder.ts';
import { useImageDecoder } from '../data/images.ts';
import { withDefaults, type TrainConfig } from '../config.ts';
import { ConfigError, DatasetError, PackageError } from '../errors.ts';
import { CaptionGenerator } from '../engine/generate.ts';
import { loadHubPackage } from '../engine/hubPackage.ts';
import { loadModelPackage, releaseGeneration, releaseModelPackage, type ModelPackage } from '../engine/modelPackage.ts';
import type { FileSource } from '../data/source.ts';
import { decodeTrainingState, encodeTrainingState } from '../formats/trainingState.ts';
import { chooseSplit, validationByTask, type SplitOptions } from '../data/splits.ts';
import { runSchedule } from '../engine/runSchedule.ts';
import { encodeExamples, nonFiniteBeforeUpdate, Trainer, type TrainerOptions } from '../engine/trainer.ts';
import { writeAdapterFile, type AdapterWeights } from '../formats/adapterFile.ts';
import type { Evaluation } from '../engine/evaluate.ts';
import { prepareSplit, releaseSplit, type PreparedSplit } from '../engine/preparedSplit.ts';
import type {
  AdapterSummary, CheckpointSummary, DatasetInput, DatasetSummary, EngineApi, EvaluationResult, HubModelInfo, HubModelInput, ModelInfo, ModelInput,
  PickedFile, PlaygroundResult, Progress, RunEvent, SourceOrigin, SplitSummary, StepReport, StudioRunOptions, TrainOutcome,
} from '../shared/engineApi.ts';
import { hubModelAddress, parseHubModelAddress } from '../shared/engineApi.ts';
import { ENGINE_READY, readableError, sendReadableErrors, type EngineDeviceLost } from '../shared/errors.ts';
import { DeviceLostError } from '../errors.ts';
import * as store from '../storage/adapterStore.ts';
import * as checkpoints from '../storage/checkpointStore.ts';
import { storageUsage } from '../storage/storageUsage.ts';
import { describeSplit, openDataset, splitFingerprint, thumbnail, type OpenedDataset } from './datasetSession.ts';
import { captionImage, evaluateValidation, GALLERY_IMAGES } from './evaluation.ts';
import { gpuBytesInUse, trackGpuMemory } from '../engine/gpuMemory.ts';
import { openHubModel } from './hubSource.ts';
import { mergedModelFile } from './mergedDownload.ts';
import { adapterDownload, adapterOf, adaptersByTask, importAdapterFile } from './savedAdapters.ts';
import { downloadPackage, hubEndpoint } from './sources.ts';

trackGpuMemory();
sendReadableErrors();
useImageDecoder(browserImageDecoder);

/** What a run's checkpoints say besides its state: fixed when the run starts. */
type RunSetup = Omit<CheckpointSummary, 'savedAt' | 'step' | 'losses' | 'validation' | 'bytes'>;

/** A split's features on the GPU, for as long as the split, the dataset and the model stay (key). */
interface Prepared extends PreparedSplit {
  key: string;
  /** The frozen model's captions of the validation split, scored, once computed. */
  frozen?: Evaluation;
}

interface Run {
  trainer: Trainer;
  prepared: Prepared;
  totalSteps: number;
  validationLoss?: number;
  /** Validation losses so far, by step. */
  validation: Array<{ step: number; loss: number }>;
  datasetLabel: string;
  setup: RunSetup;
  /** Step of the last checkpoint written (undefined: none yet). */
  checkpointedStep?: number;
}

let pkg: ModelPackage | undefined;
/** Where the loaded model came from. */
let modelOrigin: SourceOrigin | undefined;
let modelInfo: ModelInfo | undefined;
let generator: CaptionGenerator | undefined;
let opened: OpenedDataset | undefined;
/** Features of the split in use. */
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
  // Its buffers go now; its captured vjp sessions are released in the background (nothing waits on them).
  run.trainer.destroy().catch((e) => console.warn(`releasing the run's vjp sessions: ${(e as Error).message}`));
  if (run.prepared !== prepared) releaseSplit(run.prepared);
  run = undefined;
}

/**
 * The features of `split` on the open dataset, cached for as long as the split, dataset and model stay. `byTask`:
 * the validation examples of every task as each task's own split chose them (so that no adapter is scored on
 * images it trained on), for an evaluation that routes each example through its task's adapter.
 */
async function preparedFor(split: SplitOptions, onProgress?: (p: Progress) => void, byTask = false): Promise<Prepared> {
  const model = requireModel();
  const data = requireDataset();
  const key = JSON.stringify([model.manifest.id, data.serial, split, byTask]);
  if (prepared?.key === key) return prepared;
  if (prepared && prepared !== run?.prepared) releaseSplit(prepared);
  prepared = undefined;
  const choice = byTask ? validationByTask(data.dataset, split) : chooseSplit(data.dataset, split);
  if (!byTask && choice.train.length === 0) {
    throw new DatasetError('the training split is empty', data.dataset.label, 'Choose a split that leaves images for training, or add images.');
  }
  if (byTask && choice.validation.length === 0) {
    throw new DatasetError('no task has validation examples', data.dataset.label, 'Hold out some images for validation in the Dataset step.');
  }
  // The gallery's pictures, made from the pixels decoded for the features (no second decode).
  const gallery = new Set([...new Set(choice.validation.map((e) => data.dataset.images[e.imageIndex]))].slice(0, GALLERY_IMAGES));
  const thumbnails: Array<Promise<void>> = [];
  const ready = await prepareSplit(model, data.dataset, choice, {
    onProgress: (done, total) => onProgress?.({ phase: 'caching image features', done, total }),
    onImage: (path, image) => {
      if (!gallery.has(path) || data.thumbnails.has(path)) return;
      thumbnails.push(thumbnail(image).then((blob) => { if (blob) data.thumbnails.set(path, blob); }, () => undefined));
    },
  });
  await Promise.all(thumbnails);
  prepared = { ...ready, key };
  return prepared;
}

/** Tells the bridge once the GPU device is lost: nothing on it can be used again (docs/ENGINE.md §8). */
const watchedDevices = new WeakSet<GPUDevice>();
function reportDeviceLoss(device: GPUDevice): void {
  if (watchedDevices.has(device)) return;
  watchedDevices.add(device);
  void device.lost.then((info) => {
    const message: EngineDeviceLost = { adalinkEngine: 'device lost', reason: info.reason ?? 'unknown', message: info.message };
    self.postMessage(message);
  });
}

/**
 * Training reads the cached features only and scores its validation loss through its own vjp: the ViT's session is
 * released for the run (its weights and ORT's second context leave the GPU), and so are the generation graphs and
 * the caption generator's embedding table if captions were asked for before. Each opens again when needed — an
 * image's features, a caption (src/engine/lazySession.ts; issue 16, item 2).
 */
async function onlyTrainingOnTheGpu(model: ModelPackage): Promise<void> {
  generator?.destroy();
  generator = undefined;
  await Promise.all([model.vision.release(), releaseGeneration(model)]);
}

/** Validation examples scored for the loss curve: enough for a steady number, few enough to be quick. */
const VALIDATION_LOSS_EXAMPLES = 64;

/**
 * The run's validation loss is scored by the trainer, through the steps' own vjp (Trainer.validationLoss): the
 * generation graphs stay off the GPU while it trains (issue 16, item 2).
 */
function trainerOptions(model: ModelPackage, prepared: PreparedSplit): TrainerOptions {
  return { validation: encodeExamples(model, prepared.validation.slice(0, VALIDATION_LOSS_EXAMPLES), prepared.features) };
}

/** A new studio run on the open dataset's split. */
async function newRun(model: ModelPackage, partial: Partial<TrainConfig>, options: StudioRunOptions, emit: (e: RunEvent) => void): Promise<Run> {
  const data = requireDataset();
  const prepared = await preparedFor(options.split, (progress) => emit({ type: 'progress', progress }));
  await onlyTrainingOnTheGpu(model);
  const config = withDefaults(partial);
  const trainer = new Trainer(model, prepared.features, encodeExamples(model, prepared.train, prepared.features), config, undefined, trainerOptions(model, prepared));
  const setup: RunSetup = {
    runId: checkpoints.newRunId(), totalSteps: config.steps,
    model: { id: model.manifest.id, ...modelOrigin! },
    dataset: { ...data.origin, fingerprint: await splitFingerprint(data, chooseSplit(data.dataset, options.split)) },
    split: options.split, validateEvery: options.validateEvery, checkpointEvery: options.checkpointEvery, details: options.details,
  };
  return { trainer, prepared, totalSteps: config.steps, validation: [], datasetLabel: data.summary.label, setup };
}

/** The run of a checkpoint, on the loaded model and the open dataset, which must be the ones it was trained on. */
async function runFromCheckpoint(runId: string, emit: (e: RunEvent) => void): Promise<Run> {
  const record = await checkpoints.getCheckpoint(runId);
  const where = `the run saved at step ${record.step} of ${record.totalSteps}`;
  if (!pkg || pkg.manifest.id !== record.model.id) {
    throw new ConfigError(`the run was trained on model "${record.model.id}", ${pkg ? `the loaded model is "${pkg.manifest.id}"` : 'and no model is loaded'}`, where,
      `Load "${record.model.label}" (model ${record.model.id}) in step 1, then press Resume.`);
  }
  const model = pkg;
  const reopen = `Open "${record.dataset.label}" in step 2 — the same images and captions — then press Resume.`;
  if (!opened) throw new ConfigError(`the run's dataset "${record.dataset.label}" is not open`, where, reopen);
  if (await splitFingerprint(opened, chooseSplit(opened.dataset, record.split)) !== record.dataset.fingerprint) {
    throw new ConfigError(`the open dataset "${opened.summary.label}" is not the data the run was trained on ("${record.dataset.label}")`, where, reopen);
  }
  const state = decodeTrainingState(record.state, where);
  const prepared = await preparedFor(record.split, (progress) => emit({ type: 'progress', progress }));
  await onlyTrainingOnTheGpu(model);
  const trainer = new Trainer(model, prepared.features, encodeExamples(model, prepared.train, prepared.features), state.config, state, trainerOptions(model, prepared));
  const { runId: id, totalSteps, model: modelOf, dataset, split, validateEvery, checkpointEvery, details, validation } = record;
  return {
    trainer, prepared, totalSteps, validation: [...validation], validationLoss: validation.at(-1)?.loss, datasetLabel: dataset.label,
    setup: { runId: id, totalSteps, model: modelOf, dataset, split, validateEvery, checkpointEvery, details }, checkpointedStep: record.step,
  };
}

/**
 * Writes the run's checkpoint over its previous one. A write that fails (the storage is full) is
 * reported and training goes on: the previous checkpoint is still whole.
 */
async function writeCheckpoint(current: Run, emit: (e: RunEvent) => void): Promise<void> {
  try {
    const state = await current.trainer.exportState();
    const bytes = encodeTrainingState(state);
    const saved = await checkpoints.saveCheckpoint({
      ...current.setup, savedAt: Date.now(), step: state.step, losses: state.losses, validation: [...current.validation], bytes: bytes.byteLength, state: bytes,
    }, current.checkpointedStep);
    current.checkpointedStep = saved.step;
    emit({ type: 'checkpoint', runId: saved.runId, step: saved.step, savedAt: saved.savedAt });
  } catch (e) {
    emit({ type: 'checkpoint failed', step: current.trainer.step, error: readableError(e) });
  }
}

/**
 * Whether `device` is lost, or is lost within `ms`: an error from ONNX Runtime or a read-back can come
 * a moment before the device says it is lost.
 */
async function lostWithin(device: GPUDevice, ms: number): Promise<GPUDeviceLostInfo | undefined> {
  let timer = 0;
  const info = await Promise.race([device.lost, new Promise<undefined>((resolve) => { timer = self.setTimeout(resolve, ms); })]);
  self.clearTimeout(timer);
  return info;
}

/**
 * A model's package opened from where it is: a Hub repository (hubSource.ts: the files the variant needs, from
 * the Hub or this browser's cache of it, then loadHubPackage), or a package by URL or picked folder.
 */
async function openModel(source: ModelInput, onProgress?: (p: Progress) => void): Promise<{
  next: ModelPackage; files: FileSource; bytes: number; origin: SourceOrigin; hub?: HubModelInfo;
}> {
  // A checkpoint's Hub address (hubModelAddress) is loaded from https://huggingface.co.
  const hubInput: HubModelInput['hub'] | undefined = typeof source === 'string' ? parseHubModelAddress(source) : 'hub' in source ? source.hub : undefined;
  if (hubInput) {
    const endpoint = hubEndpoint(hubInput.endpoint);
    const download = await openHubModel({ ...hubInput, endpoint }, (p) => onProgress?.({
      phase: 'loading model', done: p.done, total: p.total, unit: 'bytes', etaSeconds: p.etaSeconds, cachedBytes: p.cached,
    }));
    const { repo, variant, sha } = download;
    const next = await loadHubPackage(download.source, { repo, revision: sha, variant }, (done, total) => onProgress?.({ phase: 'opening graphs', done, total }));
    return {
      next, files: download.source, bytes: download.bytes,
      origin: { label: download.source.label, url: hubModelAddress({ repo, revision: sha, variant }) },
      hub: { repo, requested: download.requested, revision: sha, variant, downloaded: download.downloaded, cached: download.cached, kept: download.persistent, endpoint },
    };
  }
  const picked = source as string | { label: string; files: PickedFile[] };
  const { source: files, bytes } = await downloadPackage(picked, (done, total) => onProgress?.({ phase: 'loading model', done, total, unit: 'bytes' }));
  const next = await loadModelPackage(files, (done, total) => onProgress?.({ phase: 'opening graphs', done, total }));
  return { next, files, bytes, origin: typeof picked === 'string' ? { label: files.label, url: picked } : { label: files.label } };
}

const api: EngineApi = {
  async loadModel(source: ModelInput, onProgress?: (p: Progress) => void): Promise<ModelInfo> {
    const { next, files, bytes, origin, hub } = await openModel(source, onProgress);
    reportDeviceLoss(next.device);
    // The new model is good: only now let go of the old one and everything built on it.
    endRun();
    releaseSplit(prepared);
    prepared = undefined;
    generator?.destroy();
    generator = undefined;
    if (pkg) await releaseModelPackage(pkg);
    pkg = next;
    modelOrigin = origin;
    const m = pkg.manifest;
    modelInfo = {
      id: m.id, name: m.name, license: m.license, dModel: m.d_model, imageSize: m.image.size, imageTokens: m.image.tokens,
      vocabSize: m.text.vocab_size, label: files.label, bytes, defaultPrompt: m.text.default_prompt, canGenerate: Boolean(pkg.generation), hub,
    };
    return modelInfo;
  },

  pause(): void {
    pauseController?.abort();
  },

  async openDataset(input: DatasetInput, onProgress?: (p: Progress) => void): Promise<DatasetSummary> {
    const next = await openDataset(input, onProgress);
    // Only a dataset that was read replaces the one in use; a paused run keeps its own features.
    if (prepared && prepared !== run?.prepared) releaseSplit(prepared);
    prepared = undefined;
    opened = next;
    return next.summary;
  },

  async describeSplit(options: SplitOptions): Promise<SplitSummary> {
    return describeSplit(chooseSplit(requireDataset().dataset, options));
  },

  async train(partial: Partial<TrainConfig>, options: StudioRunOptions, onStep?: (r: StepReport) => void, onEvent?: (e: RunEvent) => void): Promise<TrainOutcome> {
    const model = requireModel();
    const emit = (e: RunEvent) => onEvent?.(e);
    if (options.fromCheckpoint) {
      endRun();
      run = await runFromCheckpoint(options.fromCheckpoint, emit);
    } else if (!options.resume || !run) {
      endRun();
      run = await newRun(model, partial, options, emit);
    }
    const current = run!;
    const { trainer, setup } = current;
    pauseController = new AbortController();
    const signal = pauseController.signal;
    const validate = async () => {
      if (!current.prepared.validation.some((e) => current.prepared.features.ok[e.imageIndex])) return;
      emit({ type: 'progress', progress: { phase: 'validation loss', done: 0, total: 1 } });
      const loss = await trainer.validationLoss();
      if (trainer.step === 0 && !Number.isFinite(loss)) throw nonFiniteBeforeUpdate(`the validation loss is ${loss}`);
      current.validationLoss = loss;
      current.validation.push({ step: trainer.step, loss });
      emit({ type: 'validation', step: trainer.step, loss });
      emit({ type: 'progress', progress: { phase: 'training', done: trainer.step, total: current.totalSteps } });
    };
    let error: TrainOutcome['error'];
    try {
      // The run's first checkpoint, before its first step: a reload or a lost GPU from here on resumes it.
      if (current.checkpointedStep === undefined) await writeCheckpoint(current, emit);
      if (trainer.step === 0 && current.validation.length === 0) await validate();
      // GPU memory is sent when it changes, not with every step: each message is work for the page's thread.
      let gpuBytes = gpuBytesInUse();
      emit({ type: 'memory', gpuBytes });
      await runSchedule(trainer, {
        totalSteps: current.totalSteps,
        // 0: validate at the end only; checkpoints (0: none in the run) on top of the first and the last.
        validateEvery: setup.validateEvery > 0 ? setup.validateEvery : current.totalSteps,
        checkpointEvery: setup.checkpointEvery,
        signal,
        onStep: (r) => {
          onStep?.(r);
          const now = gpuBytesInUse();
          if (now !== gpuBytes) emit({ type: 'memory', gpuBytes: (gpuBytes = now) });
        },
        validate,
        checkpoint: async (step) => {
          if (step !== current.checkpointedStep) await writeCheckpoint(current, emit);
        },
      });
    } catch (e) {
      // A lost device is not the run's failure: the bridge starts a new engine, which resumes the run.
      const lost = await lostWithin(model.device, 1000);
      if (lost) throw new DeviceLostError(lost.reason ?? 'unknown', lost.message);
      error = readableError(e);
    }
    // On pause, at the end, and after a failed step (the trainer has rolled back to its last good state).
    if (trainer.step !== current.checkpointedStep) await writeCheckpoint(current, emit);
    return { runId: setup.runId, step: trainer.step, totalSteps: current.totalSteps, error };
  },

  async saveRun({ name, task }: { name: string; task: string }): Promise<AdapterSummary> {
    const model = requireModel();
    if (!run) throw new ConfigError('there is no trained adapter to save', 'the Train step', 'Train first.');
    const state = await run.trainer.exportState();
    if (state.step === 0) throw new ConfigError('the run has not taken a step yet', 'the Train step', 'Train for at least one step.');
    const file = writeAdapterFile(state, model.manifest, { name, task, dataset: run.datasetLabel });
    // The run's checkpoint goes in the same transaction: the run is then kept in its adapter instead.
    return store.saveAdapter({
      id: store.newAdapterId(), name: name.trim() || 'adapter', task: task.trim() || 'caption', modelId: model.manifest.id,
      createdAt: Date.now(), steps: state.step, config: state.config, origin: 'trained', bytes: file.byteLength, file,
      metrics: { finalLoss: state.losses.at(-1), validationLoss: run.validationLoss },
    }, run.setup.runId);
  },

  async evaluate({ adapterId, split, byTask }: { adapterId?: string; split: SplitOptions; byTask?: boolean }, onProgress?: (p: Progress) => void): Promise<EvaluationResult> {
    const model = requireModel();
    if (byTask) {
      const adapters = await adaptersByTask(model);
      const data = await preparedFor(split, onProgress, true);
      const result = await evaluateValidation(model, requireGenerator(), data, adapters, onProgress, requireDataset().thumbnails);
      return { ...result, adapterName: 'each task\'s adapter' };
    }
    let adapter: { weights: AdapterWeights[]; name: string };
    if (adapterId) adapter = await adapterOf(model, adapterId);
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
    const download = await adapterDownload(id);
    return Comlink.transfer(download, [download.bytes.buffer]);
  },

  async mergedModelFile(adapterId: string): Promise<{ fileName: string; bytes: Uint8Array; note: string }> {
    const merged = await mergedModelFile(requireModel(), modelInfo?.hub, await store.getAdapter(adapterId));
    return Comlink.transfer(merged, [merged.bytes.buffer]);
  },

  importAdapter: (file: Blob, fileName: string) => importAdapterFile(requireModel(), file, fileName),

  async caption(image: Blob, prompt: string, adapterId?: string, onProgress?: (p: Progress) => void): Promise<PlaygroundResult> {
    const model = requireModel();
    if (!model.generation) throw new PackageError('this model package cannot write captions (no generation graphs)', model.source.label, 'Load a package exported with its generation graphs.');
    const adapter = adapterId ? await adapterOf(model, adapterId) : undefined;
    const result = await captionImage(model, requireGenerator(), image, prompt.trim() || model.manifest.text.default_prompt, adapter?.weights, onProgress);
    return { ...result, adapterName: adapter?.name };
  },

  gpuBytes: () => gpuBytesInUse(),

  listCheckpoints: () => checkpoints.listCheckpoints(),

  async deleteCheckpoint(runId: string): Promise<void> {
    if (run?.setup.runId === runId) throw new ConfigError('this run is the one in progress', 'its checkpoint', 'Stop the run first.');
    await checkpoints.deleteCheckpoint(runId);
  },

  async clearCheckpoints(): Promise<void> {
    // The run in progress keeps its checkpoint: it would be written again at its next one anyway.
    for (const c of await checkpoints.listCheckpoints()) if (c.runId !== run?.setup.runId) await checkpoints.deleteCheckpoint(c.runId);
  },

  storageUsage: () => storageUsage(),

  simulateDeviceLoss(): void {
    requireModel().device.destroy();
  },
};

Comlink.expose(api);
// Tells the bridge the module loaded (comlink ignores messages without an id).
self.postMessage(ENGINE_READY);
