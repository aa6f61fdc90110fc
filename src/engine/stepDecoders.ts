/**
 * The decoders a caption search steps through (search.ts's StepDecoder), over one batch of R = B·k rows (row
 * b·k + i is beam i of example b):
 *
 *   - IncrementalDecoder: decoder_init on the start token, then decoder_step with the past self keys/values
 *     (kept on the GPU as ORT's outputs) and the cross keys/values computed once — the package's graphs;
 *   - PrefixDecoder: no step graph (a Hub model whose repo has no decoder with past): decoder_init on every
 *     row's whole prefix at each step.
 *
 * Each brings back only the newest position's logits, f32 [R, V], to the CPU, where the search runs.
 */
import { LAST_LOGITS } from '../autodiff/seq2seqTraining.ts';
import { PackageError } from '../errors.ts';
import { storageUsage } from './gpuBuffers.ts';
import type { GenerationSessions, ModelPackage } from './modelPackage.ts';
import { gpuTensor, hostTensor, type OrtTensor } from './onnxRuntime.ts';
import type { StepDecoder } from './search.ts';

export interface EncodedBatch {
  /** encoder_hidden, f32 [B, S, d], on the GPU. */
  hidden: OrtTensor;
  /** i64 [B, S]. */
  encoderMask: BigInt64Array;
  B: number;
  S: number;
}

export function checkDims(tensor: OrtTensor, expected: readonly number[], what: string, where: string): void {
  const dims = tensor.dims;
  if (dims.length !== expected.length || dims.some((v, i) => v !== expected[i])) {
    throw new PackageError(`the graph's ${what} has shape [${dims.join(', ')}], expected [${expected.join(', ')}]`, where,
      'The graph does not follow docs/ENGINE.md §7 or disagrees with manifest.json: re-export the package.');
  }
}

/**
 * The decoder of one batch of R = B·k rows, position by position: decoder_init on the start token, then
 * decoder_step with the past self keys/values (kept on the GPU as ORT's outputs) and the cross keys/values
 * (computed once by decoder_init). `logits` holds the newest position's logits, f32 [R, V], on the CPU.
 */
export class IncrementalDecoder implements StepDecoder {
  private constructor(
    private readonly pkg: ModelPackage,
    private readonly graphs: GenerationSessions,
    readonly examples: number,
    readonly rows: number,
    private readonly encoderMask: BigInt64Array,
    private readonly S: number,
    private logits: Float32Array,
    private selfKeys: OrtTensor,
    private selfValues: OrtTensor,
    private readonly crossKeys: OrtTensor,
    private readonly crossValues: OrtTensor,
  ) {}

  get vocabSize(): number {
    return this.pkg.manifest.text.vocab_size;
  }

  /** Runs decoder_init on `[decoder_start_id]` for every row, each example's encoder output repeated k times. */
  static async start(pkg: ModelPackage, graphs: GenerationSessions, encoded: EncodedBatch, k: number): Promise<IncrementalDecoder> {
    const { B, S } = encoded;
    const R = B * k;
    const { hidden, encoderMask } = repeatExamples(pkg.device, encoded, k);
    const file = pkg.manifest.files.decoder_init!;
    const where = `${pkg.source.label}/${file.path}`;
    const outputs = await graphs.decoderInit.run({
      [file.inputs.decoder_input_ids]: hostTensor('int64', new BigInt64Array(R).fill(BigInt(pkg.manifest.text.decoder_start_id)), [R, 1]),
      [file.inputs.encoder_hidden]: hidden,
      [file.inputs.encoder_mask]: hostTensor('int64', encoderMask, [R, S]),
    }).finally(() => hidden.dispose());
    const out = (role: keyof typeof file.outputs) => outputs[file.outputs[role]];
    const logits = out('logits');
    const keys = out('self_keys');
    const [L, , H, , dh] = keys.dims;
    try {
      checkDims(logits, [R, 1, pkg.manifest.text.vocab_size], 'logits', where);
      checkDims(keys, [L, R, H, 1, dh], 'self_keys', where);
      checkDims(out('self_values'), [L, R, H, 1, dh], 'self_values', where);
      checkDims(out('cross_keys'), [L, R, H, S, dh], 'cross_keys', where);
      checkDims(out('cross_values'), [L, R, H, S, dh], 'cross_values', where);
    } catch (e) {
      for (const output of Object.values(outputs)) output.dispose();
      throw e;
    }
    return new IncrementalDecoder(pkg, graphs, B, R, encoderMask, S, logits.data as Float32Array,
      keys, out('self_values'), out('cross_keys'), out('cross_values'));
  }

