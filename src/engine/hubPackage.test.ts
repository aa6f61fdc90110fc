/**
 * Florence-2 straight from the Hub's transformers.js layout, in Node over Dawn: the tiny Florence-2 of
 * e2e/fixtures/hub/tiny-florence-test (the weights of public/models/tiny-florence-test, exported by plain torch
 * as Optimum names them; tools/make_tiny_hub_florence.py) loaded by loadHubPackage, with no vjp.onnx and no
 * decoder_step. It trains as the PyTorch reference trainer does (e2e/fixtures/reference-florence-adamw.json,
 * florence.test.ts's tolerance), its vjp derived per shape and recorded; its greedy captions equal PyTorch's
 * (e2e/fixtures/reference-greedy-florence.json) without and with the adapter; its beam search equals the
 * package's, whose decoder_step keeps past keys and values.
 *
 * With no decoder_step, greedy search reruns decoder_init on the whole prefix for each of the 24 tokens: a pass
 * over the fixture's 32 images takes SwiftShader about a minute. The captions here are checked on the
 * HARDEST_IMAGES images whose PyTorch captions are closest to another token (smallest min_margin, without or
 * with the adapter; both prompts among them); florence.test.ts checks all 32 on the package, whose decoder_step
 * is the same decoder.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { folderSource } from '../cli/fileSource.ts';
import { memorySource } from '../data/source.ts';
import { PackageError } from '../errors.ts';
import { encodeOnnxModel, readOnnxModel } from '../formats/onnx.ts';
import type { OnnxModel, OnnxValueInfo } from '../formats/onnxModel.ts';
import { readSafetensors, tensorAsFloat32 } from '../formats/safetensors.ts';
import type { EncodedExample } from './batch.ts';
import type { FeatureCache } from './featureCache.ts';
import { CaptionGenerator, type CaptionInputs } from './generate.ts';
import { loadHubPackage } from './hubPackage.ts';
import { loadModelPackage, releaseModelPackage, type ModelPackage } from './modelPackage.ts';
import { createSession, hostTensor, type OrtTensor } from './onnxRuntime.ts';
import { fixtureAdapter, fixtureConfig } from './testing/tinySetup.ts';
import { florenceGreedy, florenceSetup, florenceTraining, maxRelativeError, releaseFlorenceSetup, type FlorenceSetup } from './testing/florenceSetup.ts';
import { Trainer } from './trainer.ts';

const HUB = 'e2e/fixtures/hub/tiny-florence-test';
const PACKAGE = 'public/models/tiny-florence-test';
const ORIGIN = { repo: 'adalink-tests/tiny-florence-test', revision: 'fixture', variant: 'fp32' } as const;
const training = florenceTraining;
const greedy = florenceGreedy;

/** The greedy fixture's examples whose captions a rounding would change first, most fragile first. */
const HARDEST_IMAGES = 8;
const hardest = greedy.examples.map((e, i) => ({ i, margin: Math.min(e.base.min_margin, e.adapted.min_margin) }))
  .sort((a, b) => a.margin - b.margin).slice(0, HARDEST_IMAGES).map(({ i }) => i);
const hardestExamples = hardest.map((i) => greedy.examples[i]);

let setup: FlorenceSetup | undefined;
let hub: ModelPackage;
let images: string[];
let features: FeatureCache;
let examples: EncodedExample[];
let generator: CaptionGenerator;
let inputs: CaptionInputs;
/** `inputs` of the hardest examples alone. */
let hardestInputs: CaptionInputs;
const progress: string[] = [];

beforeAll(async () => {
  setup = await florenceSetup(() => loadHubPackage(folderSource(HUB), ORIGIN, (_done, _total, what) => progress.push(what)));
  ({ pkg: hub, images, features, examples, generator, inputs } = setup);
  hardestInputs = { features, imageIndices: hardest.map((i) => inputs.imageIndices[i]), promptIds: hardest.map((i) => inputs.promptIds[i]) };
});

afterAll(() => releaseFlorenceSetup(setup));

