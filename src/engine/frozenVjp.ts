/**
 * The frozen model's part of a train step (docs/ENGINE.md §4): the package's vjp graph run by ONNX Runtime
 * on the engine's device,
 *
 *   (Ẽ_image, Ẽ_text, text_mask, decoder_input_ids, labels) → (loss, dL/dẼ_image, dL/dẼ_text),
 *
 * its results left in GPU buffers of ours for the AdaLink backward kernels. Three ways to run it, the
 * fastest the package allows (docs/BENCHMARKS.md "Graph capture, and the vjp replayed by us"):
 *
 *  - `recorded`: each batch shape (B, Nt, Nd) gets a session of its own with that shape fixed
 *    (freeDimensionOverrides) and graph capture on. Its first run captures; its second — ORT replaying the
 *    capture — is recorded (commandRecorder.ts); every later step of that shape encodes the recording into the
 *    step's own command encoder: forward, vjp and update become one submit with no ONNX Runtime work on the CPU.
 *  - `captured`: the same sessions, ORT replaying its capture every step.
 *  - `plain`: the package's session, any shape (opened when a shape first runs plain: ModelPackage.vjp), ORT's
 *    per-operator work every step. A model whose vjp graph
 *    is made per shape (from the Hub: ModelPackage.vjpGraph, no any-shape session) gets a plain session per
 *    shape, the last MAX_PLAIN_SHAPES kept.
 *
 * Capture needs every op on the GPU, i.e. the vjp graph's GPU-input form (manifest files.vjp.input_types:
 * float32 mask, int32 ids and labels); a package with int64 inputs runs plain, ORT uploading those three.
 *
 * A run takes a part of the step's batch (rows [start, start + size): the whole batch, or a micro-batch when
 * the trainer splits it to hold fewer activations at once), copied into the run's own input buffers inside
 * the step's command encoder, so that parts replayed one after another in one submit each see their rows.
 */
import { VJP_GPU_INPUT_TYPES } from '../formats/manifest.ts';
import type { Batch } from './batch.ts';
import { encodeRecorded, recordCommands, RecordingError, releaseRecorded, type RecordedCommands } from './commandRecorder.ts';
import { copyRows, type BufferPool } from './gpuBuffers.ts';
import { withMemoryKind } from './gpuMemory.ts';
import { holdForGraphCapture } from './graphCapture.ts';
import type { ModelPackage, VjpShape } from './modelPackage.ts';
import { createSession, gpuTensor, hostTensor, type OrtTensor, type Session } from './onnxRuntime.ts';

export type VjpReplay = 'plain' | 'captured' | 'recorded';

/**
 * Batch shapes that get a captured session, first come first served; later shapes run plain. Each holds the
 * graph's weights and, once recorded, its intermediate buffers on the GPU.
 */
export const MAX_CAPTURED_SHAPES = 4;

/** Plain per-shape sessions kept (a graph made per shape, no any-shape session); the least recent goes first. */
export const MAX_PLAIN_SHAPES = 2;

/** A vjp run's results, in buffers of ours that the next run of the same shape overwrites. */
export interface VjpResult {
  loss: GPUBuffer;
  gradImage: GPUBuffer;
  gradText: GPUBuffer;
}

/**
 * One vjp run's share of a step: rows [start, start + size) of the batch (all of it, or one micro-batch), read
 * from the step's adapted embeddings (GPU buffers of B·Ni·d and B·Nt·d floats) and the batch.
 */
export interface VjpPart {
  batch: Batch;
  /** The batch's mask, ids and labels on the GPU (uploadBatch), for a graph of the GPU-input form; else absent. */
  uploaded?: BatchInputs;
  image: GPUBuffer;
  text: GPUBuffer;
  start: number;
  size: number;
}

/** A batch's mask, ids and labels in the vjp graph's GPU-input form (float32, int32, int32). */
export interface BatchInputs {
  mask: GPUBuffer;
  ids: GPUBuffer;
  labels: GPUBuffer;
}

interface CapturedShape {
  session: Session;
  /** Runs so far: the first captures, the second is ORT's replay (recorded when asked). */
  runs: number;
  recorded?: RecordedCommands;
}

/** How many steps ran each way so far (the benchmark prints it). */
export interface VjpCounts {
  plain: number;
  /** ORT's capturing runs (one per captured shape). */
  capture: number;
  ortReplay: number;
  recorded: number;
}

