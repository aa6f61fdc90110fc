/**
 * The UI's one way to the engine worker (after Squoosh's worker bridge): the worker's API by type only,
 * comlink underneath, calls queued so they run one at a time in order, and an AbortSignal per call.
 * Aborting a training call pauses it (the steps in flight finish, nothing is lost); aborting a call
 * still waiting in the queue drops it.
 */
import * as Comlink from 'comlink';
import type { TrainConfig } from '../engine/config.ts';
import type { DatasetInfo, EngineApi, ModelInfo, Progress, StepReport, TrainOutcome } from '../shared/engineApi.ts';

export class AbortedError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'AbortError';
  }
}

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

  loadModel(url: string, options: { signal?: AbortSignal; onProgress?: (p: Progress) => void } = {}): Promise<ModelInfo> {
    return this.enqueue(options.signal, () => this.api.loadModel(url, options.onProgress && Comlink.proxy(options.onProgress)));
  }

  loadDataset(url: string, options: { signal?: AbortSignal; onProgress?: (p: Progress) => void } = {}): Promise<DatasetInfo> {
    return this.enqueue(options.signal, () => this.api.loadDataset(url, options.onProgress && Comlink.proxy(options.onProgress)));
  }

  train(
    config: Partial<TrainConfig>,
    options: { signal?: AbortSignal; steps?: number; state?: Uint8Array; onStep?: (r: StepReport) => void } = {},
  ): Promise<TrainOutcome> {
    return this.enqueue(options.signal, () => {
      const pause = () => void this.api.pause();
      options.signal?.addEventListener('abort', pause, { once: true });
      return this.api
        .train(config, { steps: options.steps, state: options.state }, options.onStep && Comlink.proxy(options.onStep))
        .finally(() => options.signal?.removeEventListener('abort', pause));
    });
  }

  saveState(signal?: AbortSignal): Promise<Uint8Array> {
    return this.enqueue(signal, () => this.api.saveState());
  }

  exportAdapter(signal?: AbortSignal): Promise<Uint8Array> {
    return this.enqueue(signal, () => this.api.exportAdapter());
  }

  terminate(): void {
    this.worker.terminate();
  }
}
