/**
 * Captions from the frozen model, with or without an AdaLink adapter, through the package's generation
 * graphs (docs/ENGINE.md §7):
 *
 *   cached image features ──┐
 *   prompt ids → embeddings ─┴─ adalinkForward (p = 0) ─ encoder ─ decoder_init ─ decoder_step ─ … ─ ids
 *
 * Embeddings, adapted embeddings, encoder states and keys/values stay on the GPU (ORT's device); each step
 * brings back only the logits of the newest position, and the search — greedy or beam — runs on the CPU
 * over them. Several images run as one batch: B rows for greedy, B·k rows for k beams (row b·k + i is
 * beam i of example b). Without a decoder_step graph (a Hub model: hubPackage.ts) each step reruns
 * decoder_init on the whole prefix instead (PrefixDecoder).
 *
 * The adapter is one set for every example, or one set per task (RoutedAdapters, adapterRouting.ts): each
 * example goes through its own task's set, so a batch that mixes tasks gives the captions each task alone gives.
 */
import { encodeAdaptedEmbeddings, type AdapterOnGpu } from './adaptedEmbeddings.ts';
import { resolveAdapterChoice, UploadedAdapters, type AdapterChoice } from './adapterRouting.ts';
import { ConfigError, DatasetError, PackageError } from '../errors.ts';
import { BufferPool, storageBuffer } from './gpuBuffers.ts';
import type { GenerationSessions, ModelPackage } from './modelPackage.ts';
import { gpuTensor, hostTensor, type OrtTensor } from './onnxRuntime.ts';
import { beamSearch, greedySearch, logSumExp } from './search.ts';
import { checkDims, IncrementalDecoder, PrefixDecoder, type EncodedBatch } from './stepDecoders.ts';

export type { AdapterChoice, RoutedAdapters } from './adapterRouting.ts';

export interface CaptionInputs {
  /** Cached image features, f32 [images, Ni, d] on the package's device: a FeatureCache, or a buffer laid out the same way. */
  features: { buffer: GPUBuffer; ok?: boolean[] };
  /** The image of `features` that each example captions. */
  imageIndices: number[];
  /** Each example's prompt ids (docs/ENGINE.md §2: `pkg.text.promptIds(prompt)`, eos last). */
  promptIds: number[][];
}

export interface GenerationOptions {
  /** Generated ids at most, eos included: 1 … text.max_target_tokens (the default). */
  maxTokens?: number;
  /** Beams per example; 1 (the default) is greedy decoding. */
  numBeams?: number;
  /** Examples per run of the graphs (default 8; a run has batchSize · numBeams rows). */
  batchSize?: number;
  /**
   * 'greedy' (needs numBeams = 1) or 'beam'. By default greedy for one beam, beam search otherwise; 'beam'
   * with one beam runs the beam search, which must then give the greedy result (a check of the search).
   */
  search?: 'greedy' | 'beam';
}

export interface Caption {
  /** Generated ids, eos included when it was emitted (the decoder start id is not included). */
  ids: number[];
  /** The ids before eos, decoded without special tokens. */
  caption: string;
  /** Σ log p(id) over `ids` / ids.length (docs/ENGINE.md §7). */
  score: number;
}

/** Examples per run of the graphs when the caller does not say. */
const DEFAULT_BATCH = 8;

/** Captions for every example of `inputs`, in order. One-shot: see CaptionGenerator to keep the GPU tables between calls. */
export async function generateCaptions(
  pkg: ModelPackage, inputs: CaptionInputs, adapter?: AdapterChoice, options: GenerationOptions = {},
): Promise<Caption[]> {
  const generator = new CaptionGenerator(pkg);
  try {
    return await generator.generate(inputs, adapter, options);
  } finally {
    generator.destroy();
  }
}

/** Generation for one package: holds the embedding table and scratch buffers on the GPU between calls. */
export class CaptionGenerator {
  private readonly graphs: GenerationSessions;
  private readonly device: GPUDevice;
  private readonly embeddingTable: GPUBuffer;
  private readonly pool: BufferPool;

  constructor(private readonly pkg: ModelPackage) {
    if (!pkg.generation) {
      throw new PackageError('the model package has no generation graphs (files.encoder, files.decoder_init, files.decoder_step)',
        `${pkg.source.label}/manifest.json`, 'Captions need a package exported with its generation graphs: re-export it with tools/ (docs/ENGINE.md §7).');
    }
    this.graphs = pkg.generation;
    this.device = pkg.device;
    this.embeddingTable = storageBuffer(this.device, 'text embedding table', pkg.textEmbeddings);
    this.pool = new BufferPool(this.device);
  }