export class FrozenVjp {
  /** Whether the graph takes the GPU-input form (then it can be captured). */
  readonly gpuInputs: boolean;
  readonly replay: VjpReplay;
  readonly counts: VjpCounts = { plain: 0, capture: 0, ortReplay: 0, recorded: 0 };
  private readonly captured = new Map<string, CapturedShape | 'plain'>();
  /** Per-shape plain sessions, least recently used first (only without the package's any-shape session). */
  private readonly plainSessions = new Map<string, Session>();
  private readonly device: GPUDevice;
  private readonly imageTokens: number;
  private readonly d: number;

  constructor(private readonly pkg: ModelPackage, private readonly pool: BufferPool, replay: VjpReplay = 'recorded') {
    this.gpuInputs = pkg.manifest.files.vjp.input_types !== undefined;
    this.replay = this.gpuInputs ? replay : 'plain';
    this.device = pkg.device;
    this.imageTokens = pkg.manifest.image.tokens;
    this.d = pkg.manifest.d_model;
  }

  /**
   * Uploads the batch's mask, ids and labels (the GPU-input form) once per step, before its parts: each part
   * copies its rows from them inside the step's command encoder, in order with the other parts. Undefined for a
   * graph of int64 inputs (ORT uploads each part's).
   */
  uploadBatch(batch: Batch): BatchInputs | undefined {
    if (!this.gpuInputs) return undefined;
    const upload = (label: string, data: Float32Array<ArrayBuffer> | Int32Array<ArrayBuffer>) => {
      const buffer = this.pool.get(label, data.byteLength);
      this.device.queue.writeBuffer(buffer, 0, data);
      return buffer;
    };
    return {
      mask: upload('batch text_mask', Float32Array.from(vjpPromptMask(batch))),
      ids: upload('batch decoder_input_ids', batch.decoderInputIds),
      labels: upload('batch labels', batch.labels),
    };
  }

  /** Encodes this part's vjp into `encoder` when its shape has been recorded; else returns undefined and the step calls `run`. */
  encode(encoder: GPUCommandEncoder, part: VjpPart): VjpResult | undefined {
    const shape = this.captured.get(shapeKey(part));
    if (!shape || shape === 'plain' || !shape.recorded) return undefined;
    const { result } = this.io(part, encoder);
    encodeRecorded(encoder, shape.recorded);
    this.counts.recorded++;
    return result;
  }

  /**
   * Runs this part's vjp through ONNX Runtime: its input copies go into `encoder`, which is submitted (with
   * whatever the step encoded before), then ORT runs. `beforeRecording` is awaited before a recorded run: after
   * it, nothing else may encode GPU work or map a buffer until the run resolves (the recorder sees every
   * WebGPU call of this thread).
   */
  async run(part: VjpPart, encoder: GPUCommandEncoder, beforeRecording: () => Promise<void>): Promise<VjpResult> {
    const { feeds, fetches, result } = this.io(part, encoder);
    this.device.queue.submit([encoder.finish()]);
    const shape = await this.capturedShape(part, [...Object.values(feeds), ...Object.values(fetches)]);
    if (!shape) {
      await (await this.plainSession(part)).run(feeds, fetches);
      this.counts.plain++;
      return result;
    }
    const run = () => shape.session.run(feeds, fetches);
    if (shape.runs === 0) {
      try {
        await run();
      } catch (e) {
        // ORT refuses to capture a graph with a node on the CPU: this shape runs plain from now on.
        console.warn(`vjp graph capture failed for shape ${shapeKey(part)}, running it without: ${(e as Error).message}`);
        this.captured.set(shapeKey(part), 'plain');
        await shape.session.release();
        await (await this.plainSession(part)).run(feeds, fetches);
        this.counts.plain++;
        return result;
      }
      this.counts.capture++;
    } else if (shape.runs === 1 && this.replay === 'recorded') {
      await beforeRecording();
      try {
        shape.recorded = (await recordCommands(this.device, run)).recorded;
      } catch (e) {
        if (!(e instanceof RecordingError)) throw e;
        // The run itself went through: its results stand, and ORT keeps replaying this shape.
        console.warn(`vjp recording refused for shape ${shapeKey(part)}, ORT replays it: ${e.message}`);
      }
      this.counts.ortReplay++;
    } else {
      await run();
      this.counts.ortReplay++;
    }
    shape.runs++;
    return result;
  }

