/**
 * The GPU-resident AdaLink train step (docs/ENGINE.md §4–5):
 *
 *   image features (cached) ─┐                          ┌─ adalinkBackward(image) ─┐
 *   prompt ids → embeddings ─┴─ adalinkForward ─ vjp ───┴─ adalinkBackward(text) ──┴─ gradNorm ─ optimizer
 *
 * Everything between the cached features and the updated weights stays in GPU buffers on ORT's device;
 * per step only the loss and the gradient norm come back, asynchronously, two steps behind at most.
 * A step whose loss or gradient is not finite changes nothing on the GPU; the trainer then rolls back to
 * the last state whose loss was finite and stops with a TrainingError.
 */
import type { AdapterWeights } from '../formats/adapterFile.ts';
import { adafactor } from '../kernels/adafactor.ts';
import { adalinkBackward } from '../kernels/adalinkBackward.ts';
import { adamw } from '../kernels/adamw.ts';
import { gradNorm, STEP_STATUS_BYTES } from '../kernels/gradNorm.ts';
import { scaleRange } from '../kernels/scaleRange.ts';
import { dropoutKey, initialWdown } from '../kernels/random.ts';
import { encodeAdaptedEmbeddings } from './adaptedEmbeddings.ts';
import { buildBatch, IGNORE_LABEL, targetBucket, type Batch, type EncodedExample } from './batch.ts';
import { learningRateAt, validateConfig, type Modality, type TrainConfig } from '../config.ts';
import { DataOrder } from './dataOrder.ts';
import { ConfigError, TrainingError } from '../errors.ts';
import type { FeatureCache } from './featureCache.ts';
import { FrozenVjp, type VjpReplay, type VjpResult } from './frozenVjp.ts';
import { BufferPool, copyRows, readFloats, storageBuffer } from './gpuBuffers.ts';
import { withMemoryKind } from './gpuMemory.ts';
import type { ModelPackage } from './modelPackage.ts';
import type { TrainingState } from '../formats/trainingState.ts';

export interface StepResult {
  /** 0-based index of the step. */
  step: number;
  loss: number;
  gradNorm: number;
  learningRate: number;
}

/** Steps submitted ahead of the last one whose loss was read back. */
const STEPS_IN_FLIGHT = 2;
/** Snapshots of the trainable state kept for roll-back: the in-flight steps and one before them. */
const SNAPSHOTS = STEPS_IN_FLIGHT + 1;

interface Tensor {
  name: string;
  floats: number;
  buffer: GPUBuffer;
  /** Copies of this tensor taken before the update of step k, at k mod SNAPSHOTS. */
  snapshots: GPUBuffer[];
}

/** One modality's adapter: weights, gradients and optimizer state. */
interface Adapter {
  modality: Modality;
  r: number;
  wdown: Tensor;
  wup: Tensor;
  dWdown: GPUBuffer;
  dWup: GPUBuffer;
  /** Per weight: AdamW's m and v, or Adafactor's row and column second moments. */
  moments: Map<Tensor, [Tensor, Tensor]>;
}

/** Examples whose image has features, tokenized (docs/ENGINE.md §2). */
export function encodeExamples(pkg: ModelPackage, examples: Array<{ imageIndex: number; caption: string; prompt?: string }>, features: FeatureCache): EncodedExample[] {
  return examples
    .filter((e) => features.ok[e.imageIndex])
    .map((e) => ({
      imageIndex: e.imageIndex,
      promptIds: pkg.text.promptIds(e.prompt ?? pkg.manifest.text.default_prompt),
      targetIds: pkg.text.targetIds(e.caption),
    }));
}

/** How the engine runs a step; none of these changes what it computes (beyond float rounding). */
export interface TrainerOptions {
  /** How the frozen model's vjp runs (frozenVjp.ts); by default recorded where the package allows. */
  vjpReplay?: VjpReplay;
  /**
   * Examples per vjp run (default: the whole batch). Fewer hold fewer activations of the frozen model on the
   * GPU at once — the memory a step needs beyond the weights falls about in proportion — for a few more runs
   * per step; the gradients are the same (each part weighted by its share of the batch's target tokens).
   * A divisor of the batch size keeps every part one shape (one captured session).
   */
  vjpBatch?: number;
  /**
   * The examples validationLoss scores (the validation split's): the steps' target length covers theirs too, so
   * that they run in the steps' vjp shape.
   */
  validation?: EncodedExample[];
}

