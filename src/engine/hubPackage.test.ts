/**
 * Florence-2 straight from the Hub's transformers.js layout, in Node over Dawn: the tiny Florence-2 of
 * e2e/fixtures/hub/tiny-florence-test (the weights of public/models/tiny-florence-test, exported by plain torch
 * as Optimum names them; tools/make_tiny_hub_florence.py) loaded by loadHubPackage, with no vjp.onnx and no
 * decoder_step. It trains as the PyTorch reference trainer does (e2e/fixtures/reference-florence-adamw.json,
 * florence.test.ts's tolerance), its vjp derived per shape and recorded; its greedy captions equal PyTorch's
 * (e2e/fixtures/reference-greedy-florence.json) without and with the adapter; its beam search equals the
 * package's, whose decoder_step keeps past keys and values.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { folderSource } from '../cli/fileSource.ts';
import { memorySource } from '../data/source.ts';
import { PackageError } from '../errors.ts';
import { readSafetensors, tensorAsFloat32 } from '../formats/safetensors.ts';
import type { EncodedExample } from './batch.ts';
import type { FeatureCache } from './featureCache.ts';
import { CaptionGenerator, type CaptionInputs } from './generate.ts';
import { loadHubPackage } from './hubPackage.ts';
import { loadModelPackage, releaseModelPackage, type ModelPackage } from './modelPackage.ts';
import { fixtureAdapter, fixtureConfig } from './testing/tinySetup.ts';
import { florenceGreedy, florenceSetup, florenceTraining, maxRelativeError, releaseFlorenceSetup, type FlorenceSetup } from './testing/florenceSetup.ts';
import { Trainer } from './trainer.ts';

const HUB = 'e2e/fixtures/hub/tiny-florence-test';
const PACKAGE = 'public/models/tiny-florence-test';
const ORIGIN = { repo: 'adalink-tests/tiny-florence-test', revision: 'fixture', variant: 'fp32' } as const;
const training = florenceTraining;
const greedy = florenceGreedy;

let setup: FlorenceSetup | undefined;
let hub: ModelPackage;
let images: string[];
let features: FeatureCache;
let examples: EncodedExample[];
let generator: CaptionGenerator;
let inputs: CaptionInputs;
const progress: string[] = [];

beforeAll(async () => {
  setup = await florenceSetup(() => loadHubPackage(folderSource(HUB), ORIGIN, (_done, _total, what) => progress.push(what)));
  ({ pkg: hub, images, features, examples, generator, inputs } = setup);
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
  it('greedy, without the adapter: PyTorch\'s ids and captions for every image', async () => {
    const captions = await generator.generate(inputs, [], { batchSize: greedy.examples.length });
    expect(captions.map((c) => c.ids)).toEqual(greedy.examples.map((e) => e.base.ids));
    expect(captions.map((c) => c.caption)).toEqual(greedy.examples.map((e) => e.base.caption));
  });

  it('greedy, with the adapter PyTorch trained', async () => {
    const captions = await generator.generate(inputs, fixtureAdapter(training), { batchSize: greedy.examples.length });
    expect(captions.map((c) => c.ids)).toEqual(greedy.examples.map((e) => e.adapted.ids));
    expect(captions.map((c) => c.caption)).toEqual(greedy.examples.map((e) => e.adapted.caption));
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