  /** The logits of row `row`, [V]. */
  row(row: number): Float32Array {
    const V = this.vocabSize;
    return this.logits.subarray(row * V, (row + 1) * V);
  }

  /**
   * Appends `tokens[row]` to every row and computes the next logits. With `sourceRows`, row j first takes
   * the past keys/values of row sourceRows[j] (beam search: a beam continues another beam's prefix).
   */
  async step(tokens: number[], sourceRows?: number[]): Promise<void> {
    const R = this.rows;
    if (sourceRows && sourceRows.some((source, row) => source !== row)) {
      const [keys, values] = [gatherRows(this.pkg.device, this.selfKeys, sourceRows), gatherRows(this.pkg.device, this.selfValues, sourceRows)];
      this.selfKeys.dispose();
      this.selfValues.dispose();
      [this.selfKeys, this.selfValues] = [keys, values];
    }
    const file = this.pkg.manifest.files.decoder_step!;
    const outputs = await this.graphs.decoderStep!.run({
      [file.inputs.decoder_input_ids]: hostTensor('int64', BigInt64Array.from(tokens, (t) => BigInt(t)), [R, 1]),
      [file.inputs.encoder_mask]: hostTensor('int64', this.encoderMask, [R, this.S]),
      [file.inputs.past_self_keys]: this.selfKeys,
      [file.inputs.past_self_values]: this.selfValues,
      [file.inputs.cross_keys]: this.crossKeys,
      [file.inputs.cross_values]: this.crossValues,
    });
    this.selfKeys.dispose();
    this.selfValues.dispose();
    const logits = outputs[file.outputs.logits];
    checkDims(logits, [R, 1, this.vocabSize], 'logits', `${this.pkg.source.label}/${file.path}`);
    this.logits = logits.data as Float32Array;
    this.selfKeys = outputs[file.outputs.self_keys];
    this.selfValues = outputs[file.outputs.self_values];
  }

  dispose(): void {
    for (const t of [this.selfKeys, this.selfValues, this.crossKeys, this.crossValues]) t.dispose();
  }
}

/**
 * The decoder of one batch of R = B·k rows without a step graph: each step reruns decoder_init on every row's
 * whole prefix (decoder_start_id, then the tokens so far) and brings back the newest position's logits
 * (`last_logits` of a composed graph, else the last of `logits`). Causal attention makes them the logits an
 * incremental decoder gives; the cost grows with the square of the caption's length.
 */
export class PrefixDecoder implements StepDecoder {
  private logits: Float32Array = new Float32Array(0);

  private constructor(
    private readonly pkg: ModelPackage,
    private readonly graphs: GenerationSessions,
    readonly examples: number,
    private readonly k: number,
    private hidden: OrtTensor,
    private encoderMask: BigInt64Array,
    private readonly S: number,
    private prefixes: number[][],
  ) {}

  get vocabSize(): number {
    return this.pkg.manifest.text.vocab_size;
  }

  static async start(pkg: ModelPackage, graphs: GenerationSessions, encoded: EncodedBatch, k: number): Promise<PrefixDecoder> {
    const { hidden, encoderMask } = repeatExamples(pkg.device, encoded, k);
    const prefixes = Array.from({ length: encoded.B * k }, () => [pkg.manifest.text.decoder_start_id]);
    const decoder = new PrefixDecoder(pkg, graphs, encoded.B, k, hidden, encoderMask, encoded.S, prefixes);
    try {
      await decoder.run();
    } catch (e) {
      decoder.dispose();
      throw e;
    }
    return decoder;
  }

  row(row: number): Float32Array {
    const V = this.vocabSize;
    return this.logits.subarray(row * V, (row + 1) * V);
  }

  /** Appends tokens[row] to every row's prefix; with sourceRows, row j first takes row sourceRows[j]'s prefix (and encoder rows). */
  async step(tokens: number[], sourceRows?: number[]): Promise<void> {
    if (sourceRows) {
      this.prefixes = sourceRows.map((source) => [...this.prefixes[source]]);
      if (sourceRows.some((source, row) => Math.floor(source / this.k) !== Math.floor(row / this.k))) {
        const hidden = takeRows(this.pkg.device, this.hidden, sourceRows);
        this.hidden.dispose();
        this.hidden = hidden;
        const S = this.S;
        this.encoderMask = BigInt64Array.from({ length: sourceRows.length * S }, (_, i) => this.encoderMask[sourceRows[Math.floor(i / S)] * S + (i % S)]);
      }
    }
    this.prefixes.forEach((prefix, row) => prefix.push(tokens[row]));
    await this.run();
  }