export class Trainer {
  readonly config: TrainConfig;
  private readonly device: GPUDevice;
  private readonly d: number;
  private readonly order: DataOrder;
  private readonly adapters: Adapter[];
  private readonly tensors: Tensor[] = [];
  private readonly pool: BufferPool;
  /** The frozen model's loss and gradients, by ONNX Runtime (replayed by us where the package allows). */
  readonly vjp: FrozenVjp;
  /** Examples per vjp run: the batch, or a part of it (TrainerOptions.vjpBatch). */
  private readonly vjpBatch: number;
  /**
   * Every batch's target length and the vjp's prompt length when the vjp is captured, else undefined (each batch its
   * own): one vjp shape for the run.
   */
  private readonly targetLength?: number;
  private readonly vjpPromptLength?: number;
  private readonly validation: EncodedExample[];
  private readonly embeddingTable: GPUBuffer;
  private readonly status: GPUBuffer;
  private completed = 0;
  private submitted = 0;
  /** The step this process's run started from: no snapshot exists before it. */
  private runStart = 0;
  private losses: number[] = [];
  /**
   * Host time spent in each phase of the steps submitted so far, in ms: encoding the forward kernels,
   * the vjp (ONNX Runtime's run until it returns, or encoding its recording), encoding the backward and
   * update, and waiting for the losses read back. Where a step's time goes (bench/trainStep.ts prints it).
   */
  readonly hostMs = { forward: 0, vjp: 0, update: 0, readbackWait: 0 };

  constructor(
    private readonly pkg: ModelPackage,
    private readonly features: FeatureCache,
    private readonly examples: EncodedExample[],
    config: TrainConfig,
    state?: TrainingState,
    options: TrainerOptions = {},
  ) {
    const { manifest, device } = pkg;
    this.config = validateConfig(config, manifest.d_model);
    if (examples.length === 0) throw new ConfigError('no training examples', 'the dataset', 'Add images with captions.');
    this.device = device;
    this.d = manifest.d_model;
    this.order = new DataOrder(config.seed, examples.length, config.batchSize);
    this.pool = new BufferPool(device);
    this.vjp = new FrozenVjp(pkg, this.pool, options.vjpReplay);
    this.vjpBatch = options.vjpBatch ?? this.config.batchSize;
    if (!Number.isSafeInteger(this.vjpBatch) || this.vjpBatch < 1 || this.vjpBatch > this.config.batchSize) {
      throw new ConfigError(`the vjp batch is ${this.vjpBatch}, not a whole number from 1 to the batch size ${this.config.batchSize}`,
        'engine option vjpBatch', 'Pick a divisor of the batch size (e.g. half of it), or leave it unset to run the whole batch at once.');
    }
    // A captured vjp holds a session, its weights and its activations per batch shape: one target length for
    // all batches (the longest target's bucket) and one prompt length for the vjp (the longest prompt; the
    // adapters still see each batch's own) keep it to one shape. Padding changes neither the loss nor the
    // gradients (batch.ts).
    this.validation = options.validation ?? [];
    if (this.vjp.replay !== 'plain') {
      const all = [...examples, ...this.validation];
      this.targetLength = targetBucket(all.reduce((n, e) => Math.max(n, e.targetIds.length), 0), manifest.text.max_target_tokens);
      this.vjpPromptLength = all.reduce((n, e) => Math.max(n, e.promptIds.length), 0);
    }
    this.embeddingTable = withMemoryKind('engine: text embedding table', () => storageBuffer(device, 'text embedding table', pkg.textEmbeddings));
    this.status = storageBuffer(device, 'step status', STEP_STATUS_BYTES);
    this.adapters = withMemoryKind('engine: adapters + optimizer state', () => config.modalities.map((m) => this.createAdapter(m, config.rank[m])));
    if (state) this.restore(state);
  }

  private tensor(name: string, init: Float32Array | number): Tensor {
    const floats = typeof init === 'number' ? init : init.length;
    const tensor: Tensor = {
      name, floats,
      buffer: storageBuffer(this.device, name, typeof init === 'number' ? floats * 4 : init),
      snapshots: Array.from({ length: SNAPSHOTS }, (_, k) => storageBuffer(this.device, `${name} snapshot ${k}`, floats * 4)),
    };
    this.tensors.push(tensor);
    return tensor;
  }

