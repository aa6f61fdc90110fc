/**
 * Loads a model package (docs/ENGINE.md §1): reads and checks the manifest, every file it names, the
 * tokenizer and the embedding table, and opens the vision graph on WebGPU; the vjp and generation graphs are
 * checked from their files (names, types, shapes) and opened when first run, so that GPU memory holds only the
 * weights of the sessions in use (issue 16, item 2). Anything wrong that the files show is reported here,
 * before training starts, as a PackageError naming the file. A model read from the Hub's
 * transformers.js layout is a ModelPackage too (hubPackage.ts): the same interface, its vjp graph derived.
 */
import { MissingFileError, type FileSource } from '../data/source.ts';
import { createTextCodec, type TextCodec } from '../data/text.ts';
import {
  DECODER_INIT_INPUT_ROLES, DECODER_INIT_OUTPUT_ROLES, DECODER_STEP_INPUT_ROLES, DECODER_STEP_OUTPUT_ROLES, ENCODER_INPUT_ROLES,
  ENCODER_OUTPUT_ROLES, parseManifest, VISION_INPUT_ROLES, VISION_OUTPUT_ROLES, VJP_INPUT_ROLES, VJP_OUTPUT_ROLES, type GraphFile, type ModelManifest,
} from '../formats/manifest.ts';
import { readSafetensors, tensorAsFloat32 } from '../formats/safetensors.ts';
import { AdaLinkError, PackageError } from '../errors.ts';
import { encodeOnnxModel, readOnnxModel } from '../formats/onnx.ts';
import type { OnnxGraph } from '../formats/onnxModel.ts';
import { weightsOnce } from '../autodiff/weightsOnce.ts';
import { checkGraphNames, createSession, ortDevice, type ExternalData, type Session, type ValueMetadata } from './onnxRuntime.ts';
import { checkedGraphMetadata, openedNowAndWhenRun, openedWhenRun } from './lazySession.ts';

export interface ModelPackage {
  manifest: ModelManifest;
  source: FileSource;
  text: TextCodec;
  /** The frozen token embedding table, vocab_size × d_model. */
  textEmbeddings: Float32Array;
  vision: Session;
  /**
   * The vjp graph's session for any batch shape (a package's vjp.onnx), opened on the first call and kept until
   * releaseModelPackage. Opened only when a shape runs plain (frozenVjp.ts): it holds a copy of the frozen
   * model's weights on the GPU, which a trainer whose every shape is captured never needs (and releasing a
   * session gives nothing back: ORT keeps its buffers in its cache). Absent where the graph is made per shape
   * (a model from the Hub): the engine then opens `vjpGraph(shape)` per shape.
   */
  vjp?: () => Promise<Session>;
  /** The inputs and outputs of `vjp`'s graph (names, types, dims; symbolic ones by name), read from the file. */
  vjpMetadata?: { inputs: readonly ValueMetadata[]; outputs: readonly ValueMetadata[] };
  /**
   * The vjp graph's bytes for one batch shape (files.vjp's roles and input types): a package's vjp.onnx
   * whatever the shape; a Hub model's graph derived for that shape (src/autodiff/seq2seqTraining.ts), cached.
   */
  vjpGraph(shape: VjpShape): Promise<Uint8Array>;
  /** The generation graphs (docs/ENGINE.md §7), when the package has them; a package's open on their first run. */
  generation?: GenerationSessions;
  /** ORT's device, shared with the engine's kernels. */
  device: GPUDevice;
  /** The package's weights file, for the sessions opened from its graphs (vjpGraph's too): manifest.weights. */
  externalData?: readonly ExternalData[];
}

/** A package as loadModelPackage gives it: with its any-shape vjp session (opened when first asked for). */
export type PackageWithVjp = ModelPackage & Required<Pick<ModelPackage, 'vjp' | 'vjpMetadata'>>;

/** One vjp run's shape: examples, prompt tokens, target tokens (Ni and d are the manifest's). */
export interface VjpShape {
  batch: number;
  promptTokens: number;
  targetTokens: number;
}