  /** The captured session of this shape, created (and its buffers held) on its first run; undefined: run plain. */
  private async capturedShape(part: VjpPart, tensors: OrtTensor[]): Promise<CapturedShape | undefined> {
    if (this.replay === 'plain') return undefined;
    const key = shapeKey(part);
    const known = this.captured.get(key);
    if (known) return known === 'plain' ? undefined : known;
    if (this.captured.size >= MAX_CAPTURED_SHAPES) {
      this.captured.set(key, 'plain');
      return undefined;
    }
    const session = await createSession(await this.pkg.vjpGraph(vjpShape(part)), this.where(), { inputs: [], outputs: [] },
      { capture: this.dimensionOverrides(part), externalData: this.pkg.externalData, label: `vjp ${key} captured` });
    // The replay binds the buffers of the capturing run: keep their registrations (graphCapture.ts).
    await holdForGraphCapture(tensors.map((t) => t.gpuBuffer as GPUBuffer));
    const shape: CapturedShape = { session, runs: 0 };
    this.captured.set(key, shape);
    return shape;
  }

  /**
   * The session that runs this part's shape plain: the package's own (any shape), else one made from the
   * shape's graph and kept among the last MAX_PLAIN_SHAPES.
   */
  private async plainSession(part: VjpPart): Promise<Session> {
    if (this.pkg.vjp) return this.pkg.vjp();
    const key = shapeKey(part);
    let session = this.plainSessions.get(key);
    if (session) {
      this.plainSessions.delete(key);
    } else {
      session = await createSession(await this.pkg.vjpGraph(vjpShape(part)), this.where(), { inputs: [], outputs: [] },
        { externalData: this.pkg.externalData, label: `vjp ${key}` });
      if (this.plainSessions.size >= MAX_PLAIN_SHAPES) {
        const [oldest, old] = this.plainSessions.entries().next().value!;
        this.plainSessions.delete(oldest);
        await old.release();
      }
    }
    this.plainSessions.set(key, session);
    return session;
  }

  private where(): string {
    return `${this.pkg.source.label}/${this.pkg.manifest.files.vjp.path}`;
  }

  /**
   * The graph's names of B, Nt and Nd (symbolic dims of text_mask and labels) → this part's values. None for a
   * graph made per shape: its dims are fixed already.
   */
  private dimensionOverrides({ batch, size }: VjpPart): Record<string, number> {
    const { inputs } = this.pkg.manifest.files.vjp;
    const dims = (name: string) => {
      const meta = this.pkg.vjpMetadata?.inputs.find((m) => m.name === name);
      return meta?.isTensor ? meta.shape : [];
    };
    const [b, nt] = dims(inputs.text_mask);
    const [, nd] = dims(inputs.labels);
    const overrides: Record<string, number> = {};
    for (const [dim, value] of [[b, size], [nt, batch.vjpPromptLength], [nd, batch.targetLength]] as const) {
      if (typeof dim === 'string' && dim !== '') overrides[dim] = value;
    }
    return overrides;
  }

  /**
   * The run's feeds and fetches on buffers of ours, pooled by size so that a shape gets the same ones every
   * run; the part's rows are copied into them in `encoder`. The pool pads each to 16 bytes, as ORT pads its own:
   * its kernels read and write vec4s, and a last vec4 past a buffer's end would touch other elements (WebGPU's
   * robust access clamps it), e.g. a mask of 3 × 5 floats.
   */
  private io(part: VjpPart, encoder: GPUCommandEncoder) {
    return withMemoryKind('engine: vjp feeds + fetches', () => this.feedsAndFetches(part, encoder));
  }

