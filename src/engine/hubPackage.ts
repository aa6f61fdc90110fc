/**
 * A model straight from a Hugging Face Hub repository in the layout transformers.js publishes
 * (onnx-community/Florence-2-base-ft: config.json, tokenizer.json, onnx/*.onnx), no Python export, as a
 * ModelPackage the rest of the engine uses unchanged (Trainer, feature cache, CaptionGenerator, evaluate):
 *
 *   manifest         src/formats/hubManifest.ts, from config.json, generation_config.json, preprocessor_config.json
 *   vision           onnx/vision_encoder.onnx, as it is (fp16: float32 at its boundary; external data inlined)
 *   text embeddings  onnx/embed_tokens.onnx run once on every id: the table [V, d], whatever scale it applies
 *   generation       encoder and decoder_init composed from embed_tokens, encoder_model and decoder_model
 *                    (src/autodiff/seq2seqTraining.ts), opened on their first run (lazySession.ts); no
 *                    decoder_step: generate.ts reruns decoder_init on the prefix (PrefixDecoder)
 *   decoder          onnx/decoder_model.onnx, or where a repository publishes only Optimum's merged decoder,
 *                    onnx/decoder_model_merged.onnx with use_cache_branch = false: its If inlined to the
 *                    no-cache branch, the past_key_values inputs dropped (src/autodiff/inlineIf.ts)
 *   vjp              derived per batch shape (`vjpGraph`), in the GPU-input form where the graphs allow, so that
 *                    frozenVjp.ts captures and records it; derived once at load for a small shape, to fail here
 *                    and not mid-training, and to learn the form
 *
 * Not used yet: the with-past branch of decoder_model_merged.onnx / decoder_with_past_model.onnx, which would
 * give a decoder_step.
 */
import { MissingFileError, type FileSource } from '../data/source.ts';
import { asPackageError, PackageError, shorten } from '../errors.ts';
import { HUB_MERGED_DECODER, hubGraphPath, hubManifest, type HubGraph, type HubManifestOptions, type HubOrigin } from '../formats/hubManifest.ts';
import { encodeOnnxModel, readOnnxModel } from '../formats/onnx.ts';
import type { OnnxModel, OnnxTensor } from '../formats/onnxModel.ts';
import type { ModelManifest } from '../formats/manifest.ts';
import { inlineConstantIfs } from '../autodiff/inlineIf.ts';
import { decoderInitGraph, embeddingTableGraph, encoderGraph, float32Boundary, trainingVjp, type HubSeq2SeqGraphs, type VjpInputForm } from '../autodiff/seq2seqTraining.ts';
import { textCodecFor, type GenerationSessions, type ModelPackage, type VjpShape } from './modelPackage.ts';
import { createSession, hostTensor, ortDevice, type Session } from './onnxRuntime.ts';
import { checkedGraphMetadata, openedNowAndWhenRun, openedWhenRun } from './lazySession.ts';

/** Derived vjp graphs kept (their bytes), least recently asked first out: one per shape a trainer opens a session for. */
export const MAX_CACHED_VJP_GRAPHS = 2;

/** The shape the vjp is derived for at load (a check of the graphs, and the input form). */
const PROBE_SHAPE = { batch: 1, promptTokens: 2, targetTokens: 2 };

