/**
 * What the studio's steps share (App holds it, every panel reads it): the bridge to the worker, the loaded
 * model and dataset and where they came from, the split, the settings, the adapters. Its own module, so the
 * panels and App import it and not each other.
 */
import type {
  AdapterSummary, DatasetInput, DatasetSummary, EvaluationResult, ModelInfo, ModelInput, Progress, SplitOptions,
} from '../shared/engineApi.ts';
import type { StudioSettings } from '../shared/settings.ts';
import type { EngineBridge } from './engineBridge.ts';

export const TABS = ['model', 'dataset', 'train', 'evaluate', 'adapters', 'playground'] as const;
export type Tab = (typeof TABS)[number];

export interface Studio {
  bridge: EngineBridge;
  model?: ModelInfo;
  /** The loaded model's source: a URL, or the files picked (still held, for a new engine). */
  modelSource?: ModelInput;
  /** Loads a model into the engine; the studio's model changes only when it loads. */
  loadModel(source: ModelInput, onProgress?: (p: Progress) => void): Promise<ModelInfo>;
  dataset?: DatasetSummary;
  /** The open dataset's source: the demo's URL, or the files dropped (still held, for a new engine). */
  datasetInput?: DatasetInput;
  /** Opens a dataset in the engine; the studio's dataset changes only when it is read. */
  openDataset(input: DatasetInput, onProgress?: (p: Progress) => void): Promise<DatasetSummary>;
  /** After the engine was started again (a lost GPU): the same model and dataset loaded into it. */
  restoreEngine(): Promise<void>;
  split: SplitOptions;
  setSplit(split: SplitOptions): void;
  settings: StudioSettings;
  setSettings(settings: StudioSettings): void;
  adapters: AdapterSummary[];
  refreshAdapters(): Promise<void>;
  evaluation?: EvaluationResult;
  setEvaluation(result: EvaluationResult | undefined): void;
  go(tab: Tab): void;
}
