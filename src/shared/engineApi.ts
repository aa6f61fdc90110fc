/**
 * What the UI and the engine worker say to each other: plain, structured-clonable types only (numbers,
 * strings, small arrays, Blobs). The worker implements EngineApi (src/worker/engineWorker.ts); the UI
 * reaches it only through the bridge (src/ui/engineBridge.ts). Images cross as small thumbnails (Blob),
 * losses as numbers; datasets and models never come to the UI thread.
 */
import type { TrainConfig } from '../config.ts';
import type { CaptionScores } from '../eval/metrics.ts';
import type { ReadableError } from './errors.ts';
import type { SplitOptions, StudioSettings } from './settings.ts';

export type { SplitOptions };

export interface ModelInfo {
  id: string;
  name: string;
  license: string;
  dModel: number;
  imageSize: number;
  imageTokens: number;
  vocabSize: number;
  /** Where it came from (a URL or the folder's name). */
  label?: string;
  /** Bytes of the package's files together. */
  bytes?: number;
  defaultPrompt?: string;
  canGenerate?: boolean;
  /** A model from the Hugging Face Hub: the repository, the commit its files were read at, and the download. */
  hub?: HubModelInfo;
}

/** Which graphs of a Hub repository: onnx/<name>.onnx (fp32) or onnx/<name>_fp16.onnx. */
export type HubVariant = 'fp32' | 'fp16';

/** Where a Hub model came from, as ModelInfo says it. */
export interface HubModelInfo {
  /** "owner/name". */
  repo: string;
  /** What was asked for: a branch, a tag or a commit ("main" by default). */
  requested: string;
  /** The commit it resolved to (40 hex digits): the files were read there, and the model's id names it. */
  revision: string;
  variant: HubVariant;
  /** Bytes downloaded by this load, and bytes already in this browser's Cache Storage before it. */
  downloaded: number;
  cached: number;
  /** Whether the files stay in this browser's Cache Storage for the next load (not where the browser refuses site data). */
  kept: boolean;
  /** The Hub's address the files came from (https://huggingface.co; another only in development builds). */
  endpoint: string;
}

/** Files the user picked or dropped (Blobs cross to the worker without being read on the UI thread). */
export interface PickedFile {
  /** '/'-separated path inside the folder, or the file's name. */
  path: string;
  file: Blob;
}

/**
 * A model from the Hugging Face Hub, in the transformers.js layout (config.json, tokenizer.json, onnx/*.onnx):
 * only the files the variant needs are downloaded, into the browser's Cache Storage. `endpoint` is for tests
 * only: the worker accepts another address than https://huggingface.co in development builds alone.
 */
export interface HubModelInput {
  hub: { repo: string; revision?: string; variant: HubVariant; endpoint?: string };
}

/**
 * A model package: a URL (the bundled default, or one the user types), a folder the user picked, or a Hub
 * repository. A string that is a Hub model's address (hubModelAddress: "hf://owner/name@commit") is that model.
 */
export type ModelInput = string | { label: string; files: PickedFile[] } | HubModelInput;

/** The default repository the Model step offers. */
export const DEFAULT_HUB_REPO = 'onnx-community/Florence-2-base-ft';

/**
 * A Hub model as an address a checkpoint keeps in its SourceOrigin.url, so that a reload loads it again by
 * itself: "hf://owner/name@revision", "?variant=fp16" for the fp16 graphs (huggingface_hub's hf:// form).
 */
export function hubModelAddress(ref: { repo: string; revision: string; variant: HubVariant }): string {
  return `hf://${ref.repo}@${ref.revision}${ref.variant === 'fp16' ? '?variant=fp16' : ''}`;
}

/** The Hub model an address names (hubModelAddress), or undefined when it is not one. */
export function parseHubModelAddress(address: string): { repo: string; revision: string; variant: HubVariant } | undefined {
  const match = /^hf:\/\/([\w.-]+\/[\w.-]+)@([\w.\-/]+?)(?:\?variant=(fp32|fp16))?$/.exec(address);
  return match ? { repo: match[1], revision: match[2], variant: (match[3] ?? 'fp32') as HubVariant } : undefined;
}

/** A dataset: a URL of a served .zip or folder (the demo), or what the user dropped (a folder, a .zip, files). */
export type DatasetInput = { url: string; label: string } | { label: string; files: PickedFile[] };

export interface PreviewItem {
  path: string;
  /** A small PNG, or undefined where the image could not be decoded. */
  thumbnail?: Blob;
  captions: string[];
  prompt?: string;
  split: string;
  task?: string;
}

