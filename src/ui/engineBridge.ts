/**
 * The UI's one way to the engine worker (after Squoosh's worker bridge): the worker's API by type only,
 * comlink underneath. Every method of EngineApi is a method of the bridge, derived from the type (no
 * hand-written forward): it answers a Promise, and the functions passed to it (progress, steps, events) are
 * proxied. How each call is sent is one table, DISPATCH, that the compiler keeps complete: calls that use the
 * GPU are queued so they run one at a time in order; calls that only read or write storage, or look at the
 * dataset, go straight through, so the UI stays useful while a run trains. `withSignal(signal)` gives the
 * same calls under an AbortSignal: aborting a call still waiting in the queue drops it, aborting a run pauses
 * it (the steps in flight finish, nothing is lost).
 *
 * When the worker's GPU device is lost, every call in flight rejects with a DeviceLostError and the
 * bridge starts a new worker (a new device, a new onnxruntime-web: docs/ENGINE.md §8), empty: the
 * listeners of `onEngineRestart` load the model and the dataset into it again and resume the run.
 */
import * as Comlink from 'comlink';
import { DeviceLostError, EngineStartError } from '../errors.ts';
import { ENGINE_READY, isDeviceLostMessage } from '../shared/errors.ts';
import type { EngineApi, StepReport } from '../shared/engineApi.ts';

/** The engine's API as the page calls it: the same methods and arguments, each answering a Promise. */
export type EngineCalls = {
  [K in keyof EngineApi]: (...args: Parameters<EngineApi[K]>) => Promise<Awaited<ReturnType<EngineApi[K]>>>;
};

/**
 * How each call is sent: 'queued' (uses the GPU: one at a time, in order), 'run' (queued, and an abort
 * pauses it), 'direct' (storage and the dataset's description: at once, beside a run).
 */
const DISPATCH: { readonly [K in keyof EngineApi]: 'queued' | 'run' | 'direct' } = {
  loadModel: 'queued', openDataset: 'queued', train: 'run', saveRun: 'queued', evaluate: 'queued', caption: 'queued',
  pause: 'direct', describeSplit: 'direct', gpuBytes: 'direct', simulateDeviceLoss: 'direct',
  listAdapters: 'direct', renameAdapter: 'direct', deleteAdapter: 'direct', adapterFile: 'direct', importAdapter: 'direct',
  mergedModelFile: 'direct', // CPU work on the package's files, beside a run
  listCheckpoints: 'direct', deleteCheckpoint: 'direct', clearCheckpoints: 'direct', storageUsage: 'direct',
};

export class AbortedError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'AbortError';
  }
}

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

/**
 * train's arguments with its onStep wrapped: a `performance.mark('adalink:step', { detail: { step } })` for every
 * step report the page receives, which benchmarks read (bench/studioChrome.ts: the intervals between steps of the
 * studio in Chrome). One entry in the page's performance timeline a step: cheap, and nothing reads it otherwise.
 */
function markingSteps(args: unknown[]): unknown[] {
  const [config, options, onStep, ...rest] = args as [...Parameters<EngineApi['train']>];
  const marked = (report: StepReport) => {
    performance.mark('adalink:step', { detail: { step: report.step } });
    onStep?.(report);
  };
  return [config, options, marked, ...rest];
}

interface Engine {
  worker: Worker;
  api: Comlink.Remote<EngineApi>;
}

export interface EngineBridge extends EngineCalls {}

export class EngineBridge {
  private engine: Engine;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly restartListeners = new Set<(error: DeviceLostError) => void>();
  /** Engines started again after a lost GPU device. */
  restarts = 0;

  constructor() {
    this.engine = this.startEngine();
    Object.assign(this, this.calls(undefined));
  }

  /** The engine's calls under `signal`: a queued call not yet started is dropped, a run is paused. */
  withSignal(signal: AbortSignal | undefined): EngineCalls {
    return this.calls(signal);
  }

  private calls(signal: AbortSignal | undefined): EngineCalls {
    const calls: Partial<Record<keyof EngineApi, (...args: unknown[]) => Promise<unknown>>> = {};
    for (const name of Object.keys(DISPATCH) as Array<keyof EngineApi>) {
      calls[name] = (...args) => this.send(name, args, signal);
    }
    return calls as EngineCalls;
  }

  private send(name: keyof EngineApi, args: unknown[], signal: AbortSignal | undefined): Promise<unknown> {
    // Comlink proxies a function only when it is an argument of its own.
    const proxied = (name === 'train' ? markingSteps(args) : args).map((a) => (typeof a === 'function' ? Comlink.proxy(a as (...x: unknown[]) => unknown) : a));
    const call = () => (this.api[name] as (...a: unknown[]) => Promise<unknown>)(...proxied);
    switch (DISPATCH[name]) {
      case 'direct': return call();
      case 'queued': return this.enqueue(signal, call);
      case 'run': return this.enqueue(signal, () => this.pausable(signal, call));
    }
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

  /** Aborting `signal` pauses the call in flight (the worker finishes its in-flight steps and returns). */
  private pausable<T>(signal: AbortSignal | undefined, call: () => Promise<T>): Promise<T> {
    const pause = () => void this.api.pause();
    signal?.addEventListener('abort', pause, { once: true });
    if (signal?.aborted) pause();
    return call().finally(() => signal?.removeEventListener('abort', pause));
  }

  terminate(): void {
    this.engine.worker.terminate();
  }
}
