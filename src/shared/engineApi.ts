/**
 * What the UI and the engine worker say to each other: plain, structured-clonable types only.
 * The worker implements EngineApi (src/worker/engineWorker.ts); the UI reaches it only through the
 * bridge (src/ui/engineBridge.ts).
 */
import type { TrainConfig } from '../engine/config.ts';

export interface ModelInfo {
  id: string;
  name: string;
  license: string;
  dModel: number;
  imageSize: number;
  imageTokens: number;
  vocabSize: number;
}

export interface DatasetInfo {
  label: string;
  images: number;
  examples: number;
  skipped: Array<{ where: string; reason: string }>;
}

export interface Progress {
  phase: 'loading model' | 'reading dataset' | 'caching image features' | 'training';
  done: number;
  total: number;
}

export interface StepReport {
  step: number;
  loss: number;
  gradNorm: number;
  learningRate: number;
}

export interface TrainOutcome {
  /** Updates applied in total (after a resume, counting the earlier ones). */
  step: number;
  losses: number[];
  /** Set when training stopped on its own (e.g. a non-finite loss); the adapter of `step` is kept. */
  error?: { name: string; message: string };
}

export interface EngineApi {
  loadModel(url: string, onProgress?: (p: Progress) => void): Promise<ModelInfo>;
  loadDataset(url: string, onProgress?: (p: Progress) => void): Promise<DatasetInfo>;
  /**
   * Starts a run from scratch, or from `state` (bytes of a saved training state). Callbacks are
   * top-level arguments: comlink proxies functions only there.
   */
  train(config: Partial<TrainConfig>, options?: { steps?: number; state?: Uint8Array }, onStep?: (r: StepReport) => void): Promise<TrainOutcome>;
  /** Stops the run in progress after its in-flight steps; `train` then resolves. */
  pause(): void;
  /** The current training state, as bytes (safetensors). */
  saveState(): Promise<Uint8Array>;
  /** The current adapter, as a .safetensors file. */
  exportAdapter(): Promise<Uint8Array>;
}