  private createAdapter(modality: Modality, r: number): Adapter {
    const { d, config } = this;
    const wdown = this.tensor(`${modality}.wdown`, initialWdown(config.seed, modality, d, r));
    const wup = this.tensor(`${modality}.wup`, r * d);
    const moments = new Map<Tensor, [Tensor, Tensor]>();
    for (const [w, rows, cols] of [[wdown, d, r], [wup, r, d]] as const) {
      moments.set(w, config.optimizer === 'adamw'
        ? [this.tensor(`${w.name}.adam_m`, rows * cols), this.tensor(`${w.name}.adam_v`, rows * cols)]
        : [this.tensor(`${w.name}.adafactor_row`, rows), this.tensor(`${w.name}.adafactor_col`, cols)]);
    }
    return {
      modality, r, wdown, wup, moments,
      dWdown: storageBuffer(this.device, `${modality}.dWdown`, d * r * 4),
      dWup: storageBuffer(this.device, `${modality}.dWup`, r * d * 4),
    };
  }

  /** Updates applied so far (the index of the next step). */
  get step(): number {
    return this.completed;
  }

  /**
   * Runs `count` steps, at most STEPS_IN_FLIGHT ahead of the last loss read back. Resolves when they are
   * done or `signal` aborts (the steps already submitted finish first). A non-finite step rolls the
   * state back to the last finite loss and rejects with a TrainingError.
   */
  async run(count: number, options: { onStep?: (result: StepResult) => void; signal?: AbortSignal } = {}): Promise<void> {
    const inFlight: Array<Promise<{ step: number; loss: number; norm: number; skip: number }>> = [];
    const end = this.completed + count;
    let bad: { step: number; loss: number; norm: number } | undefined;
    const settle = async () => {
      const waiting = performance.now();
      const { step, loss, norm, skip } = await inFlight.shift()!;
      this.hostMs.readbackWait += performance.now() - waiting;
      if (bad) return;
      if (skip !== 0 || !Number.isFinite(loss)) {
        bad = { step, loss, norm };
        return;
      }
      this.completed = step + 1;
      this.losses.push(loss);
      options.onStep?.({ step, loss, gradNorm: norm, learningRate: learningRateAt(this.config, step + 1) });
    };
    this.submitted = this.runStart = this.completed;
    // Before a vjp run that is recorded: nothing of ours may touch the GPU meanwhile (FrozenVjp.run awaits it).
    const drain = async () => {
      while (inFlight.length > 0) await settle();
    };
    while (this.submitted < end && !bad && !options.signal?.aborted) {
      inFlight.push((await withMemoryKind('engine: step buffers', () => this.submitStep(this.submitted++, drain))).readback);
      if (inFlight.length >= STEPS_IN_FLIGHT) await settle();
    }
    while (inFlight.length > 0) await settle();
    if (bad) this.rollBack(bad);
  }

  /** Restores the snapshot of the last state whose loss was finite, then reports the bad step. */
  private rollBack(bad: { step: number; loss: number; norm: number }): never {
    const lossFinite = Number.isFinite(bad.loss);
    // Loss finite, gradient not: the state of this step is good. Loss not finite: the one before it.
    const good = Math.max(this.runStart, lossFinite ? bad.step : bad.step - 1);
    const encoder = this.device.createCommandEncoder({ label: 'roll back' });
    for (const t of this.tensors) encoder.copyBufferToBuffer(t.snapshots[good % SNAPSHOTS], 0, t.buffer, 0, t.floats * 4);
    this.device.queue.submit([encoder.finish()]);
    this.completed = good;
    this.losses = this.losses.slice(0, good);
    if (!lossFinite && bad.step === 0) throw nonFiniteBeforeUpdate(`the loss of step 1 is ${bad.loss}`);
    throw new TrainingError(
      `${lossFinite ? 'the gradient norm' : 'the loss'} became ${lossFinite ? bad.norm : bad.loss} at step ${bad.step + 1}`,
      'training', `Training stopped and kept the adapter of step ${good}. Lower the learning rate or turn on gradient clipping, then resume.`);
  }

