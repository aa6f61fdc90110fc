/**
 * One adapter per task on one frozen model (RoutedAdapters): a batch that mixes tasks — adapters A, B, C and the
 * frozen model, interleaved — gives each example exactly the caption (ids, score) and the teacher-forced
 * log-probability that its task alone gives; so does the same route cut into batches, and evaluateCaptions with a
 * route aligned with its items; bad routes are ConfigErrors. In Node over Dawn, on the tiny package.
 *
 * Kept short for CI: eight examples with one prompt (one prompt length), greedy, five tokens, batches of 8 or 4
 * (SwiftShader compiles ORT's shaders per shape, which costs more than the decoding).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdapterWeights } from '../formats/adapterFile.ts';
import { ConfigError } from '../errors.ts';
import { evaluateCaptions, type EvaluationItem } from './evaluate.ts';
import { CaptionGenerator, type Caption, type CaptionInputs, type RoutedAdapters } from './generate.ts';
import { fixtureAdapter, loadTiny, readFixture, type TinySetup } from './testing/tinySetup.ts';

/** Images on which the four tasks give four different captions. */
const FILES = ['0000.png', '0001.png', '0002.png', '0003.png', '0005.png', '0006.png', '0010.png', '0011.png'];
const PROMPT = 'caption en';
/** Interleaved: A, B, frozen, C, B, A, frozen, C — in batches of 4 each batch holds all four tasks. */
const ROUTE = [0, 1, -1, 2, 1, 0, -1, 2];
const TASKS = ['frozen', 'A', 'B', 'C'] as const;
const OPTIONS = { maxTokens: 5, batchSize: FILES.length };

let tiny: TinySetup;
let generator: CaptionGenerator;
let inputs: CaptionInputs;
let routed: RoutedAdapters;
/** Every example's greedy caption through each task alone (a batch of that task only). */
const alone = {} as Record<(typeof TASKS)[number], Caption[]>;
let mixed: Caption[];

/** The caption example i gets from its own task alone. */
const ownTask = (i: number) => alone[TASKS[ROUTE[i] + 1]][i];
const closeTo = (x: number, y: number) => expect(Math.abs(x - y)).toBeLessThan(1e-6);

/** An adapter with its Wup scaled per modality (the fixtures' weights, pushed until the captions move apart). */
const scaled = (adapter: AdapterWeights[], scale: { image: number; text: number }) =>
  adapter.filter((w) => scale[w.modality] !== 0).map((w) => ({ ...w, wup: w.wup.map((v) => scale[w.modality] * v) }));

beforeAll(async () => {
  tiny = await loadTiny();
  generator = new CaptionGenerator(tiny.pkg);
  inputs = {
    features: tiny.features,
    imageIndices: FILES.map((f) => tiny.dataset.images.indexOf(f)),
    promptIds: FILES.map(() => tiny.pkg.text.promptIds(PROMPT)),
  };
  const adafactor = fixtureAdapter(readFixture('adafactor'));
  const adamw = fixtureAdapter(readFixture('adamw'));
  // A and B adapt both modalities, C the image only (its rows keep the text embeddings E).
  const sets = [scaled(adafactor, { image: 1, text: -1 }), scaled(adamw, { image: -0.2, text: 3 }), scaled(adafactor, { image: 1, text: 0 })];
  routed = { adapters: sets, route: ROUTE };
  alone.frozen = await generator.generate(inputs, [], OPTIONS);
  for (const [k, set] of sets.entries()) alone[TASKS[k + 1]] = await generator.generate(inputs, set, OPTIONS);
  mixed = await generator.generate(inputs, routed, OPTIONS);
});

afterAll(() => generator?.destroy());