  private feedsAndFetches({ batch, uploaded, image, text, start, size }: VjpPart, encoder: GPUCommandEncoder) {
    const { d } = this;
    const { pool } = this;
    const { inputs, outputs } = this.pkg.manifest.files.vjp;
    // The graph's prompt length Nt may exceed the batch's (Batch.vjpPromptLength): the adapted prompt rows are
    // copied into the first positions of longer rows, the rest zeros and masked out.
    const Nt = batch.vjpPromptLength, Nd = batch.targetLength, Ni = this.imageTokens;
    const rows = (source: GPUBuffer, label: string, floatsPerRow: number, sourceFloatsPerRow = floatsPerRow) => {
      const target = pool.get(label, size * floatsPerRow * 4);
      if (sourceFloatsPerRow !== floatsPerRow) encoder.clearBuffer(target);
      copyRows(encoder, size, sourceFloatsPerRow,
        { buffer: source, offset: start * sourceFloatsPerRow, rowFloats: sourceFloatsPerRow }, { buffer: target, offset: 0, rowFloats: floatsPerRow });
      return target;
    };
    const floats = (buffer: GPUBuffer, dims: number[]) => gpuTensor(buffer, dims);
    const result: VjpResult = {
      loss: pool.get('vjp loss', 4),
      gradImage: pool.get('vjp grad image', size * Ni * d * 4),
      gradText: pool.get('vjp grad text', size * Nt * d * 4),
    };
    const feeds: Record<string, OrtTensor> = {
      [inputs.image_embeds]: floats(rows(image, 'vjp image_embeds', Ni * d), [size, Ni, d]),
      [inputs.text_embeds]: floats(rows(text, 'vjp text_embeds', Nt * d, batch.promptLength * d), [size, Nt, d]),
    };
    if (uploaded) {
      const ints = (buffer: GPUBuffer, dims: number[]) => gpuTensor(buffer, dims, VJP_GPU_INPUT_TYPES.labels);
      feeds[inputs.text_mask] = floats(rows(uploaded.mask, 'vjp text_mask', Nt), [size, Nt]);
      feeds[inputs.decoder_input_ids] = ints(rows(uploaded.ids, 'vjp decoder_input_ids', Nd), [size, Nd]);
      feeds[inputs.labels] = ints(rows(uploaded.labels, 'vjp labels', Nd), [size, Nd]);
    } else {
      const int64 = (values: Int32Array | Uint32Array, perRow: number) =>
        hostTensor('int64', BigInt64Array.from(values.subarray(start * perRow, (start + size) * perRow), (v) => BigInt(v)), [size, perRow]);
      feeds[inputs.text_mask] = int64(vjpPromptMask(batch), Nt);
      feeds[inputs.decoder_input_ids] = int64(batch.decoderInputIds, Nd);
      feeds[inputs.labels] = int64(batch.labels, Nd);
    }
    const fetches: Record<string, OrtTensor> = {
      [outputs.loss]: floats(result.loss, []),
      [outputs.grad_image_embeds]: floats(result.gradImage, [size, Ni, d]),
      [outputs.grad_text_embeds]: floats(result.gradText, [size, Nt, d]),
    };
    return { feeds, fetches, result };
  }

  /** The recordings made so far, one per recorded shape (bench/trainStep.ts measures their buffers). */
  get recordings(): RecordedCommands[] {
    return [...this.captured.values()].flatMap((shape) => (shape !== 'plain' && shape.recorded ? [shape.recorded] : []));
  }

  /** Releases the captured and per-shape sessions and recordings (the package's own session stays). */
  async release(): Promise<void> {
    for (const shape of this.captured.values()) {
      if (shape === 'plain') continue;
      if (shape.recorded) releaseRecorded(shape.recorded);
      await shape.session.release();
    }
    this.captured.clear();
    for (const session of this.plainSessions.values()) await session.release();
    this.plainSessions.clear();
  }
}

function shapeKey({ batch, size }: VjpPart): string {
  return `${size}×${batch.vjpPromptLength}×${batch.targetLength}`;
}

function vjpShape({ batch, size }: VjpPart): VjpShape {
  return { batch: size, promptTokens: batch.vjpPromptLength, targetTokens: batch.targetLength };
}

/** The batch's prompt mask (B·promptLength) laid out as the vjp takes it: B·vjpPromptLength, 0 past each row's prompt. */
function vjpPromptMask(batch: Batch): Uint32Array {
  const { size, promptLength, vjpPromptLength, promptValid } = batch;
  if (vjpPromptLength === promptLength) return promptValid;
  const mask = new Uint32Array(size * vjpPromptLength);
  for (let b = 0; b < size; b++) mask.set(promptValid.subarray(b * promptLength, (b + 1) * promptLength), b * vjpPromptLength);
  return mask;
}
