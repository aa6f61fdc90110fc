/**
 * The Florence-2 package in the engine, in Node over Dawn: public/models/tiny-florence-test is a random
 * Hugging Face Florence2ForConditionalGeneration of a tiny config (DaViT + BART), exported by
 * tools/adalink/florence.py (tools/make_tiny_florence_package.py). It loads; its prompt and target ids follow
 * `text.add_bos` as the PyTorch reference encodes them; 50 AdamW steps match the PyTorch reference trainer
 * (e2e/fixtures/reference-florence-adamw.json); greedy captions equal PyTorch's token for token
 * (e2e/fixtures/reference-greedy-florence.json, whose base ids Florence-2's own `generate` from pixel values
 * reproduces), without and with the trained adapter.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { folderSource } from '../cli/fileSource.ts';
import { parseManifest } from '../formats/manifest.ts';
import type { EncodedExample } from './batch.ts';
import { PackageError } from '../errors.ts';
import type { FeatureCache } from './featureCache.ts';
import { CaptionGenerator, type CaptionInputs } from './generate.ts';
import { loadModelPackage, type ModelPackage } from './modelPackage.ts';
import { fixtureAdapter, fixtureConfig } from './testing/tinySetup.ts';
import { florenceGreedy, florenceSetup, florenceTraining, maxRelativeError, releaseFlorenceSetup, type FlorenceSetup } from './testing/florenceSetup.ts';
import { Trainer } from './trainer.ts';

const PACKAGE = 'public/models/tiny-florence-test';
const training = florenceTraining;
const greedy = florenceGreedy;

let setup: FlorenceSetup | undefined;
let pkg: ModelPackage;
let images: string[];
let features: FeatureCache;
let examples: EncodedExample[];
let generator: CaptionGenerator;
let inputs: CaptionInputs;

beforeAll(async () => {
  setup = await florenceSetup(() => loadModelPackage(folderSource(PACKAGE)));
  ({ pkg: pkg, images, features, examples, generator, inputs } = setup);
});

afterAll(() => releaseFlorenceSetup(setup));

describe('the Florence-2 package loads', () => {
  it('with its manifest, every graph and the features of every image', () => {
    const { manifest } = pkg;
    expect(manifest.architecture).toBe('florence2-bart');
    expect(manifest.text.add_bos).toBe(true);
    expect([manifest.text.bos_id, manifest.text.pad_id, manifest.text.eos_id, manifest.text.decoder_start_id]).toEqual([0, 1, 2, 2]);
    expect(pkg.generation).toBeDefined();
    expect(features.ok.every(Boolean)).toBe(true);
    expect(features.floatsPerImage).toBe(manifest.image.tokens * manifest.d_model);
  });

  it('encodes prompts and captions to the reference ids: bos first, eos last', () => {
    expect(examples.length).toBe(training.examples.length);
    examples.forEach((e, i) => {
      expect(images[e.imageIndex]).toBe(training.examples[i].file_name);
      expect(e.promptIds).toEqual(training.examples[i].prompt_ids);
      expect(e.targetIds).toEqual(training.examples[i].target_ids);
      expect([e.promptIds[0], e.promptIds.at(-1), e.targetIds[0], e.targetIds.at(-1)]).toEqual([0, 2, 0, 2]);
    });
    greedy.examples.forEach((e) => expect(pkg.text.promptIds(e.prompt)).toEqual(e.prompt_ids));
  });

  it('cuts long texts to the maximum keeping bos first and eos last', () => {
    const { max_prompt_tokens: maxPrompt, max_target_tokens: maxTarget } = pkg.manifest.text;
    const long = 'caption en describe the shapes '.repeat(8);
    const prompt = pkg.text.promptIds(long);
    const target = pkg.text.targetIds(long);
    expect([prompt.length, target.length]).toEqual([maxPrompt, maxTarget]);
    expect([prompt[0], prompt.at(-1), target[0], target.at(-1)]).toEqual([0, 2, 0, 2]);
    expect(prompt.slice(0, -1)).toEqual(target.slice(0, maxPrompt - 1));
    expect(pkg.text.promptIds('')).toEqual([0, 2]);
  });

  it('refuses a manifest whose add_bos is not a boolean or leaves no room for bos and eos', () => {
    const manifest = JSON.parse(readFileSync(`${PACKAGE}/manifest.json`, 'utf8'));
    const withText = (text: object) => JSON.stringify({ ...manifest, text: { ...manifest.text, ...text } });
    expect(() => parseManifest(withText({ add_bos: 'yes' }), 'p')).toThrow(PackageError);
    expect(() => parseManifest(withText({ max_prompt_tokens: 1 }), 'p')).toThrow('needs max_prompt_tokens and max_target_tokens of 2 or more');
    expect(parseManifest(withText({ add_bos: false, max_prompt_tokens: 1 }), 'p').text.add_bos).toBe(false);
  });
});

describe('AdaLink training on Florence-2', () => {
  it('50 AdamW steps: per-step losses within 1e-4 relative of PyTorch, the loss falls, final weights close', async () => {
    const trainer = new Trainer(pkg, features, examples, fixtureConfig(training));
    const losses: number[] = [];
    try {
      await trainer.run(training.config.steps, { onStep: (r) => losses.push(r.loss) });
      const state = await trainer.exportState();
      const lossError = maxRelativeError(losses, training.losses);
      console.log(`florence adamw: loss ${losses[0].toFixed(5)} → ${losses.at(-1)!.toFixed(5)}, max relative error vs PyTorch ${lossError.toExponential(2)}`);
      expect(losses).toHaveLength(training.losses.length);
      expect(lossError).toBeLessThan(1e-4);
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      expect(mean(losses.slice(-5))).toBeLessThan(mean(losses.slice(0, 5)) - 0.05);
      for (const [name, reference] of [['image.wup', training.final.wup_image], ['text.wup', training.final.wup_text],
        ['image.wdown', training.final.wdown_image], ['text.wdown', training.final.wdown_text]] as const) {
        const scale = Math.max(...reference.map(Math.abs));
        const worst = Math.max(...reference.map((v, i) => Math.abs(state.tensors[name][i] - v)));
        expect(worst / scale, name).toBeLessThan(1e-3);
      }
    } finally {
      await trainer.destroy();
    }
  });
});

describe('greedy captions equal PyTorch token for token', () => {
  it('without the adapter, for every image', async () => {
    const captions = await generator.generate(inputs, [], { batchSize: greedy.examples.length });
    expect(captions.map((c) => c.ids)).toEqual(greedy.examples.map((e) => e.base.ids));
    expect(captions.map((c) => c.caption)).toEqual(greedy.examples.map((e) => e.base.caption));
  });

  it('with the adapter PyTorch trained (the training fixture\'s final weights)', async () => {
    const captions = await generator.generate(inputs, fixtureAdapter(training), { batchSize: greedy.examples.length });
    expect(captions.map((c) => c.ids)).toEqual(greedy.examples.map((e) => e.adapted.ids));
    expect(captions.map((c) => c.caption)).toEqual(greedy.examples.map((e) => e.adapted.caption));
  });
});