  /**
   * Encodes and submits step s — one submit when its vjp is recorded, else the forward, ONNX Runtime's run
   * and the update — and returns the promise of its read-back scalars.
   */
  private async submitStep(s: number, drain: () => Promise<void>): Promise<{ readback: Promise<{ step: number; loss: number; norm: number; skip: number }> }> {
    const { device, pkg, d, config } = this;
    const { manifest } = pkg;
    let phaseStart = performance.now();
    const phase = (name: keyof Trainer['hostMs']) => {
      const now = performance.now();
      this.hostMs[name] += now - phaseStart;
      phaseStart = now;
    };
    const batch = buildBatch(this.order.batch(s).map((i) => this.examples[i]), manifest.text, this.targetLength, this.vjpPromptLength);
    const { encoder: update, tokens, embeds, hidden, valid, grads, lossParts, parts } = await this.forwardAndVjp(batch, s, drain, phase);

    // Backward, clipping and the update.
    for (const a of this.adapters) {
      adalinkBackward(device, update, {
        E: embeds[a.modality], G: grads[a.modality], valid: valid[a.modality], H: hidden.get(a.modality)!,
        Wup: a.wup.buffer, dWdown: a.dWdown, dWup: a.dWup,
        N: tokens[a.modality], d, r: a.r, p: config.dropout, key: dropoutKey(config.seed, s, a.modality),
      });
    }
    // The loss check covers part 0's loss; a non-finite loss of another part is caught on the CPU (roll-back).
    gradNorm(device, update, {
      grads: this.adapters.flatMap((a) => [{ buffer: a.dWdown, count: d * a.r }, { buffer: a.dWup, count: a.r * d }]),
      loss: lossParts, lossOffset: 0, clip: config.clipNorm, status: this.status,
    });
    for (const t of this.tensors) update.copyBufferToBuffer(t.buffer, 0, t.snapshots[s % SNAPSHOTS], 0, t.floats * 4);
    const t = s + 1;
    const lr = learningRateAt(config, t);
    for (const a of this.adapters) {
      for (const [w, grad, rows, cols] of [[a.wdown, a.dWdown, d, a.r], [a.wup, a.dWup, a.r, d]] as const) {
        const [first, second] = a.moments.get(w)!;
        if (config.optimizer === 'adamw') {
          adamw(device, update, {
            param: w.buffer, grad, m: first.buffer, v: second.buffer, status: this.status, count: rows * cols, lr, step: t,
            beta1: config.adamBeta1, beta2: config.adamBeta2, eps: config.adamEpsilon, weightDecay: config.weightDecay,
          });
        } else {
          adafactor(device, update, { param: w.buffer, grad, row: first.buffer, col: second.buffer, status: this.status, rows, cols, lr, step: t, weightDecay: config.weightDecay });
        }
      }
    }
    // Read back the status { sumSquares, norm, clipScale, skip } and the parts' losses.
    const bytes = STEP_STATUS_BYTES + parts.length * 4;
    const readback = device.createBuffer({ label: `step ${s} scalars`, size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    update.copyBufferToBuffer(this.status, 0, readback, 0, STEP_STATUS_BYTES);
    update.copyBufferToBuffer(lossParts, 0, readback, STEP_STATUS_BYTES, parts.length * 4);
    device.queue.submit([update.finish()]);
    phase('update');

    return { readback: readback.mapAsync(GPUMapMode.READ).then(() => {
      const values = new Float32Array(readback.getMappedRange().slice(0, bytes));
      readback.destroy();
      const losses = values.subarray(STEP_STATUS_BYTES / 4);
      // One part: its loss as it is; more: Σ (n_k / N) · loss_k.
      const loss = parts.length === 1 ? losses[0] : parts.reduce((sum, part, k) => sum + part.share * losses[k], 0);
      return { step: s, loss, norm: values[1], skip: new Uint32Array(values.buffer)[3] };
    }) };
  }

  /**
   * A batch's forward and the frozen model's vjp, encoded into a command encoder (submitted, and a new one
   * returned, where ONNX Runtime runs a part): the adapted embeddings, dL/dẼ per modality and each part's loss.
   * `step`: the step whose dropout applies; undefined: no dropout (the validation loss).
   */
  private async forwardAndVjp(batch: Batch, step: number | undefined, drain: () => Promise<void>, phase: (name: 'forward' | 'vjp') => void = () => {}) {
    const { device, pkg, d, config } = this;
    const { manifest } = pkg;
    const B = batch.size;
    const label = step === undefined ? 'validation' : `step ${step}`;
    // Forward: gather the embeddings, adapt each modality.
    const forward = device.createCommandEncoder({ label: `${label} forward` });
    const { tokens, embeds, adapted, hidden } = encodeAdaptedEmbeddings(device, forward, this.pool, manifest,
      { features: this.features.buffer, imageIndices: batch.imageIndices, promptIds: batch.promptIds, promptLength: batch.promptLength, embeddingTable: this.embeddingTable },
      this.adapters.map((a) => ({
        modality: a.modality, r: a.r, Wdown: a.wdown.buffer, Wup: a.wup.buffer,
        p: step === undefined ? 0 : config.dropout, key: step === undefined ? 0 : dropoutKey(config.seed, step, a.modality),
      })));
    const valid: Record<Modality, GPUBuffer> = {
      image: this.pool.get('image valid', tokens.image * 4),
      text: this.pool.get('text valid', tokens.text * 4),
    };
    device.queue.writeBuffer(valid.text, 0, batch.promptValid);
    device.queue.writeBuffer(valid.image, 0, new Uint32Array(tokens.image).fill(1));
    phase('forward');

    // The frozen model's loss and dL/dẼ on the same device, in parts of vjpBatch examples (one part unless
    // memory asks for fewer at a time): a part's recording is encoded into the step's encoder, or the encoder
    // is submitted and ONNX Runtime runs the part. A part's loss is the mean over its own target tokens, so
    // part k's dL/dẼ is scaled by its share n_k / N of the batch's target tokens, and the step's loss is
    // Σ (n_k / N) · loss_k (summed on the CPU from the parts' losses read back).
    const parts = this.partsOf(batch);
    const lossParts = this.pool.get('vjp losses', parts.length * 4);
    const Ni = manifest.image.tokens;
    const rowFloats: Record<Modality, number> = { image: Ni * d, text: batch.promptLength * d };
    const vjpRowFloats: Record<Modality, number> = { image: Ni * d, text: batch.vjpPromptLength * d };
    const grads: Record<Modality, GPUBuffer> = {
      image: this.pool.get('dL/dẼ image', B * rowFloats.image * 4),
      text: this.pool.get('dL/dẼ text', B * rowFloats.text * 4),
    };
    const uploaded = this.vjp.uploadBatch(batch);
    let encoder = forward;
    for (const [k, { start, size, share }] of parts.entries()) {
      const part = { batch, uploaded, image: adapted.image, text: adapted.text, start, size };
      let vjp: VjpResult | undefined = this.vjp.encode(encoder, part);
      if (!vjp) {
        vjp = await this.vjp.run(part, encoder, drain);
        encoder = device.createCommandEncoder({ label: `${label} after the vjp` });
      }
      encoder.copyBufferToBuffer(vjp.loss, 0, lossParts, k * 4, 4);
      for (const [modality, source] of [['image', vjp.gradImage], ['text', vjp.gradText]] as const) {
        const [offset, count] = [start * rowFloats[modality], size * rowFloats[modality]];
        // The vjp's prompt rows may be longer than the batch's (Batch.vjpPromptLength): their first positions come back.
        copyRows(encoder, size, rowFloats[modality], { buffer: source, offset: 0, rowFloats: vjpRowFloats[modality] },
          { buffer: grads[modality], offset, rowFloats: rowFloats[modality] });
        if (parts.length > 1) scaleRange(device, encoder, { x: grads[modality], offset, count, scale: share });
      }
    }
    phase('vjp');
    return { encoder, tokens, embeds, hidden, valid, grads, lossParts, parts };
  }

  /**
   * The validation loss: the mean cross-entropy per target token of TrainerOptions.validation, with the current
   * adapter and no dropout, through the same vjp as the steps — batches of the batch size padded to the steps'
   * target length, so a recorded shape replays and no other graph's weights come onto the GPU (its gradients are
   * computed and not used). The last batch is filled with copies of its first example whose labels are ignored.
   * Call between runs.
   */
  async validationLoss(): Promise<number> {
    if (this.validation.length === 0) {
      throw new ConfigError('no validation examples', 'the validation loss', 'Give the trainer the validation split\'s examples (TrainerOptions.validation).');
    }
    const B = this.config.batchSize;
    let weighted = 0;
    let tokens = 0;
    for (let start = 0; start < this.validation.length; start += B) {
      const examples = this.validation.slice(start, start + B);
      const batch = buildBatch([...examples, ...new Array<EncodedExample>(B - examples.length).fill(examples[0])], this.pkg.manifest.text, this.targetLength, this.vjpPromptLength);
      batch.labels.fill(IGNORE_LABEL, examples.length * batch.targetLength);
      const { encoder, lossParts, parts } = await withMemoryKind('engine: step buffers', () => this.forwardAndVjp(batch, undefined, async () => {}));
      this.device.queue.submit([encoder.finish()]);
      const losses = await readFloats(this.device, lossParts, parts.length);
      // A part of padding rows only has no target tokens (share 0, loss 0/0): it adds nothing.
      const loss = parts.reduce((sum, part, k) => sum + (part.share === 0 ? 0 : part.share * losses[k]), 0);
      const n = batch.labels.reduce((count, label) => count + (label === IGNORE_LABEL ? 0 : 1), 0);
      weighted += n * loss;
      tokens += n;
    }
    return weighted / tokens;
  }

  /**
   * The batch's parts of at most vjpBatch examples (rows [start, start + size)) and each one's share of the
   * batch's target tokens (labels ≠ −100), n_k / N.
   */
  private partsOf(batch: Batch): Array<{ start: number; size: number; share: number }> {
    const tokens = (from: number, to: number) => {
      let n = 0;
      for (let i = from * batch.targetLength; i < to * batch.targetLength; i++) n += batch.labels[i] === IGNORE_LABEL ? 0 : 1;
      return n;
    };
    const total = tokens(0, batch.size);
    const parts = [];
    for (let start = 0; start < batch.size; start += this.vjpBatch) {
      const size = Math.min(this.vjpBatch, batch.size - start);
      parts.push({ start, size, share: tokens(start, start + size) / total });
    }
    return parts;
  }

  /** Names of the trainable state's tensors: `<modality>.wdown`, `<modality>.wup` and their optimizer moments. */
  get tensorNames(): string[] {
    return this.tensors.map((t) => t.name);
  }

  /** The whole training state, read back from the GPU (call between runs). */
  async exportState(): Promise<TrainingState> {
    const tensors: Record<string, Float32Array> = {};
    for (const t of this.tensors) tensors[t.name] = await readFloats(this.device, t.buffer, t.floats);
    return {
      format: 'adalink-training-state', version: 1, packageId: this.pkg.manifest.id, exampleCount: this.examples.length,
      config: structuredClone(this.config), step: this.completed, losses: [...this.losses], tensors,
    };
  }

  /** The current adapter weights only (Wdown, Wup per modality), read back from the GPU: for generation between runs. */
  async adapterWeights(): Promise<AdapterWeights[]> {
    return Promise.all(this.adapters.map(async (a) => ({
      modality: a.modality, rank: a.r,
      wdown: await readFloats(this.device, a.wdown.buffer, a.wdown.floats),
      wup: await readFloats(this.device, a.wup.buffer, a.wup.floats),
    })));
  }

  private restore(state: TrainingState): void {
    const where = 'training state';
    if (state.packageId !== this.pkg.manifest.id) {
      throw new ConfigError(`the state belongs to model "${state.packageId}", not "${this.pkg.manifest.id}"`, where, 'Load the model it was trained on.');
    }
    if (state.exampleCount !== this.examples.length) {
      throw new ConfigError(`the state was trained on ${state.exampleCount} examples, this dataset has ${this.examples.length}`, where,
        'Resume with the same dataset, or start a new run.');
    }
    for (const t of this.tensors) {
      const values = state.tensors[t.name];
      if (!values || values.length !== t.floats) {
        throw new ConfigError(`tensor ${t.name} is ${values ? `${values.length} floats, expected ${t.floats}` : 'missing'}`, where,
          'The state was saved with another rank or optimizer: resume with its config.');
      }
      this.device.queue.writeBuffer(t.buffer, 0, values as Float32Array<ArrayBuffer>);
    }
    this.completed = state.step;
    this.losses = [...state.losses];
  }

  /** Frees the GPU buffers and the vjp's captured sessions (the package's sessions stay). */
  async destroy(): Promise<void> {
    await this.vjp.release();
    for (const t of this.tensors) [t.buffer, ...t.snapshots].forEach((b) => b.destroy());
    for (const a of this.adapters) [a.dWdown, a.dWup].forEach((b) => b.destroy());
    [this.embeddingTable, this.status].forEach((b) => b.destroy());
    this.pool.destroy();
  }
}

/**
 * A loss that is not finite before any update: the adapter is still the identity, so neither the learning
 * rate nor clipping is the cause — the data or the model is.
 */
export function nonFiniteBeforeUpdate(what: string): TrainingError {
  return new TrainingError(`${what} before any update, so it comes from the data or the model, not from the learning rate`,
    'training', 'Check the images the dataset report lists and the model package (re-export it in float32); a learning rate or clipping change will not help.');
}