export interface GenerationSessions {
  /** Ẽ_image, Ẽ_text, text_mask → encoder_hidden (kept on the GPU). */
  encoder: Session;
  /**
   * The decoder on a whole prefix: logits (to the CPU), self and cross keys/values (kept on the GPU). A
   * composed one (Hub) also gives `last_logits`, the newest position's [B, 1, V] (to the CPU).
   */
  decoderInit: Session;
  /**
   * One more decoder position from the past keys/values: logits (to the CPU), self keys/values (GPU).
   * Absent (a Hub model without a decoder with past): generation reruns decoderInit on the prefix.
   */
  decoderStep?: Session;
}

async function readPackageFile(source: FileSource, path: string, what: string): Promise<Uint8Array> {
  try {
    return await source.read(path);
  } catch (e) {
    if (e instanceof MissingFileError && path === 'manifest.json') {
      throw new PackageError('there is no manifest.json here: this is not a model package', source.label,
        'Choose the package folder (the one holding manifest.json), or export one with tools/.');
    }
    if (e instanceof MissingFileError) {
      throw new PackageError(`the ${what} file "${path}" named in manifest.json is missing`, source.label,
        'Copy the whole package folder, or fix the path in manifest.json.');
    }
    throw new PackageError(`cannot read "${path}": ${(e as Error).message}`, source.label, 'Check the package location.');
  }
}