  async generate(inputs: CaptionInputs, adapter: AdapterChoice = [], options: GenerationOptions = {}): Promise<Caption[]> {
    const { text } = this.pkg.manifest;
    const maxTokens = options.maxTokens ?? text.max_target_tokens;
    const numBeams = options.numBeams ?? 1;
    const batchSize = options.batchSize ?? DEFAULT_BATCH;
    const search = options.search ?? (numBeams === 1 ? 'greedy' : 'beam');
    this.checkInputs(inputs, { maxTokens, numBeams, batchSize, search });

    return this.withAdapters(adapter, inputs.imageIndices.length, async (adapters) => {
      const captions: Caption[] = [];
      for (let start = 0; start < inputs.imageIndices.length; start += batchSize) {
        const encoded = await this.encode(inputs.features.buffer, {
          imageIndices: inputs.imageIndices.slice(start, start + batchSize),
          promptIds: inputs.promptIds.slice(start, start + batchSize),
        }, adapters.forBatch(start, batchSize));
        const rowsPerExample = search === 'greedy' ? 1 : numBeams;
        const decoder = this.graphs.decoderStep
          ? await IncrementalDecoder.start(this.pkg, this.graphs, encoded, rowsPerExample)
          : await PrefixDecoder.start(this.pkg, this.graphs, encoded, rowsPerExample);
        try {
          const best = search === 'greedy'
            ? await greedySearch(decoder, maxTokens, text.eos_id, text.pad_id)
            : await beamSearch(decoder, numBeams, maxTokens, text.eos_id, text.pad_id);
          for (const h of best) {
            const beforeEos = h.ids.at(-1) === text.eos_id ? h.ids.slice(0, -1) : h.ids;
            captions.push({ ids: h.ids, caption: this.pkg.text.decode(beforeEos), score: h.logprob / h.ids.length });
          }
        } finally {
          decoder.dispose();
        }
      }
      return captions;
    });
  }

  /**
   * Teacher forcing: Σ log p(ids[t] | image, prompt, ids[<t]) of given generated ids (eos included where it
   * ends them), one decoder_init run per batch — the score a caption would get, without searching.
   */
  async logProbabilities(inputs: CaptionInputs, ids: number[][], adapter: AdapterChoice = [], options: Pick<GenerationOptions, 'batchSize'> = {}): Promise<number[]> {
    const { text } = this.pkg.manifest;
    const batchSize = options.batchSize ?? DEFAULT_BATCH;
    this.checkInputs(inputs, { maxTokens: 1, numBeams: 1, batchSize, search: 'greedy' });
    if (ids.length !== inputs.imageIndices.length || ids.some((row) => row.length === 0 || row.some((id) => !Number.isInteger(id) || id < 0 || id >= text.vocab_size))) {
      throw new ConfigError(`give 1 or more ids below ${text.vocab_size} for each of the ${inputs.imageIndices.length} examples`, 'scored ids', 'Score the ids a search generated.');
    }
    return this.withAdapters(adapter, inputs.imageIndices.length, async (adapters) => {
      const logprobs: number[] = [];
      for (let start = 0; start < ids.length; start += batchSize) {
        const targets = ids.slice(start, start + batchSize);
        const encoded = await this.encode(inputs.features.buffer, {
          imageIndices: inputs.imageIndices.slice(start, start + batchSize),
          promptIds: inputs.promptIds.slice(start, start + batchSize),
        }, adapters.forBatch(start, batchSize));
        const { B, S } = encoded;
        // decoder input = [decoder_start_id, ids[:-1]], padded with pad_id (causal: padding changes nothing before it).
        const T = Math.max(...targets.map((row) => row.length));
        const decoderInputIds = new BigInt64Array(B * T).fill(BigInt(text.pad_id));
        targets.forEach((row, b) => row.forEach((_, t) => { decoderInputIds[b * T + t] = BigInt(t === 0 ? text.decoder_start_id : row[t - 1]); }));
        const file = this.pkg.manifest.files.decoder_init!;
        const outputs = await this.graphs.decoderInit.run({
          [file.inputs.decoder_input_ids]: hostTensor('int64', decoderInputIds, [B, T]),
          [file.inputs.encoder_hidden]: encoded.hidden,
          [file.inputs.encoder_mask]: hostTensor('int64', encoded.encoderMask, [B, S]),
        }).finally(() => encoded.hidden.dispose());
        const logits = outputs[file.outputs.logits];
        try {
          const V = text.vocab_size;
          checkDims(logits, [B, T, V], 'logits', `${this.pkg.source.label}/${file.path}`);
          const data = logits.data as Float32Array;
          for (const [b, row] of targets.entries()) {
            let sum = 0;
            for (const [t, id] of row.entries()) {
              const position = data.subarray((b * T + t) * V, (b * T + t + 1) * V);
              sum += position[id] - logSumExp(position);
            }
            logprobs.push(sum);
          }
        } finally {
          for (const output of Object.values(outputs)) output.dispose();
        }
      }
      return logprobs;
    });
  }

  /** Checks the adapter choice for `examples` examples, runs `work` with its sets on the GPU (each uploaded once), then frees them. */
  private async withAdapters<T>(choice: AdapterChoice, examples: number, work: (adapters: UploadedAdapters) => Promise<T>): Promise<T> {
    const adapters = new UploadedAdapters(this.device, resolveAdapterChoice(choice, examples, this.pkg.manifest.d_model));
    try {
      return await work(adapters);
    } finally {
      adapters.destroy();
    }
  }