export interface SplitCount {
  split: string;
  images: number;
  examples: number;
}

export interface DatasetSummary {
  label: string;
  format: 'imagefolder' | 'coco' | 'csv';
  images: number;
  examples: number;
  /** Per split found in the data (train, validation, …). */
  splits: SplitCount[];
  /** Every row or image that was left out, with its reason. */
  skipped: Array<{ where: string; reason: string }>;
  /** Caption lengths in words: counts of bins [edges[i], edges[i+1]). */
  lengthHistogram: { edges: number[]; counts: number[] };
  hasPrompts: boolean;
  maxCaptionsPerImage: number;
  /** The `task` column's tasks with their example counts ([] without one): one adapter per task can be trained. */
  tasks: Array<{ task: string; examples: number }>;
  preview: PreviewItem[];
}


export interface SplitSummary {
  train: { images: number; examples: number };
  validation: { images: number; examples: number };
}

export interface Progress {
  phase: 'loading model' | 'opening graphs' | 'reading dataset' | 'checking images' | 'caching image features' | 'training'
    | 'validation loss' | 'captioning (frozen model)' | 'captioning (adapted)' | 'captioning';
  done: number;
  total: number;
  /** 'bytes' for downloads; items otherwise. */
  unit?: 'bytes' | 'items';
  /**
   * A download's time left, from the rate of the bytes that came over the network (not those found in the
   * browser's cache, which a rate over `done` would count as instant).
   */
  etaSeconds?: number;
  /** Of `done`, the bytes that were already in the browser's cache (a resumed or repeated download). */
  cachedBytes?: number;
}

export interface StepReport {
  step: number;
  loss: number;
  gradNorm: number;
  learningRate: number;
}

/** Everything a studio run tells the UI besides the per-step losses. */
export type RunEvent =
  | { type: 'progress'; progress: Progress }
  | { type: 'validation'; step: number; loss: number }
  | { type: 'memory'; gpuBytes: number }
  | { type: 'checkpoint'; runId: string; step: number; savedAt: number }
  /** A checkpoint could not be written (e.g. the storage is full): the run goes on, the previous checkpoint is kept. */
  | { type: 'checkpoint failed'; step: number; error: ReadableError };

export interface TrainOutcome {
  /** The run's id (its checkpoints are kept under it). */
  runId: string;
  /** Updates applied in total (after a resume, counting the earlier ones). */
  step: number;
  /** Steps the run was asked to reach. */
  totalSteps: number;
  /** Why the run stopped, with what to do about it (the engine's error, as readableError gives it). */
  error?: ReadableError;
}

export interface StudioRunOptions {
  split: SplitOptions;
  /** Validation loss every this many steps (and before the first and after the last); 0 = never. */
  validateEvery: number;
  /** A checkpoint every this many steps (and at the start, on pause and at the end); 0 = only those. */
  checkpointEvery: number;
  /** Kept with the checkpoints, so that a resumed run is the one the person set up. */
  details: RunDetails;
  /** Continue the paused run instead of starting a new one. */
  resume?: boolean;
  /** Continue the run of this checkpoint (after a reload, or a lost GPU); the other options come from it. */
  fromCheckpoint?: string;
}

/**
 * Where a model or a dataset came from: with a URL, the studio can load it again by itself. A Hub model's
 * url is its address at the commit it was read at (hubModelAddress), which the studio loads from the Hub
 * (or from this browser's cache of it) again.
 */
export interface SourceOrigin {
  label: string;
  url?: string;
}

/** What the person set up for a run besides the engine's config. */
export interface RunDetails {
  settings: StudioSettings;
  adapterName: string;
  task: string;
  /**
   * One adapter per task: the name the adapters are named from (`<name> · <task>`) and the tasks still to train
   * after this run's, so that a run resumed after a reload goes on with them.
   */
  taskPlan?: { adapterName: string; queued: string[] };
}

/** A checkpoint of an unfinished run, as the Train panel offers it (without the training state's bytes). */
export interface CheckpointSummary {
  runId: string;
  savedAt: number;
  /** Updates applied; the run resumes at this step. */
  step: number;
  totalSteps: number;
  model: SourceOrigin & { id: string };
  /** `fingerprint`: SHA-256 of the split's examples and their images' bytes — the data order depends on them. */
  dataset: SourceOrigin & { fingerprint: string };
  split: SplitOptions;
  validateEvery: number;
  checkpointEvery: number;
  /** Train loss of every step so far (length `step`) and the validation losses. */
  losses: number[];
  validation: Array<{ step: number; loss: number }>;
  details: RunDetails;
  /** Size of the training state. */
  bytes: number;
}