export async function loadModelPackage(source: FileSource, onProgress?: (done: number, total: number, what: string) => void): Promise<PackageWithVjp> {
  const manifest = parseManifest(await readPackageFile(source, 'manifest.json', 'manifest'), source.label);
  const where = (path: string) => `${source.label}/${path}`;
  const steps = 5;
  onProgress?.(0, steps, 'tokenizer');

  const text = textCodecFor(await readPackageFile(source, manifest.tokenizer, 'tokenizer'), manifest, source.label);
  onProgress?.(1, steps, 'text embeddings');

  const { path: embeddingsPath, tensor } = manifest.files.text_embeddings;
  let textEmbeddings: Float32Array;
  try {
    const table = tensorAsFloat32(readSafetensors(await readPackageFile(source, embeddingsPath, 'text embeddings'), where(embeddingsPath)), tensor, where(embeddingsPath));
    const [vocab, d] = table.shape;
    if (table.shape.length !== 2 || vocab !== manifest.text.vocab_size || d !== manifest.d_model) {
      throw new PackageError(`embedding table has shape [${table.shape.join(', ')}], manifest says [${manifest.text.vocab_size}, ${manifest.d_model}]`,
        where(embeddingsPath), 'The table and manifest.json disagree: re-export the package.');
    }
    textEmbeddings = table.values;
  } catch (e) {
    if (e instanceof AdaLinkError && !(e instanceof PackageError)) throw new PackageError(e.problem, e.where, e.fix);
    throw e;
  }
  onProgress?.(2, steps, 'vision graph');

  const { vision: visionFile, vjp: vjpFile, encoder: encoderFile, decoder_init: decoderInitFile, decoder_step: decoderStepFile } = manifest.files;
  // Each weight once (src/formats/sharedWeights.ts): read once, given to every session the graphs open.
  const externalData = manifest.weights ? [{ path: manifest.weights, data: await readPackageFile(source, manifest.weights, 'weights') }] : undefined;
  const opened: Session[] = [];
  /**
   * The vision graph, opened now (a graph ORT cannot load fails at load) on ORT's second context, whose runs'
   * buffers are destroyed, not kept (SessionOptions.releaseEachRun). Released once a run's features are cached (the
   * worker, the CLI: the ViT leaves the GPU for the training), it opens again when an image needs features.
   */
  const openVision = async () => createSession(await readPackageFile(source, visionFile.path, 'vision graph'), where(visionFile.path), {
    inputs: VISION_INPUT_ROLES.map((r) => visionFile.inputs[r]),
    outputs: VISION_OUTPUT_ROLES.map((r) => visionFile.outputs[r]),
  }, { gpuOutputs: true, externalData, label: 'vision', releaseEachRun: true });
  /** A graph's bytes and metadata, read from its file, with the tensor names of the given roles checked; on failure releases those opened. */
  const readChecked = async <In extends string, Out extends string>(
    file: GraphFile<In, Out>, what: string, inputs: readonly In[], outputs: readonly Out[],
  ) => {
    try {
      const bytes = await readPackageFile(source, file.path, what);
      const metadata = checkedGraphMetadata(graphOf(bytes, where(file.path)), where(file.path),
        { inputs: inputs.map((r) => file.inputs[r]), outputs: outputs.map((r) => file.outputs[r]) });
      return { bytes, metadata };
    } catch (e) {
      await Promise.all(opened.map((s) => s.release()));
      throw e;
    }
  };
  /**
   * A graph checked now (its names, from the file) and opened on its first run: training does not run the
   * generation graphs, so their weights reach the GPU only when captions are asked for (issue 16, item 2).
   */
  const openWhenRun = async <In extends string, Out extends string>(
    file: GraphFile<In, Out>, what: string, inputs: readonly In[], outputs: readonly Out[], gpuOutputs: true | readonly Out[],
  ) => {
    const { bytes, metadata } = await readChecked(file, what, inputs, outputs);
    return openedWhenRun(metadata, () => createSession(bytes, where(file.path), { inputs: [], outputs: [] },
      { gpuOutputs: gpuOutputs === true ? true : gpuOutputs.map((r) => file.outputs[r]), externalData, label: what.replace(/ graph$/, ''), releaseEachRun: true }));
  };
  const vision = await openedNowAndWhenRun(openVision);
  opened.push(vision);
  onProgress?.(3, steps, 'vjp graph');
  // Checked from the file; the session is opened only when a shape runs plain (ModelPackage.vjp).
  const vjpMetadata: PackageWithVjp['vjpMetadata'] = (await readChecked(vjpFile, 'vjp graph', VJP_INPUT_ROLES, VJP_OUTPUT_ROLES)).metadata;
  try {
    checkVjpGraph(vjpMetadata, manifest, where(vjpFile.path));
  } catch (e) {
    await Promise.all(opened.map((s) => s.release()));
    throw e;
  }
  // Read again per shape (frozenVjp.ts opens a session per captured shape): the bytes are not kept here. Each
  // weight is multiplied by in one orientation only, so that ORT's constant folding keeps one float32 copy of it
  // (src/autodiff/weightsOnce.ts).
  const vjpGraph = async () => {
    const bytes = await readPackageFile(source, vjpFile.path, 'vjp graph');
    return encodeOnnxModel(weightsOnce(readOnnxModel(bytes, { where: where(vjpFile.path) })).model);
  };
  let vjpSession: Promise<Session> | undefined;
  const vjp = () => (vjpSession ??= vjpGraph().then((bytes) => createSession(bytes, where(vjpFile.path),
    { inputs: [], outputs: [] }, { gpuOutputs: true, externalData, label: 'vjp any shape' })));
  openedVjp.set(vjp, () => vjpSession);
  let generation: GenerationSessions | undefined;
  if (encoderFile && decoderInitFile && decoderStepFile) {
    onProgress?.(4, steps, 'generation graphs');
    // Logits come back to the CPU (the search runs there); keys, values and hidden states stay on the GPU.
    generation = {
      encoder: await openWhenRun(encoderFile, 'encoder graph', ENCODER_INPUT_ROLES, ENCODER_OUTPUT_ROLES, true),
      decoderInit: await openWhenRun(decoderInitFile, 'decoder_init graph', DECODER_INIT_INPUT_ROLES, DECODER_INIT_OUTPUT_ROLES,
        ['self_keys', 'self_values', 'cross_keys', 'cross_values']),
      decoderStep: await openWhenRun(decoderStepFile, 'decoder_step graph', DECODER_STEP_INPUT_ROLES, DECODER_STEP_OUTPUT_ROLES,
        ['self_keys', 'self_values']),
    };
  }
  onProgress?.(steps, steps, 'ready');
  return { manifest, source, text, textEmbeddings, vision, vjp, vjpMetadata, vjpGraph, generation, device: await ortDevice(), externalData };
}

/** Each package's `vjp` → its session if opened (releaseModelPackage releases it). */
const openedVjp = new WeakMap<() => Promise<Session>, () => Promise<Session> | undefined>();

/** A graph file's graph, read without opening a session (for its metadata), or a PackageError naming the file. */
function graphOf(bytes: Uint8Array, where: string): OnnxGraph {
  try {
    return readOnnxModel(bytes, { where }).graph;
  } catch (e) {
    throw new PackageError(`the graph cannot be read: ${e instanceof AdaLinkError ? e.problem : (e as Error).message}`, where,
      'Re-export the package with tools/; the file may be damaged or be another file renamed.');
  }
}