describe('a Florence-2 repository in the transformers.js layout loads as a model package', () => {
  it('with a manifest naming the Hub repo, the embedding table embed_tokens gives, the graphs composed and no vjp session', () => {
    const { manifest } = hub;
    expect(manifest.id).toBe('hub:adalink-tests/tiny-florence-test@fixture');
    expect(manifest.architecture).toBe('florence2-bart');
    expect(manifest.files.vision.path).toBe('onnx/vision_encoder.onnx');
    expect(manifest.files.vjp.input_types).toEqual({ text_mask: 'float32', decoder_input_ids: 'int32', labels: 'int32' });
    expect(progress).toEqual(['configuration', 'language model graphs', 'text embeddings', 'vision graph', 'generation graphs', 'vjp graph', 'ready']);
    // The package's table (PyTorch's lookup, safetensors) equals embed_tokens run on every id, bit for bit.
    const file = `${PACKAGE}/text_embeddings.safetensors`;
    const table = tensorAsFloat32(readSafetensors(new Uint8Array(readFileSync(file)), file), 'embed_tokens', file);
    expect(hub.textEmbeddings).toEqual(table.values);
    expect(hub.vjp).toBeUndefined();
    expect(hub.generation?.decoderStep).toBeUndefined();
    expect(features.ok.every(Boolean)).toBe(true);
    expect(features.floatsPerImage).toBe(manifest.image.tokens * manifest.d_model);
  });

  it('encodes prompts and captions to the reference ids: bos first, eos last', () => {
    expect(examples.length).toBe(training.examples.length);
    examples.forEach((e, i) => {
      expect(e.promptIds).toEqual(training.examples[i].prompt_ids);
      expect(e.targetIds).toEqual(training.examples[i].target_ids);
    });
  });

  it('derives the vjp graph per shape, the last ones kept', async () => {
    const shape = { batch: 2, promptTokens: 3, targetTokens: 8 };
    const bytes = await hub.vjpGraph(shape);
    expect(await hub.vjpGraph({ ...shape })).toBe(bytes);
    expect(await hub.vjpGraph({ ...shape, batch: 1 })).not.toBe(bytes);
  });

  it('refuses a folder without config.json, and a model type it does not know', async () => {
    const empty = memorySource('empty', new Map([['tokenizer.json', new Uint8Array(readFileSync(`${HUB}/tokenizer.json`))]]));
    await expect(loadHubPackage(empty, ORIGIN)).rejects.toThrow(/there is no config\.json here/);
    const bart = memorySource('bart', new Map([['config.json', new TextEncoder().encode(JSON.stringify({ model_type: 'bart' }))]]));
    const error = await loadHubPackage(bart, ORIGIN).catch((e) => e);
    expect(error).toBeInstanceOf(PackageError);
    expect((error as PackageError).message).toContain('model type "bart" is not supported: the studio reads Hub models of type "florence2"');
  });
});

describe('AdaLink training on the Hub model', () => {
  it('50 AdamW steps: per-step losses within 1e-4 relative of PyTorch, final weights close, the vjp recorded', async () => {
    const trainer = new Trainer(hub, features, examples, fixtureConfig(training));
    const losses: number[] = [];
    try {
      await trainer.run(training.config.steps, { onStep: (r) => losses.push(r.loss) });
      const state = await trainer.exportState();
      const counts = { ...trainer.vjp.counts };
      const lossError = maxRelativeError(losses, training.losses);
      console.log(`hub florence adamw: loss ${losses[0].toFixed(5)} → ${losses.at(-1)!.toFixed(5)}, max relative error vs PyTorch ${lossError.toExponential(2)}; vjp runs ${JSON.stringify(counts)}`);
      expect(losses).toHaveLength(training.losses.length);
      expect(lossError).toBeLessThan(1e-4);
      for (const [name, reference] of [['image.wup', training.final.wup_image], ['text.wup', training.final.wup_text],
        ['image.wdown', training.final.wdown_image], ['text.wdown', training.final.wdown_text]] as const) {
        const scale = Math.max(...reference.map(Math.abs));
        const worst = Math.max(...reference.map((v, i) => Math.abs(state.tensors[name][i] - v)));
        expect(worst / scale, name).toBeLessThan(1e-3);
      }
      // One run per step; each shape captured once, replayed by ORT once, then recorded.
      expect(trainer.vjp.replay).toBe('recorded');
      expect(counts.plain + counts.capture + counts.ortReplay + counts.recorded).toBe(training.config.steps);
      expect(counts.plain).toBe(0);
      expect(counts.ortReplay).toBe(counts.capture);
      expect(counts.recorded).toBe(training.config.steps - 2 * counts.capture);
    } finally {
      await trainer.destroy();
    }
  });
});