  /**
   * Gathers the image features and prompt embeddings of a batch, adapts each modality the adapters cover
   * (Ẽ = E + (E·Wdown)·Wup, no dropout; each adapter on its rows) and runs the encoder. Returns encoder_hidden (on the GPU) and
   * encoder_mask = concat(ones(B, Ni), text_mask).
   */
  private async encode(
    features: GPUBuffer,
    examples: { imageIndices: number[]; promptIds: number[][] },
    adapters: AdapterOnGpu[],
  ): Promise<EncodedBatch> {
    const { device, pkg, pool } = this;
    const { manifest } = pkg;
    const d = manifest.d_model;
    const Ni = manifest.image.tokens;
    const B = examples.imageIndices.length;
    const Nt = Math.max(...examples.promptIds.map((ids) => ids.length));
    const S = Ni + Nt;

    // Prompts padded with pad_id (whose embedding is then adapted too, as in training) and masked out.
    const promptIds = new Uint32Array(B * Nt).fill(manifest.text.pad_id);
    const textMask = new BigInt64Array(B * Nt);
    const encoderMask = new BigInt64Array(B * S);
    examples.promptIds.forEach((ids, b) => {
      encoderMask.fill(1n, b * S, b * S + Ni);
      ids.forEach((id, t) => {
        promptIds[b * Nt + t] = id;
        textMask[b * Nt + t] = 1n;
        encoderMask[b * S + Ni + t] = 1n;
      });
    });

    const encoder = device.createCommandEncoder({ label: 'generation embeddings' });
    const { adapted } = encodeAdaptedEmbeddings(device, encoder, pool, manifest,
      { features, imageIndices: examples.imageIndices, promptIds, promptLength: Nt, embeddingTable: this.embeddingTable }, adapters);
    device.queue.submit([encoder.finish()]);

    const file = manifest.files.encoder!;
    const outputs = await this.graphs.encoder.run({
      [file.inputs.image_embeds]: gpuTensor(adapted.image, [B, Ni, d]),
      [file.inputs.text_embeds]: gpuTensor(adapted.text, [B, Nt, d]),
      [file.inputs.text_mask]: hostTensor('int64', textMask, [B, Nt]),
    });
    const hidden = outputs[file.outputs.encoder_hidden];
    try {
      checkDims(hidden, [B, S, d], 'encoder_hidden', `${pkg.source.label}/${file.path}`);
    } catch (e) {
      hidden.dispose();
      throw e;
    }
    return { hidden, encoderMask, B, S };
  }

  private checkInputs(inputs: CaptionInputs, options: Required<GenerationOptions>): void {
    const { manifest } = this.pkg;
    const { text } = manifest;
    const d = manifest.d_model;
    const setting = (field: string) => `generation setting "${field}"`;
    const integerIn = (field: keyof GenerationOptions, lo: number, hi: number) => {
      const v = options[field] as number;
      if (!Number.isInteger(v) || v < lo || v > hi) throw new ConfigError(`${field} must be an integer from ${lo} to ${hi}, got ${v}`, setting(field), `Set ${field} inside that range.`);
    };
    integerIn('maxTokens', 1, text.max_target_tokens);
    integerIn('numBeams', 1, Math.min(64, text.vocab_size));
    integerIn('batchSize', 1, 4096);
    if (options.search !== 'greedy' && options.search !== 'beam') {
      throw new ConfigError(`search must be "greedy" or "beam", got ${JSON.stringify(options.search)}`, setting('search'), 'Choose one of the two.');
    }
    if (options.search === 'greedy' && options.numBeams !== 1) {
      throw new ConfigError(`greedy search takes one beam, not ${options.numBeams}`, setting('numBeams'), 'Set numBeams to 1, or search to "beam".');
    }

    const { features, imageIndices, promptIds } = inputs;
    if (imageIndices.length !== promptIds.length) {
      throw new ConfigError(`${imageIndices.length} images but ${promptIds.length} prompts`, 'captioning inputs', 'Give one prompt per image.');
    }
    const bytesPerImage = manifest.image.tokens * d * 4;
    imageIndices.forEach((image, i) => {
      if (!Number.isInteger(image) || image < 0 || (image + 1) * bytesPerImage > features.buffer.size) {
        throw new ConfigError(`image index ${image} is outside the feature cache`, `captioning input ${i}`, 'Caption images of the cached dataset.');
      }
      if (features.ok && !features.ok[image]) {
        throw new DatasetError(`image ${image} has no features (it could not be read)`, `captioning input ${i}`, 'Leave out the images the feature cache skipped.');
      }
    });
    promptIds.forEach((ids, i) => {
      if (ids.length === 0 || !ids.every((id) => Number.isInteger(id) && id >= 0 && id < text.vocab_size)) {
        throw new ConfigError(`prompt ids must be 1 or more ids below ${text.vocab_size}, got [${ids.join(', ')}]`, `captioning input ${i}`,
          'Encode the prompt with the package\'s tokenizer (pkg.text.promptIds).');
      }
    });
  }

  destroy(): void {
    this.embeddingTable.destroy();
    this.pool.destroy();
  }
}
