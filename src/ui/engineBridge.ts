/**
 * The UI's one way to the engine worker (after Squoosh's worker bridge): the worker's API by type only,
 * comlink underneath, and an AbortSignal per call. Calls that use the GPU are queued so they run one at a
 * time in order; aborting a training call pauses it (the steps in flight finish, nothing is lost), and
 * aborting a call still waiting in the queue drops it. Calls that only read or write storage, or look at
 * the dataset, go straight through, so the UI stays useful while a run trains.
 *
 * When the worker's GPU device is lost, every call in flight rejects with a DeviceLostError and the
 * bridge starts a new worker (a new device, a new onnxruntime-web: docs/ENGINE.md §8), empty: the
 * listeners of `onEngineRestart` load the model and the dataset into it again and resume the run.
 */
import * as Comlink from 'comlink';
import { EngineStartError } from '../errors.ts';
import { ENGINE_READY, isDeviceLostMessage } from '../shared/errors.ts';
import { DeviceLostError } from '../errors.ts';
import type { TrainConfig } from '../config.ts';
import type {
  AdapterSummary, CheckpointSummary, DatasetInfo, DatasetInput, DatasetSummary, EngineApi, EvaluationResult, ModelInfo, ModelInput, PlaygroundResult,
  Progress, RunEvent, SplitOptions, SplitSummary, StepReport, StorageReport, StudioRunOptions, TrainOutcome,
} from '../shared/engineApi.ts';

export class AbortedError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'AbortError';
  }
}

type ProgressOptions = { signal?: AbortSignal; onProgress?: (p: Progress) => void };

/**
 * Rejects once the worker fails before its module has loaded (a script that did not load, or threw
 * while loading): without this, every call would wait for an answer that never comes.
 */
function workerStartFailure(worker: Worker): Promise<never> {
  return new Promise<never>((_, reject) => {
    const ready = (event: MessageEvent) => {
      if (event.data?.adalinkEngine === ENGINE_READY.adalinkEngine) stopWatching();
    };
    const failed = (event: Event) => {
      stopWatching();
      const detail = event instanceof ErrorEvent && event.message ? `: ${event.message}` : '';
      console.error(`engine worker failed to start${detail}`);
      reject(new EngineStartError(`the training engine did not start${detail}`, 'the engine worker',
        'Reload the page. If this happens again, the app\'s files may be incomplete: clear the site\'s cache and reload.'));
    };
    const stopWatching = () => {
      worker.removeEventListener('message', ready);
      worker.removeEventListener('error', failed);
    };
    worker.addEventListener('message', ready);
    worker.addEventListener('error', failed);
  });
}

/** Rejects once the worker says its GPU device is lost (and calls `onLoss` then). */
function workerDeviceLoss(worker: Worker, onLoss: (error: DeviceLostError) => void): Promise<never> {
  return new Promise<never>((_, reject) => {
    worker.addEventListener('message', (event: MessageEvent) => {
      if (!isDeviceLostMessage(event.data)) return;
      const error = new DeviceLostError(event.data.reason, event.data.message);
      console.error(error.message);
      reject(error);
      onLoss(error);
    });
  });
}

/** The worker's API, each call answered by the worker or rejected when the worker failed to start or lost its GPU. */
function guarded(remote: Comlink.Remote<EngineApi>, failure: Promise<never>): Comlink.Remote<EngineApi> {
  return new Proxy(remote, {
    get: (target, name) => (...args: unknown[]) =>
      Promise.race([(target as unknown as Record<string | symbol, (...a: unknown[]) => Promise<unknown>>)[name](...args), failure]),
  });
}

interface Engine {
  worker: Worker;
  api: Comlink.Remote<EngineApi>;
}

export class EngineBridge {
  private engine: Engine;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly restartListeners = new Set<(error: DeviceLostError) => void>();
  /** Engines started again after a lost GPU device. */
  restarts = 0;

  constructor() {
    this.engine = this.startEngine();
  }

  private startEngine(): Engine {
    const worker = new Worker(new URL('../worker/engineWorker.ts', import.meta.url), { type: 'module', name: 'adalink-engine' });
    const failure = Promise.race([workerStartFailure(worker), workerDeviceLoss(worker, (error) => this.replaceEngine(worker, error))]);
    failure.catch(() => undefined); // Read by each call; never an unhandled rejection on its own.
    return { worker, api: guarded(Comlink.wrap<EngineApi>(worker), failure) };
  }

  /** A new worker for the one whose device was lost; the listeners are told once it exists. */
  private replaceEngine(lost: Worker, error: DeviceLostError): void {
    if (this.engine.worker !== lost) return;
    lost.terminate();
    this.engine = this.startEngine();
    this.restarts++;
    for (const listener of this.restartListeners) listener(error);
  }

  /** Calls `listener` after the engine was started again on a new device (empty: no model, no dataset). */
  onEngineRestart(listener: (error: DeviceLostError) => void): () => void {
    this.restartListeners.add(listener);
    return () => this.restartListeners.delete(listener);
  }

