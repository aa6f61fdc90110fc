/**
 * The UI's one way to the engine worker (after Squoosh's worker bridge): the worker's API by type only,
 * comlink underneath, and an AbortSignal per call. Calls that use the GPU are queued so they run one at a
 * time in order; aborting a training call pauses it (the steps in flight finish, nothing is lost), and
 * aborting a call still waiting in the queue drops it. Calls that only read or write storage, or look at
 * the dataset, go straight through, so the UI stays useful while a run trains.
 */
import * as Comlink from 'comlink';
import type { TrainConfig } from '../engine/config.ts';
import type {
  AdapterSummary, DatasetInfo, DatasetInput, DatasetSummary, EngineApi, EvaluationResult, ModelInfo, ModelInput, PlaygroundResult, Progress,
  RunEvent, SplitOptions, SplitSummary, StepReport, StudioRunOptions, TrainOutcome,
} from '../shared/engineApi.ts';

export class AbortedError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'AbortError';
  }
}

type ProgressOptions = { signal?: AbortSignal; onProgress?: (p: Progress) => void };

export class EngineBridge {
  private readonly worker = new Worker(new URL('../worker/engineWorker.ts', import.meta.url), { type: 'module', name: 'adalink-engine' });
  private readonly api = Comlink.wrap<EngineApi>(this.worker);
  private queue: Promise<unknown> = Promise.resolve();

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

  terminate(): void {
    this.worker.terminate();
  }
}