describe('captions of the Hub model (decoder_init rerun on the prefix)', () => {
  it('the hardest images cover both prompts and both prompt lengths in one batch', () => {
    expect(new Set(hardestExamples.map((e) => e.prompt)).size).toBe(new Set(greedy.examples.map((e) => e.prompt)).size);
    expect(new Set(hardestInputs.promptIds.map((ids) => ids.length)).size).toBeGreaterThan(1);
    expect(hardestExamples.every((e) => e.base.ids.length === greedy.max_target_tokens)).toBe(true);
  });

  it('greedy, without the adapter: PyTorch\'s ids and captions for the hardest images', async () => {
    const captions = await generator.generate(hardestInputs, [], { batchSize: HARDEST_IMAGES });
    expect(captions.map((c) => c.ids)).toEqual(hardestExamples.map((e) => e.base.ids));
    expect(captions.map((c) => c.caption)).toEqual(hardestExamples.map((e) => e.base.caption));
  });

  it('greedy, with the adapter PyTorch trained, for the hardest images', async () => {
    const captions = await generator.generate(hardestInputs, fixtureAdapter(training), { batchSize: HARDEST_IMAGES });
    expect(captions.map((c) => c.ids)).toEqual(hardestExamples.map((e) => e.adapted.ids));
    expect(captions.map((c) => c.caption)).toEqual(hardestExamples.map((e) => e.adapted.caption));
  });

  it('beam search (3 beams) gives the package\'s hypotheses, whose decoder keeps past keys and values', async () => {
    const pkg = await loadModelPackage(folderSource(PACKAGE));
    const packageGenerator = new CaptionGenerator(pkg);
    try {
      const some = { features, imageIndices: inputs.imageIndices.slice(0, 6), promptIds: inputs.promptIds.slice(0, 6) };
      for (const adapter of [[], fixtureAdapter(training)]) {
        const options = { numBeams: 3, maxTokens: 12, batchSize: 3 };
        const [fromHub, fromPackage] = [await generator.generate(some, adapter, options), await packageGenerator.generate(some, adapter, options)];
        expect(fromHub.map((c) => c.ids)).toEqual(fromPackage.map((c) => c.ids));
        expect(maxRelativeError(fromHub.map((c) => c.score), fromPackage.map((c) => c.score))).toBeLessThan(1e-4);
      }
    } finally {
      packageGenerator.destroy();
      await releaseModelPackage(pkg);
    }
  });
});

/**
 * Optimum's merged decoder made from the fixture's decoder_model: its inputs, plus past_key_values.* and
 * use_cache_branch; the weights in the main graph; one If on use_cache_branch whose else branch is
 * decoder_model and whose then branch gives logits + 1000 and passes the encoder's past keys and values through
 * (so taking the wrong branch, or keeping it, shows).
 */
function mergedDecoder(decoder: OnnxModel): OnnxModel {
  const g = decoder.graph;
  const past: OnnxValueInfo[] = g.outputs.filter((o) => o.name.startsWith('present.')).map((o) => ({
    name: o.name.replace(/^present\./, 'past_key_values.'), dataType: o.dataType, shape: o.shape?.map((d, k) => (k === 2 ? 'past_sequence_length' : d)),
  }));
  const inputs = ['encoder_attention_mask', 'encoder_hidden_states', 'inputs_embeds'].map((name) => g.inputs.find((i) => i.name === name)!);
  expect(inputs.every(Boolean) && g.inputs.length === 3 && past.length > 0).toBe(true);
  const withPast = {
    name: 'with_past', inputs: [], valueInfo: [],
    initializers: [{ name: 'thousand', dataType: 'float32' as const, dims: [], values: Float32Array.of(1000) }],
    nodes: [...g.nodes, { opType: 'Add', domain: '', name: 'shift', inputs: ['logits', 'thousand'], outputs: ['logits_with_past'], attributes: {} }],
    outputs: g.outputs.map((o) => (o.name === 'logits' ? { ...o, name: 'logits_with_past' }
      : /\.encoder\./.test(o.name) ? { ...o, name: o.name.replace(/^present\./, 'past_key_values.') } : o)),
  };
  const noCache = { ...g, name: 'no_cache', inputs: [], initializers: [], valueInfo: [] };
  return {
    ...decoder,
    graph: {
      name: 'merged decoder',
      inputs: [...inputs, ...past, { name: 'use_cache_branch', dataType: 'bool', shape: [1] }],
      initializers: g.initializers,
      nodes: [{
        opType: 'If', domain: '', name: 'optimum::if', inputs: ['use_cache_branch'], outputs: g.outputs.map((o) => o.name),
        attributes: { then_branch: { type: 'graph', value: withPast }, else_branch: { type: 'graph', value: noCache } },
      }],
      outputs: g.outputs,
      valueInfo: [],
    },
  };
}