/** What the studio keeps in this browser. `usage` and `quota`: the whole site, as the browser estimates it. */
export interface StorageReport {
  adapters: { count: number; bytes: number };
  checkpoints: { count: number; bytes: number };
  usage?: number;
  quota?: number;
}

export interface AdapterMetrics {
  finalLoss?: number;
  validationLoss?: number;
  before?: CaptionScores;
  after?: CaptionScores;
  evaluatedOn?: number;
}

/** An adapter in IndexedDB, without its bytes. */
export interface AdapterSummary {
  id: string;
  name: string;
  task: string;
  modelId: string;
  createdAt: number;
  steps: number;
  config: TrainConfig;
  metrics: AdapterMetrics;
  bytes: number;
  origin: 'trained' | 'imported';
}

export interface GalleryItem {
  path: string;
  thumbnail?: Blob;
  references: string[];
  prompt: string;
  frozen: string;
  adapted: string;
  /** The example's task, in an evaluation that routes by task. */
  task?: string;
}

/** In an evaluation that routes by task: which adapter a task's examples went through (none: the frozen model). */
export interface TaskRoute {
  task: string;
  adapterName?: string;
  items: number;
}

export interface EvaluationResult {
  adapterId?: string;
  adapterName: string;
  images: number;
  before: CaptionScores;
  after: CaptionScores;
  items: GalleryItem[];
  /** Present when each example went through its task's adapter. */
  routes?: TaskRoute[];
}

export interface PlaygroundResult {
  thumbnail?: Blob;
  prompt: string;
  frozen: string;
  adapted?: string;
  adapterName?: string;
}

export interface EngineApi {
  loadModel(source: ModelInput, onProgress?: (p: Progress) => void): Promise<ModelInfo>;
  /** Stops the run in progress after its in-flight steps; `train` then resolves. */
  pause(): void;

  /** Reads a dataset and checks every image; the dataset in use changes only when this succeeds. */
  openDataset(input: DatasetInput, onProgress?: (p: Progress) => void): Promise<DatasetSummary>;
  describeSplit(options: SplitOptions): Promise<SplitSummary>;
  /**
   * A run on the opened dataset's training split, with validation loss on its validation split. Callbacks are
   * top-level arguments: comlink proxies functions only there.
   */
  train(config: Partial<TrainConfig>, options: StudioRunOptions, onStep?: (r: StepReport) => void, onEvent?: (e: RunEvent) => void): Promise<TrainOutcome>;
  /** Saves the current run's adapter in IndexedDB. */
  saveRun(details: { name: string; task: string }): Promise<AdapterSummary>;
  /**
   * Captions of the validation split by the frozen model and with an adapter (the current run's, or a saved one),
   * or, `byTask`, each task's validation examples through the newest adapter saved for that task on this model.
   */
  evaluate(options: { adapterId?: string; split: SplitOptions; byTask?: boolean }, onProgress?: (p: Progress) => void): Promise<EvaluationResult>;
  listAdapters(): Promise<AdapterSummary[]>;
  renameAdapter(id: string, changes: { name?: string; task?: string }): Promise<AdapterSummary>;
  deleteAdapter(id: string): Promise<void>;
  adapterFile(id: string): Promise<{ fileName: string; bytes: Uint8Array }>;
  /**
   * The loaded model with a saved adapter folded into it, as a .zip of a model package (docs/FORMATS.md, "The
   * merged model"); `note` says what was folded where (the image side folded into the vision graph, or appended).
   */
  mergedModelFile(adapterId: string): Promise<{ fileName: string; bytes: Uint8Array; note: string }>;
  /** Reads an adapter file, checks it against the loaded model, saves it. */
  importAdapter(file: Blob, fileName: string): Promise<AdapterSummary>;
  caption(image: Blob, prompt: string, adapterId?: string, onProgress?: (p: Progress) => void): Promise<PlaygroundResult>;
  gpuBytes(): number;

  // Checkpoints and storage.
  /** Checkpoints of unfinished runs, newest first. */
  listCheckpoints(): Promise<CheckpointSummary[]>;
  deleteCheckpoint(runId: string): Promise<void>;
  clearCheckpoints(): Promise<void>;
  storageUsage(): Promise<StorageReport>;
  /** Tests only: destroys the engine's GPU device, as a driver reset or a lost GPU would. */
  simulateDeviceLoss(): void;
}