export async function loadHubPackage(
  source: FileSource, origin: HubOrigin, onProgress?: (done: number, total: number, what: string) => void, options: HubManifestOptions = {},
): Promise<ModelPackage> {
  const where = (path: string) => `${source.label}/${path}`;
  const steps = 6;
  onProgress?.(0, steps, 'configuration');
  const manifest = hubManifest({
    config: await readJson(source, 'config.json', true),
    generationConfig: await readJson(source, 'generation_config.json', false),
    preprocessorConfig: await readJson(source, 'preprocessor_config.json', false),
    tokenizerConfig: await readJson(source, 'tokenizer_config.json', false),
  }, origin, options);
  const text = textCodecFor(await readHubFile(source, 'tokenizer.json', 'tokenizer'), manifest, source.label);

  onProgress?.(1, steps, 'language model graphs');
  const graph = async (name: HubGraph) => (await readGraph(source, hubGraphPath(name, origin.variant))).model;
  const decoder = await readDecoder(source, origin.variant);
  manifest.files.vjp.path = manifest.files.decoder_init!.path = decoder.path;
  const graphs: HubSeq2SeqGraphs = { embedTokens: await graph('embed_tokens'), encoder: await graph('encoder_model'), decoder: decoder.model };

  onProgress?.(2, steps, 'text embeddings');
  const textEmbeddings = await embeddingTable(graphs, manifest, where(manifest.files.text_embeddings.path));

  let vision: Session | undefined;
  try {
    onProgress?.(3, steps, 'vision graph');
    const { vision: visionFile, encoder, decoder_init: decoderInit } = manifest.files;
    // As it is, unless float16 at its boundary or with its weights in another file (ORT is given one file here).
    const visionBytes = async () => {
      const visionGraph = await readGraph(source, visionFile.path);
      return origin.variant === 'fp16' ? encodeOnnxModel(float32Boundary(visionGraph.model))
        : visionGraph.external ? encodeOnnxModel(visionGraph.model) : visionGraph.bytes;
    };
    // On ORT's second context (its runs' buffers destroyed, not kept); released once a run's features are cached,
    // opened again from the downloaded files when an image needs features (as a package's: modelPackage.ts).
    vision = await openedNowAndWhenRun(async () => createSession(await visionBytes(), where(visionFile.path),
      { inputs: [visionFile.inputs.pixel_values], outputs: [visionFile.outputs.image_embeds] }, { gpuOutputs: true, releaseEachRun: true }));

    onProgress?.(4, steps, 'generation graphs');
    // Composed now (their names checked), opened on their first run: training never runs them (lazySession.ts).
    // Logits come back to the CPU (the search runs there); keys, values and hidden states stay on the GPU.
    const openWhenRun = (model: OnnxModel, path: string, inputs: string[], outputs: string[], gpuOutputs: true | string[]) =>
      openedWhenRun(checkedGraphMetadata(model.graph, where(path), { inputs, outputs }),
        () => createSession(encodeOnnxModel(model), where(path), { inputs, outputs }, { gpuOutputs, label: path, releaseEachRun: true }));
    const generation: GenerationSessions = {
      encoder: openWhenRun(encoderGraph(graphs), encoder!.path, Object.values(encoder!.inputs), Object.values(encoder!.outputs), true),
      decoderInit: openWhenRun(decoderInitGraph(graphs), decoderInit!.path, Object.values(decoderInit!.inputs), Object.values(decoderInit!.outputs),
        (['self_keys', 'self_values', 'cross_keys', 'cross_values'] as const).map((role) => decoderInit!.outputs[role])),
    };

    onProgress?.(5, steps, 'vjp graph');
    const form = probeVjp(graphs, manifest, where(manifest.files.vjp.path));
    onProgress?.(steps, steps, 'ready');
    return { manifest, source, text, textEmbeddings, vision, vjpGraph: vjpGraphs(graphs, manifest, form), generation, device: await ortDevice() };
  } catch (e) {
    await vision?.release();
    throw e;
  }
}

/**
 * Derives the vjp once for a small shape: a graph the autodiff cannot differentiate fails here, and a graph
 * that cannot take the GPU-input form (retyped mask, ids and labels) drops files.vjp.input_types, saying why.
 */
function probeVjp(graphs: HubSeq2SeqGraphs, manifest: ModelManifest, where: string): VjpInputForm {
  const derived = asPackageError(() => trainingVjp(graphs, { ...PROBE_SHAPE, imageTokens: manifest.image.tokens }), where);
  if (derived.form === 'int64') {
    delete manifest.files.vjp.input_types;
    console.warn(`the vjp graph of ${where} takes int64 inputs, so it runs without graph capture: ${derived.reason}`);
  }
  return derived.form;
}

/** ModelPackage.vjpGraph: the graph of each shape derived when first asked, its bytes kept for the last few shapes. */
function vjpGraphs(graphs: HubSeq2SeqGraphs, manifest: ModelManifest, form: VjpInputForm): (shape: VjpShape) => Promise<Uint8Array> {
  const cache = new Map<string, Uint8Array>();
  const where = `derived vjp of ${manifest.files.vjp.path}`;
  return async (shape) => {
    const key = `${shape.batch}×${shape.promptTokens}×${shape.targetTokens}`;
    let bytes = cache.get(key);
    if (bytes) {
      cache.delete(key);
    } else {
      const derived = asPackageError(() => trainingVjp(graphs, { ...shape, imageTokens: manifest.image.tokens }, form), `${where} for ${key}`);
      bytes = encodeOnnxModel(derived.model);
      if (cache.size >= MAX_CACHED_VJP_GRAPHS) cache.delete(cache.keys().next().value!);
    }
    cache.set(key, bytes);
    return bytes;
  };
}

/** The [V, d] table: embed_tokens (float32 at its output) run on the ids 0 … V − 1. */
async function embeddingTable(graphs: HubSeq2SeqGraphs, manifest: ModelManifest, where: string): Promise<Float32Array> {
  const { vocab_size: V } = manifest.text;
  const d = manifest.d_model;
  const session = await createSession(encodeOnnxModel(embeddingTableGraph(graphs)), where, { inputs: ['input_ids'], outputs: ['inputs_embeds'] });
  try {
    const out = (await session.run({ input_ids: hostTensor('int64', BigInt64Array.from({ length: V }, (_, i) => BigInt(i)), [1, V]) })).inputs_embeds;
    if (out.dims.length !== 3 || out.dims[1] !== V || out.dims[2] !== d) {
      throw new PackageError(`embed_tokens gives [${out.dims.join(', ')}] for ${V} ids, config.json says [1, ${V}, ${d}]`, where,
        'The graphs and config.json disagree: download the repository again.');
    }
    return Float32Array.from(out.data as Float32Array);
  } finally {
    await session.release();
  }
}