/** The fixture's files, decoder_model.onnx replaced by the merged decoder made from it. */
function mergedOnlyRepo(): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  for (const path of readdirSync(HUB, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => `${e.parentPath}/${e.name}`.slice(HUB.length + 1))) {
    if (path !== 'onnx/decoder_model.onnx') files.set(path, new Uint8Array(readFileSync(`${HUB}/${path}`)));
  }
  const decoder = readOnnxModel(new Uint8Array(readFileSync(`${HUB}/onnx/decoder_model.onnx`)), { where: 'decoder_model.onnx' });
  files.set('onnx/decoder_model_merged.onnx', encodeOnnxModel(mergedDecoder(decoder)));
  return files;
}

/** A tensor's values on the CPU (a GPU output downloaded), as numbers; the tensor disposed. */
async function valuesOf(t: OrtTensor): Promise<number[]> {
  const data = await t.getData(true);
  return Array.from(data as Float32Array);
}

describe('a repository that publishes only the merged decoder loads, its no-cache branch kept', () => {
  let merged: ModelPackage;
  beforeAll(async () => {
    merged = await loadHubPackage(memorySource('merged-only', mergedOnlyRepo()), ORIGIN);
  });
  afterAll(async () => {
    if (merged) await releaseModelPackage(merged);
  });

  it('names the merged decoder, and keeps the GPU-input form of the vjp', () => {
    expect(merged.manifest.files.vjp.path).toBe('onnx/decoder_model_merged.onnx');
    expect(merged.manifest.files.decoder_init!.path).toBe('onnx/decoder_model_merged.onnx');
    expect(merged.manifest.files.vjp.input_types).toEqual(hub.manifest.files.vjp.input_types);
    expect(merged.textEmbeddings).toEqual(hub.textEmbeddings);
  });

  it('decoder_init gives the logits, keys and values of decoder_model\'s', async () => {
    const { encoder_tokens: S, decoder_tokens: T } = { encoder_tokens: 7, decoder_tokens: 4 };
    const d = hub.manifest.d_model;
    const file = hub.manifest.files.decoder_init!;
    const hidden = Float32Array.from({ length: 2 * S * d }, (_, i) => Math.sin(i * 0.37));
    const mask = BigInt64Array.from({ length: 2 * S }, (_, i) => (i % S < S - (i >= S ? 2 : 0) ? 1n : 0n));
    const ids = BigInt64Array.from({ length: 2 * T }, (_, i) => BigInt((i * 13 + 2) % hub.manifest.text.vocab_size));
    const run = async (pkg: ModelPackage) => {
      const out = await pkg.generation!.decoderInit.run({
        [file.inputs.decoder_input_ids]: hostTensor('int64', ids, [2, T]),
        [file.inputs.encoder_hidden]: hostTensor('float32', hidden, [2, S, d]),
        [file.inputs.encoder_mask]: hostTensor('int64', mask, [2, S]),
      });
      const values: Record<string, number[]> = {};
      for (const [role, name] of Object.entries(file.outputs)) values[role] = await valuesOf(out[name]);
      return values;
    };
    const [expected, actual] = [await run(hub), await run(merged)];
    expect(Object.keys(actual)).toEqual(['logits', 'self_keys', 'self_values', 'cross_keys', 'cross_values']);
    for (const role of Object.keys(expected)) {
      expect(actual[role].length, role).toBe(expected[role].length);
      expect(actual[role], role).toEqual(expected[role]);
    }
  });

  it('the derived vjp gives decoder_model\'s loss and gradients', async () => {
    const shape = { batch: 2, promptTokens: 3, targetTokens: 5 };
    const { vjp } = hub.manifest.files;
    const Ni = hub.manifest.image.tokens;
    const d = hub.manifest.d_model;
    const V = hub.manifest.text.vocab_size;
    const { batch: B, promptTokens: Nt, targetTokens: Nd } = shape;
    const feeds = () => ({
      [vjp.inputs.image_embeds]: hostTensor('float32', Float32Array.from({ length: B * Ni * d }, (_, i) => Math.cos(i * 0.11)), [B, Ni, d]),
      [vjp.inputs.text_embeds]: hostTensor('float32', Float32Array.from({ length: B * Nt * d }, (_, i) => Math.sin(i * 0.23)), [B, Nt, d]),
      [vjp.inputs.text_mask]: hostTensor('float32', Float32Array.from({ length: B * Nt }, (_, i) => (i === B * Nt - 1 ? 0 : 1)), [B, Nt]),
      [vjp.inputs.decoder_input_ids]: hostTensor('int32', Int32Array.from({ length: B * Nd }, (_, i) => (i * 7 + 2) % V), [B, Nd]),
      [vjp.inputs.labels]: hostTensor('int32', Int32Array.from({ length: B * Nd }, (_, i) => (i === B * Nd - 1 ? -100 : (i * 11 + 5) % V)), [B, Nd]),
    });
    const run = async (pkg: ModelPackage) => {
      const session = await createSession(await pkg.vjpGraph(shape), 'vjp', { inputs: Object.values(vjp.inputs), outputs: Object.values(vjp.outputs) });
      try {
        const out = await session.run(feeds());
        return Object.fromEntries(await Promise.all(Object.entries(vjp.outputs).map(async ([role, name]) => [role, await valuesOf(out[name])] as const)));
      } finally {
        await session.release();
      }
    };
    const [expected, actual] = [await run(hub), await run(merged)];
    expect(Object.keys(actual).sort()).toEqual(['grad_image_embeds', 'grad_text_embeds', 'loss']);
    expect(Number.isFinite(expected.loss[0])).toBe(true);
    for (const role of Object.keys(expected)) {
      expect(actual[role].length, role).toBe(expected[role].length);
      expect(maxAbsoluteError(actual[role], expected[role]), role).toBeLessThanOrEqual(1e-6 * Math.max(1, maxAbsoluteError(expected[role], expected[role].map(() => 0))));
    }
  });

  // decoder_model's captions are PyTorch's (the tests above): the merged decoder's are checked against those, on
  // the same hardest images.
  it('greedy captions equal decoder_model\'s (PyTorch\'s), without and with the adapter', async () => {
    const mergedGenerator = new CaptionGenerator(merged);
    try {
      for (const [adapter, role] of [[[], 'base'], [fixtureAdapter(training), 'adapted']] as const) {
        const fromMerged = await mergedGenerator.generate(hardestInputs, adapter, { batchSize: HARDEST_IMAGES });
        expect(fromMerged.map((c) => c.ids)).toEqual(hardestExamples.map((e) => e[role].ids));
        expect(fromMerged.map((c) => c.caption)).toEqual(hardestExamples.map((e) => e[role].caption));
      }
    } finally {
      mergedGenerator.destroy();
    }
  });

  it('refuses a repository with neither decoder, naming both', async () => {
    const files = mergedOnlyRepo();
    files.delete('onnx/decoder_model_merged.onnx');
    const error = await loadHubPackage(memorySource('no-decoder', files), ORIGIN).catch((e) => e);
    expect(error).toBeInstanceOf(PackageError);
    expect((error as PackageError).message).toContain('the repository has no decoder graph "onnx/decoder_model.onnx" (nor "onnx/decoder_model_merged.onnx")');
  });
});

function maxAbsoluteError(actual: readonly number[], expected: readonly number[]): number {
  let worst = 0;
  expected.forEach((v, i) => { worst = Math.max(worst, Math.abs(actual[i] - v)); });
  return worst;
}