  private get api(): Comlink.Remote<EngineApi> {
    return this.engine.api;
  }

  private enqueue<T>(signal: AbortSignal | undefined, call: () => Promise<T>): Promise<T> {
    const result = this.queue.then(() => {
      if (signal?.aborted) throw new AbortedError();
      return call();
    });
    this.queue = result.catch(() => undefined);
    return result;
  }

  private static progress(options: ProgressOptions) {
    return options.onProgress && Comlink.proxy(options.onProgress);
  }

  loadModel(source: ModelInput, options: ProgressOptions = {}): Promise<ModelInfo> {
    return this.enqueue(options.signal, () => this.api.loadModel(source, EngineBridge.progress(options)));
  }

  loadDataset(url: string, options: ProgressOptions = {}): Promise<DatasetInfo> {
    return this.enqueue(options.signal, () => this.api.loadDataset(url, EngineBridge.progress(options)));
  }

  train(
    config: Partial<TrainConfig>,
    options: { signal?: AbortSignal; steps?: number; state?: Uint8Array; onStep?: (r: StepReport) => void } = {},
  ): Promise<TrainOutcome> {
    return this.enqueue(options.signal, () => this.pausable(options.signal,
      () => this.api.train(config, { steps: options.steps, state: options.state }, options.onStep && Comlink.proxy(options.onStep))));
  }

  /** Aborting `signal` pauses the call in flight (the worker finishes its in-flight steps and returns). */
  private pausable<T>(signal: AbortSignal | undefined, call: () => Promise<T>): Promise<T> {
    const pause = () => void this.api.pause();
    signal?.addEventListener('abort', pause, { once: true });
    if (signal?.aborted) pause();
    return call().finally(() => signal?.removeEventListener('abort', pause));
  }

  saveState(signal?: AbortSignal): Promise<Uint8Array> {
    return this.enqueue(signal, () => this.api.saveState());
  }

  exportAdapter(signal?: AbortSignal): Promise<Uint8Array> {
    return this.enqueue(signal, () => this.api.exportAdapter());
  }

  openDataset(input: DatasetInput, options: ProgressOptions = {}): Promise<DatasetSummary> {
    return this.enqueue(options.signal, () => this.api.openDataset(input, EngineBridge.progress(options)));
  }

  describeSplit(options: SplitOptions): Promise<SplitSummary> {
    return this.api.describeSplit(options);
  }

  trainStudio(
    config: Partial<TrainConfig>, options: StudioRunOptions,
    callbacks: { signal?: AbortSignal; onStep?: (r: StepReport) => void; onEvent?: (e: RunEvent) => void } = {},
  ): Promise<TrainOutcome> {
    return this.enqueue(callbacks.signal, () => this.pausable(callbacks.signal, () => this.api.trainStudio(config, options,
      callbacks.onStep && Comlink.proxy(callbacks.onStep), callbacks.onEvent && Comlink.proxy(callbacks.onEvent))));
  }

  saveRun(details: { name: string; task: string }): Promise<AdapterSummary> {
    return this.enqueue(undefined, () => this.api.saveRun(details));
  }

  evaluate(options: { adapterId?: string; split: SplitOptions }, callbacks: ProgressOptions = {}): Promise<EvaluationResult> {
    return this.enqueue(callbacks.signal, () => this.api.evaluate(options, EngineBridge.progress(callbacks)));
  }

  caption(image: Blob, prompt: string, adapterId: string | undefined, callbacks: ProgressOptions = {}): Promise<PlaygroundResult> {
    return this.enqueue(callbacks.signal, () => this.api.caption(image, prompt, adapterId, EngineBridge.progress(callbacks)));
  }

  listAdapters(): Promise<AdapterSummary[]> {
    return this.api.listAdapters();
  }

  renameAdapter(id: string, changes: { name?: string; task?: string }): Promise<AdapterSummary> {
    return this.api.renameAdapter(id, changes);
  }

  deleteAdapter(id: string): Promise<void> {
    return this.api.deleteAdapter(id);
  }

  adapterFile(id: string): Promise<{ fileName: string; bytes: Uint8Array }> {
    return this.api.adapterFile(id);
  }

  importAdapter(file: Blob, fileName: string): Promise<AdapterSummary> {
    return this.api.importAdapter(file, fileName);
  }

  gpuBytes(): Promise<number> {
    return this.api.gpuBytes();
  }

  listCheckpoints(): Promise<CheckpointSummary[]> {
    return this.api.listCheckpoints();
  }

  deleteCheckpoint(runId: string): Promise<void> {
    return this.api.deleteCheckpoint(runId);
  }

  clearCheckpoints(): Promise<void> {
    return this.api.clearCheckpoints();
  }

  storageUsage(): Promise<StorageReport> {
    return this.api.storageUsage();
  }

  /** Tests only: the engine's GPU device is destroyed, as a lost GPU would be. */
  simulateDeviceLoss(): Promise<void> {
    return this.api.simulateDeviceLoss();
  }

  terminate(): void {
    this.engine.worker.terminate();
  }
}