/**
 * The vjp graph's input types and gradient shapes against the manifest, from the session's metadata: the
 * engine writes mask, ids and labels in the types the manifest declares, and the gradients into buffers of
 * [B, image.tokens, d_model] and [B, Nt, d_model] floats.
 */
function checkVjpGraph(session: { inputs: readonly ValueMetadata[]; outputs: readonly ValueMetadata[] }, manifest: ModelManifest, where: string): void {
  const { inputs, outputs, input_types: declared } = manifest.files.vjp;
  const meta = (list: readonly ValueMetadata[], name: string) => {
    const m = list.find((v) => v.name === name);
    return m?.isTensor ? m : undefined;
  };
  for (const role of ['text_mask', 'decoder_input_ids', 'labels'] as const) {
    const type = meta(session.inputs, inputs[role])?.type;
    const expected = declared?.[role] ?? 'int64';
    if (type !== undefined && type !== expected) {
      throw new PackageError(`the vjp graph takes ${role} as ${type}, manifest.json says ${expected}${declared ? '' : ' (no files.vjp.input_types)'}`,
        where, 'Fix files.vjp.input_types in manifest.json, or re-export the package with tools/.');
    }
  }
  for (const [role, middle] of [['grad_image_embeds', manifest.image.tokens], ['grad_text_embeds', undefined]] as const) {
    const shape = meta(session.outputs, outputs[role])?.shape;
    if (!shape || shape.length === 0) continue;
    const fixed = [undefined, middle, manifest.d_model];
    const wrong = shape.length !== 3 || shape.some((v, i) => typeof v === 'number' && fixed[i] !== undefined && v !== fixed[i]);
    if (wrong) {
      throw new PackageError(`the vjp graph's ${role} has shape [${shape.join(', ')}], manifest.json implies [B, ${middle ?? 'Nt'}, ${manifest.d_model}]`,
        where, 'Fix image.tokens and d_model in manifest.json, or re-export the package.');
    }
  }
}

/** The model's text codec from its tokenizer.json (§2), with bos where the manifest says `text.add_bos`. */
export function textCodecFor(tokenizerJson: Uint8Array, manifest: ModelManifest, where: string): TextCodec {
  return withBos(createTextCodec(tokenizerJson, manifest, where), manifest);
}

/**
 * With `text.add_bos` (docs/ENGINE.md §2; Florence-2, which reads and writes `<s> … </s>`), prompt and target
 * ids are [bos] + tokens + [eos], cut to the maximum with bos first and eos last; otherwise the codec as it is.
 */
function withBos(codec: TextCodec, manifest: ModelManifest): TextCodec {
  const { add_bos: addBos, bos_id: bos, max_prompt_tokens: maxPrompt, max_target_tokens: maxTarget } = manifest.text;
  if (!addBos) return codec;
  // codec ids = tokens[:max−1] + [eos]; keep tokens[:max−2] between bos and eos.
  const prefixed = (ids: number[], max: number) => [bos, ...ids.slice(0, Math.min(ids.length - 1, max - 2)), ids[ids.length - 1]];
  return {
    promptIds: (prompt) => prefixed(codec.promptIds(prompt), maxPrompt),
    targetIds: (caption) => prefixed(codec.targetIds(caption), maxTarget),
    decode: codec.decode,
  };
}

export async function releaseModelPackage(pkg: ModelPackage): Promise<void> {
  await pkg.vision.release();
  const vjp = pkg.vjp && openedVjp.get(pkg.vjp)?.();
  if (vjp) await (await vjp).release();
  await releaseGeneration(pkg);
}

/**
 * Releases the generation graphs' sessions that are open (a package's or a Hub model's: they open again on their
 * next run). On ORT's second context, so with the vision session released too the context goes with their weights.
 */
export async function releaseGeneration(pkg: ModelPackage): Promise<void> {
  const { encoder, decoderInit, decoderStep } = pkg.generation ?? {};
  await Promise.all([encoder?.release(), decoderInit?.release(), decoderStep?.release()]);
}