describe('a batch that mixes tasks', () => {
  it('routes to tasks whose captions differ: on each example its own task\'s caption is no other task\'s, nor another example\'s of the task', () => {
    expect(inputs.imageIndices.every((i) => i >= 0)).toBe(true);
    ROUTE.forEach((r, i) => {
      for (const task of TASKS) if (task !== TASKS[r + 1]) expect(alone[task][i].ids).not.toEqual(ownTask(i).ids);
      ROUTE.forEach((s, j) => { if (j !== i && s === r) expect(ownTask(j).ids).not.toEqual(ownTask(i).ids); });
    });
  });

  it('gives each example the caption of its own task alone', () => {
    expect(mixed).toHaveLength(FILES.length);
    mixed.forEach((c, i) => {
      expect(c.ids).toEqual(ownTask(i).ids);
      expect(c.caption).toBe(ownTask(i).caption);
      closeTo(c.score, ownTask(i).score);
    });
    console.log(`mixed batch, per example |score − own task alone's|: max ${Math.max(...mixed.map((c, i) => Math.abs(c.score - ownTask(i).score))).toExponential(2)}`);
  });

  it('the same in batches of 4 (the route cut with the batches)', async () => {
    const cut = await generator.generate(inputs, routed, { ...OPTIONS, batchSize: 4 });
    cut.forEach((c, i) => {
      expect(c.ids).toEqual(ownTask(i).ids);
      closeTo(c.score, ownTask(i).score);
    });
  });

  it('teacher forcing: each example\'s log-probability is its own task\'s', async () => {
    const ids = mixed.map((c) => c.ids);
    const routedLogprobs = await generator.logProbabilities(inputs, ids, routed, OPTIONS);
    const byTask = [await generator.logProbabilities(inputs, ids, [], OPTIONS)];
    for (const set of routed.adapters) byTask.push(await generator.logProbabilities(inputs, ids, set, OPTIONS));
    routedLogprobs.forEach((lp, i) => {
      closeTo(lp, byTask[ROUTE[i] + 1][i]);
      closeTo(lp / ids[i].length, mixed[i].score);
      // and not another task's (the test could fail)
      byTask.forEach((other, t) => { if (t !== ROUTE[i] + 1) expect(Math.abs(lp - other[i])).toBeGreaterThan(1e-3); });
    });
  });

  it('evaluateCaptions follows a route aligned with its items', async () => {
    const items: EvaluationItem[] = FILES.map((image, i) => ({ image, imageIndex: inputs.imageIndices[i], prompt: PROMPT, references: ['a shape'] }));
    const evaluation = await evaluateCaptions(tiny.pkg, items, tiny.features, routed, { ...OPTIONS, batchSize: 4, generator });
    expect(evaluation.captions.map((c) => c.caption)).toEqual(mixed.map((c) => c.caption));
    await expect(evaluateCaptions(tiny.pkg, items, tiny.features, { ...routed, route: ROUTE.slice(1) }, { ...OPTIONS, generator })).rejects.toThrow(ConfigError);
  });
});

describe('bad routes', () => {
  it('are ConfigErrors that say what, where and what to do', async () => {
    const bad: Array<[RoutedAdapters, string]> = [
      [{ ...routed, route: ROUTE.slice(1) }, '7 routes for 8 examples'],
      [{ ...routed, route: ROUTE.map((r, i) => (i === 3 ? 3 : r)) }, 'route 3 is not -1 or the index of one of the 3 adapter sets'],
      [{ ...routed, route: ROUTE.map((r, i) => (i === 5 ? -2 : r)) }, 'route -2'],
      [{ ...routed, route: ROUTE.map((r, i) => (i === 0 ? 0.5 : r)) }, 'route 0.5'],
      [{ ...routed, adapters: [routed.adapters[0], [{ ...routed.adapters[1][0], rank: 5 }]], route: ROUTE.map((r) => Math.min(r, 1)) }, 'do not fit rank 5'],
      [{ adapters: [[...routed.adapters[0], routed.adapters[0][0]]], route: ROUTE.map(() => 0) }, 'unknown or given twice'],
    ];
    for (const [choice, message] of bad) {
      const error = await generator.generate(inputs, choice, OPTIONS).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problem).toContain(message);
      expect((error as ConfigError).where).toMatch(/route|adapter/);
      expect((error as ConfigError).fix).not.toBe('');
      await expect(generator.logProbabilities(inputs, mixed.map((c) => c.ids), choice, OPTIONS)).rejects.toThrow(ConfigError);
    }
  });
});