async function readHubFile(source: FileSource, path: string, what: string): Promise<Uint8Array> {
  try {
    return await source.read(path);
  } catch (e) {
    if (e instanceof MissingFileError) {
      throw new PackageError(`the repository has no ${what} "${path}"`, source.label,
        'Choose a Hugging Face repository in the transformers.js layout (config.json, tokenizer.json, onnx/*.onnx; onnx-community publishes them), with the variant it has (fp32 or fp16).');
    }
    throw new PackageError(`cannot read "${path}": ${(e as Error).message}`, source.label, 'Check the repository\'s location and your connection.');
  }
}

async function readJson(source: FileSource, path: string, required: boolean): Promise<unknown> {
  let bytes: Uint8Array;
  try {
    bytes = await source.read(path);
  } catch (e) {
    if (e instanceof MissingFileError && !required) return undefined;
    if (e instanceof MissingFileError) {
      throw new PackageError(`there is no ${path} here: this is not a Hugging Face model repository`, source.label,
        'Choose the repository\'s folder (the one holding config.json and onnx/), or export a package with tools/.');
    }
    throw e;
  }
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new PackageError(`${path} is not valid JSON: ${shorten((e as Error).message)}`, `${source.label}/${path}`, 'Download the repository again.');
  }
}

/**
 * A graph read into memory (and its bytes), its external data files (onnx/<name>.onnx_data …) read next to it;
 * undefined for an `optional` graph the source does not have.
 */
async function readGraph(source: FileSource, path: string): Promise<{ model: OnnxModel; bytes: Uint8Array; external: boolean }>;
async function readGraph(source: FileSource, path: string, optional: true): Promise<{ model: OnnxModel; bytes: Uint8Array; external: boolean } | undefined>;
async function readGraph(source: FileSource, path: string, optional = false): Promise<{ model: OnnxModel; bytes: Uint8Array; external: boolean } | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = optional ? await source.read(path) : await readHubFile(source, path, 'graph');
  } catch (e) {
    if (e instanceof MissingFileError) return undefined;
    if (optional) return readGraph(source, path); // Its error, as readHubFile words it.
    throw e;
  }
  const where = `${source.label}/${path}`;
  const model = asPackageError(() => readOnnxModel(bytes, { where }), where);
  const locations = new Set(tensorsOf(model).filter((t) => t.external).map((t) => t.external!.location));
  if (locations.size === 0) return { model, bytes, external: false };
  const folder = path.includes('/') ? path.slice(0, path.lastIndexOf('/') + 1) : '';
  const files = new Map<string, Uint8Array>();
  for (const location of locations) files.set(location, await readHubFile(source, `${folder}${location}`, 'external data file'));
  return { model: asPackageError(() => readOnnxModel(bytes, { where, externalData: (location) => files.get(location) }), where), bytes, external: true };
}

/**
 * The decoder without past: onnx/decoder_model.onnx, or else the merged decoder with use_cache_branch = false
 * (its If replaced by the no-cache branch; past_key_values, then unread, are no longer inputs).
 */
async function readDecoder(source: FileSource, variant: HubOrigin['variant']): Promise<{ model: OnnxModel; path: string }> {
  const plain = hubGraphPath('decoder_model', variant);
  const merged = hubGraphPath(HUB_MERGED_DECODER, variant);
  const model = await readGraph(source, plain, true);
  if (model) return { model: model.model, path: plain };
  const mergedModel = await readGraph(source, merged, true);
  if (!mergedModel) {
    throw new PackageError(`the repository has no decoder graph "${plain}" (nor "${merged}")`, source.label,
      'Choose a Hugging Face repository in the transformers.js layout (config.json, tokenizer.json, onnx/*.onnx; onnx-community publishes them), with the variant it has (fp32 or fp16).');
  }
  const where = `${source.label}/${merged}`;
  const condition = mergedModel.model.graph.inputs.find((i) => i.name === 'use_cache_branch');
  if (!condition) return { model: mergedModel.model, path: merged }; // Already the decoder without past.
  const noCache: OnnxTensor = { name: 'use_cache_branch', dataType: 'bool', dims: condition.shape?.length === 0 ? [] : [1], values: Uint8Array.of(0) };
  return { model: asPackageError(() => inlineConstantIfs(mergedModel.model, { use_cache_branch: noCache }), where), path: merged };
}

/** The initializers and Constant tensors of a model's main graph. */
function tensorsOf(model: OnnxModel): OnnxTensor[] {
  const constants = model.graph.nodes.flatMap((n) => Object.values(n.attributes).flatMap((a) => (a.type === 'tensor' ? [a.value] : [])));
  return [...model.graph.initializers, ...constants];
}