  private async run(): Promise<void> {
    const R = this.prefixes.length;
    const T = this.prefixes[0].length;
    const V = this.vocabSize;
    const file = this.pkg.manifest.files.decoder_init!;
    const last = this.graphs.decoderInit.outputNames.includes(LAST_LOGITS);
    const name = last ? LAST_LOGITS : file.outputs.logits;
    const outputs = await this.graphs.decoderInit.run({
      [file.inputs.decoder_input_ids]: hostTensor('int64', BigInt64Array.from(this.prefixes.flat(), (t) => BigInt(t)), [R, T]),
      [file.inputs.encoder_hidden]: this.hidden,
      [file.inputs.encoder_mask]: hostTensor('int64', this.encoderMask, [R, this.S]),
    }, [name]);
    // On the CPU: nothing to dispose.
    const logits = outputs[name];
    checkDims(logits, [R, last ? 1 : T, V], name, `${this.pkg.source.label}/${file.path}`);
    const data = logits.data as Float32Array;
    this.logits = last ? data : Float32Array.from({ length: R * V }, (_, i) => data[(Math.floor(i / V) * T + T - 1) * V + (i % V)]);
  }

  dispose(): void {
    this.hidden.dispose();
  }
}

/** encoder_hidden and encoder_mask with each example's row repeated k times (rows b·k … b·k + k − 1); the batch's own tensor when k = 1. */
function repeatExamples(device: GPUDevice, encoded: EncodedBatch, k: number): { hidden: OrtTensor; encoderMask: BigInt64Array } {
  if (k === 1) return { hidden: encoded.hidden, encoderMask: encoded.encoderMask };
  const { B, S } = encoded;
  const rows = Array.from({ length: B * k }, (_, row) => Math.floor(row / k));
  const hidden = takeRows(device, encoded.hidden, rows);
  encoded.hidden.dispose();
  const encoderMask = new BigInt64Array(B * k * S);
  rows.forEach((source, row) => encoderMask.set(encoded.encoderMask.subarray(source * S, (source + 1) * S), row * S));
  return { hidden, encoderMask };
}

/** A new GPU tensor [rows.length, …] whose row j is row rows[j] of `tensor` [R, …]. */
function takeRows(device: GPUDevice, tensor: OrtTensor, rows: number[]): OrtTensor {
  const [, ...rest] = tensor.dims;
  const rowBytes = rest.reduce((a, b) => a * b, 1) * 4;
  const out = device.createBuffer({ label: 'rows', size: Math.max(16, rows.length * rowBytes), usage: storageUsage() });
  const encoder = device.createCommandEncoder({ label: 'take rows' });
  rows.forEach((source, row) => encoder.copyBufferToBuffer(tensor.gpuBuffer as GPUBuffer, source * rowBytes, out, row * rowBytes, rowBytes));
  device.queue.submit([encoder.finish()]);
  return gpuTensor(out, [rows.length, ...rest], 'float32', () => out.destroy());
}

/**
 * Keys or values [L, R, H, P, dh] with row j taken from row sourceRows[j], on the GPU: L·R copies of one
 * row's H·P·dh block (the rows are contiguous within a layer).
 */
function gatherRows(device: GPUDevice, tensor: OrtTensor, sourceRows: number[]): OrtTensor {
  const [L, R, H, P, dh] = tensor.dims;
  const blockBytes = H * P * dh * 4;
  const out = device.createBuffer({ label: 'reordered keys/values', size: Math.max(16, L * R * blockBytes), usage: storageUsage() });
  const encoder = device.createCommandEncoder({ label: 'reorder beams' });
  for (let layer = 0; layer < L; layer++) {
    for (let row = 0; row < R; row++) {
      encoder.copyBufferToBuffer(tensor.gpuBuffer as GPUBuffer, (layer * R + sourceRows[row]) * blockBytes, out, (layer * R + row) * blockBytes, blockBytes);
    }
  }
  device.queue.submit([encoder.finish()]);
  return gpuTensor(out, tensor.dims, 'float32', () => out.destroy());
}
