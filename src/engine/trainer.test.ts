/**
 * The train step against the PyTorch reference (tools/reference_train.py), in Node over Dawn: same
 * package, same initial weights, same batches, same update rules; then determinism, resume and the
 * non-finite guard.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initialWdown } from '../kernels/random.ts';
import { withDefaults } from '../config.ts';
import { DataOrder } from './dataOrder.ts';
import { TrainingError } from '../errors.ts';
import { decodeTrainingState, encodeTrainingState } from '../formats/trainingState.ts';
import { fixtureConfig, loadTiny, readFixture, type TinySetup } from './testing/tinySetup.ts';
import type { VjpCounts } from './frozenVjp.ts';
import { CaptionGenerator } from './generate.ts';
import { Trainer, type TrainerOptions } from './trainer.ts';

let tiny: TinySetup;
beforeAll(async () => {
  tiny = await loadTiny();
});

function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / Math.abs(expected[i]));
  return worst;
}

async function train(config = fixtureConfig(readFixture('adamw')), steps = config.steps, state?: ReturnType<typeof decodeTrainingState>, options: TrainerOptions = {}) {
  const trainer = new Trainer(tiny.pkg, tiny.features, tiny.examples, config, state, options);
  const losses: number[] = [];
  try {
    await trainer.run(steps, { onStep: (r) => losses.push(r.loss) });
    return { losses, state: await trainer.exportState(), vjpCounts: { ...trainer.vjp.counts } };
  } finally {
    await trainer.destroy();
  }
}

describe('the same inputs as the PyTorch reference', () => {
  it('tokenizes every example to the reference ids', () => {
    const fixture = readFixture('adamw');
    expect(tiny.examples.length).toBe(fixture.examples.length);
    tiny.examples.forEach((e, i) => {
      expect(tiny.dataset.images[e.imageIndex]).toBe(fixture.examples[i].file_name);
      expect(e.promptIds).toEqual(fixture.examples[i].prompt_ids);
      expect(e.targetIds).toEqual(fixture.examples[i].target_ids);
    });
  });

  it('draws the reference initial Wdown and batches', () => {
    const fixture = readFixture('adamw');
    const { seed, rank, batch_size: B } = fixture.config;
    const d = tiny.pkg.manifest.d_model;
    expect(maxRelativeError(initialWdown(seed, 'image', d, rank.image), fixture.init.wdown_image)).toBeLessThan(1e-6);
    expect(maxRelativeError(initialWdown(seed, 'text', d, rank.text), fixture.init.wdown_text)).toBeLessThan(1e-6);
    const order = new DataOrder(seed, tiny.examples.length, B);
    fixture.batches.forEach((batch, s) => expect(order.batch(s)).toEqual(batch));
  });
});

/** The worst difference of a tensor from a reference, relative to the reference's largest value. */
function scaledError(actual: ArrayLike<number>, reference: ArrayLike<number>): number {
  let scale = 0, worst = 0;
  for (let i = 0; i < reference.length; i++) {
    scale = Math.max(scale, Math.abs(reference[i]));
    worst = Math.max(worst, Math.abs(actual[i] - reference[i]));
  }
  return worst / scale;
}

/** Steps the other ways of running the vjp take: every shape recorded by step 2, most steps replayed. */
const SHORT = 12;

/**
 * The default way (vjp recorded, whole batch) on the AdamW fixture, run once for the file: its state after
 * SHORT steps, then on to the fixture's 50. The other ways are held to its weights at step SHORT.
 */
let reference: Promise<{ losses: number[]; state: Awaited<ReturnType<Trainer['exportState']>>; atShort: Awaited<ReturnType<Trainer['exportState']>>; vjpCounts: VjpCounts }> | undefined;
function adamwReference() {
  reference ??= (async () => {
    const config = fixtureConfig(readFixture('adamw'));
    const trainer = new Trainer(tiny.pkg, tiny.features, tiny.examples, config);
    const losses: number[] = [];
    try {
      await trainer.run(SHORT, { onStep: (r) => losses.push(r.loss) });
      const atShort = await trainer.exportState();
      await trainer.run(config.steps - SHORT, { onStep: (r) => losses.push(r.loss) });
      return { losses, atShort, state: await trainer.exportState(), vjpCounts: { ...trainer.vjp.counts } };
    } finally {
      await trainer.destroy();
    }
  })();
  return reference;
}

// The default way (vjp recorded, frozenVjp.ts), for each optimizer, over the fixture's 50 steps: per-step losses
// and final weights against PyTorch's.
describe.each(['adamw', 'adafactor'] as const)('%s, vjp recorded: 50 steps match the PyTorch reference', (optimizer) => {
  it('per-step losses within 1e-4 relative, final weights close', async () => {
    const fixture = readFixture(optimizer);
    const { losses, state, vjpCounts } = optimizer === 'adamw' ? await adamwReference() : await train(fixtureConfig(fixture));
    expect(losses).toHaveLength(fixture.losses.length);
    const lossError = maxRelativeError(losses, fixture.losses);
    console.log(`${optimizer}, vjp recorded (runs ${JSON.stringify(vjpCounts)}): loss ${losses[0].toFixed(5)} → ${losses.at(-1)!.toFixed(5)}, max relative error vs PyTorch ${lossError.toExponential(2)}`);
    // Each shape's first run captures, its second is ORT's replay, the rest are recorded replays.
    const { plain, capture, ortReplay, recorded } = vjpCounts;
    expect([plain, ortReplay, plain + capture + ortReplay + recorded]).toEqual([0, capture, losses.length]);
    // The fixture's prompts are 3 and 6 tokens long: the vjp takes every batch's padded to 6, one shape for the run
    // (its losses within the same bound as when each batch was its own shape; Batch.vjpPromptLength).
    expect(new Set(fixture.examples.map((e) => e.prompt_ids.length)).size).toBeGreaterThan(1);
    expect(capture).toBe(1);
    expect(recorded).toBeGreaterThan(losses.length / 2);
    expect(lossError).toBeLessThan(1e-4);
    expect(losses.at(-1)!).toBeLessThan(losses[0]);
    for (const [name, reference] of [['image.wup', fixture.final.wup_image], ['text.wup', fixture.final.wup_text],
      ['image.wdown', fixture.final.wdown_image], ['text.wdown', fixture.final.wdown_text]] as const) {
      expect(scaledError(state.tensors[name], reference), name).toBeLessThan(1e-3);
    }
  });
});

// The other ways of running the vjp (frozenVjp.ts): ORT's graph-capture replay, ORT plain, and the batch of 4 run as
// vjp parts of 3 + 1 examples (TrainerOptions.vjpBatch: two shapes, unequal shares of the target tokens), whose
// gradients must add up to the whole batch's. Each trains SHORT steps (the recorded run above goes on to 50 against
// PyTorch): its per-step losses within 1e-4 of PyTorch's, and its weights within 1e-5 of the recorded run's at that
// step — gradients that differed (a stale replay, parts weighted wrong) would move them further after one update.
describe.each([
  ['captured', undefined], ['plain', undefined], ['recorded', 3],
] as const)(`adamw, vjp %s, vjp batch %s: ${SHORT} steps match the PyTorch reference and the recorded run`, (vjpReplay, vjpBatch) => {
  it('per-step losses within 1e-4 relative of PyTorch, weights within 1e-5 of the recorded run\'s', async () => {
    const fixture = readFixture('adamw');
    const { losses, state, vjpCounts } = await train(fixtureConfig(fixture), SHORT, undefined, { vjpReplay, vjpBatch });
    const { atShort } = await adamwReference();
    expect(losses).toHaveLength(SHORT);
    const lossError = maxRelativeError(losses, fixture.losses.slice(0, SHORT));
    const weightError = Math.max(...Object.keys(atShort.tensors).map((name) => scaledError(state.tensors[name], atShort.tensors[name])));
    console.log(`adamw, vjp ${vjpReplay}, vjp batch ${vjpBatch ?? 'whole'} (runs ${JSON.stringify(vjpCounts)}): loss ${losses[0].toFixed(5)} → ${losses.at(-1)!.toFixed(5)}, max relative error vs PyTorch ${lossError.toExponential(2)}, weights vs the recorded run ${weightError.toExponential(2)}`);
    // Each way ran: a shape's first run captures, its second is ORT's replay (recorded), the rest replay.
    const { plain, capture, ortReplay, recorded } = vjpCounts;
    const runsPerStep = vjpBatch ? Math.ceil(fixture.config.batch_size / vjpBatch) : 1;
    expect(plain + capture + ortReplay + recorded).toBe(losses.length * runsPerStep);
    if (vjpReplay === 'plain') expect(plain).toBe(losses.length);
    // One shape per part size: the whole batch, or parts of 3 and 1.
    else expect(capture).toBe(vjpBatch ? 2 : 1);
    if (vjpReplay === 'recorded') expect(recorded).toBeGreaterThan(losses.length / 2);
    if (vjpReplay === 'captured') expect([recorded, ortReplay > losses.length / 2]).toEqual([0, true]);
    expect(lossError).toBeLessThan(1e-4);
    expect(Object.keys(state.tensors).sort()).toEqual(Object.keys(atShort.tensors).sort());
    expect(weightError).toBeLessThan(1e-5);
  });
});

describe('determinism and resume', () => {
  const dropoutConfig = withDefaults({ ...fixtureConfig(readFixture('adafactor')), dropout: 0.1, steps: 12 });
  /** The 12-step run with dropout, once for both tests: the second run and the resumed one are compared with it. */
  let whole: ReturnType<typeof train> | undefined;
  const uninterrupted = () => (whole ??= train(dropoutConfig));

  it('gives the same losses for the same seed with dropout on, and other losses for another seed', async () => {
    const first = await uninterrupted();
    const second = await train(dropoutConfig);
    expect(second.losses).toEqual(first.losses);
    // Another seed draws other batches, Wdown and masks: its losses part from the first steps on.
    const other = await train({ ...dropoutConfig, seed: dropoutConfig.seed + 1 }, 4);
    expect(other.losses).toHaveLength(4);
    expect(other.losses).not.toEqual(first.losses.slice(0, 4));
  });

  it('continues a saved state exactly as the uninterrupted run', async () => {
    const half = await train(dropoutConfig, 5);
    const restored = decodeTrainingState(encodeTrainingState(half.state));
    expect(restored.step).toBe(5);
    const rest = await train(restored.config, dropoutConfig.steps - 5, restored);
    const { losses, state } = await uninterrupted();
    expect(losses).toHaveLength(dropoutConfig.steps);
    expect([...half.losses, ...rest.losses]).toEqual(losses);
    expect(rest.state.losses).toEqual(losses);
    for (const name of Object.keys(state.tensors)) expect(rest.state.tensors[name], name).toEqual(state.tensors[name]);
  });
});

describe('the validation loss', () => {
  // Dropout on: the steps drop, the validation loss must not. Three examples at batch 2: the last batch is padded.
  const config = withDefaults({ ...fixtureConfig(readFixture('adafactor')), dropout: 0.1, batchSize: 2, steps: 4 });
  const validation = () => tiny.examples.slice(0, 3);

  it('is the teacher-forced loss that generation\'s graphs give, with the adapter as trained, through the steps\' vjp', async () => {
    const trainer = new Trainer(tiny.pkg, tiny.features, tiny.examples, config, undefined, { validation: validation() });
    const generator = new CaptionGenerator(tiny.pkg);
    try {
      await trainer.run(2);
      const before = { ...trainer.vjp.counts };
      const loss = await trainer.validationLoss();
      // Two batches, each one vjp run of the steps' shape: nothing ran another way.
      const after = trainer.vjp.counts;
      expect(after.plain).toBe(before.plain);
      expect(after.recorded + after.ortReplay + after.capture - before.recorded - before.ortReplay - before.capture).toBe(2);
      // The same examples scored by the encoder and decoder_init graphs (CaptionGenerator.logProbabilities).
      const examples = validation();
      const logprobs = await generator.logProbabilities({
        features: tiny.features, imageIndices: examples.map((e) => e.imageIndex), promptIds: examples.map((e) => e.promptIds),
      }, examples.map((e) => e.targetIds), await trainer.adapterWeights());
      const expected = -logprobs.reduce((a, b) => a + b, 0) / examples.reduce((n, e) => n + e.targetIds.length, 0);
      expect(Math.abs(loss - expected) / expected).toBeLessThan(1e-5);
      expect(await trainer.validationLoss()).toBe(loss);
      // The frozen model scores them otherwise: the loss is the adapter's.
      const frozen = await generator.logProbabilities({
        features: tiny.features, imageIndices: examples.map((e) => e.imageIndex), promptIds: examples.map((e) => e.promptIds),
      }, examples.map((e) => e.targetIds));
      expect(Math.abs(loss + frozen.reduce((a, b) => a + b, 0) / examples.reduce((n, e) => n + e.targetIds.length, 0))).toBeGreaterThan(1e-4);
    } finally {
      generator.destroy();
      await trainer.destroy();
    }
  });

  it('changes nothing of the run: the steps after it are the uninterrupted run\'s', async () => {
    const run = async (validateAfter?: number) => {
      const trainer = new Trainer(tiny.pkg, tiny.features, tiny.examples, config, undefined, { validation: validation() });
      const losses: number[] = [];
      try {
        if (validateAfter !== undefined) {
          await trainer.run(validateAfter, { onStep: (r) => losses.push(r.loss) });
          await trainer.validationLoss();
        }
        await trainer.run(config.steps - trainer.step, { onStep: (r) => losses.push(r.loss) });
        return losses;
      } finally {
        await trainer.destroy();
      }
    };
    const uninterrupted = await run();
    expect(uninterrupted).toHaveLength(config.steps);
    expect(await run(0)).toEqual(uninterrupted);
    expect(await run(2)).toEqual(uninterrupted);
  });
});

describe('a loss that is not finite', () => {
  it('stops training at that step and keeps the last adapter whose loss was finite', async () => {
    const config = withDefaults({ ...fixtureConfig(readFixture('adamw')), steps: 20 });
    // Poison the cached features of one image that no batch uses before step 3.
    const order = new DataOrder(config.seed, tiny.examples.length, config.batchSize);
    const firstUse = new Map<number, number>();
    for (let s = config.steps - 1; s >= 0; s--) for (const i of order.batch(s)) firstUse.set(tiny.examples[i].imageIndex, s);
    const [image, badStep] = [...firstUse].find(([, s]) => s >= 3)!;
    const { device } = tiny.pkg;
    const poisoned = device.createBuffer({ size: tiny.features.buffer.size, usage: tiny.features.buffer.usage });
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(tiny.features.buffer, 0, poisoned, 0, poisoned.size);
    device.queue.submit([encoder.finish()]);
    device.queue.writeBuffer(poisoned, image * tiny.features.floatsPerImage * 4, new Float32Array(tiny.features.floatsPerImage).fill(NaN));

    const trainer = new Trainer(tiny.pkg, { ...tiny.features, buffer: poisoned }, tiny.examples, config);
    const error = await trainer.run(config.steps).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainingError);
    expect((error as TrainingError).message).toContain(`step ${badStep + 1}`);
    const kept = await trainer.exportState();
    await trainer.destroy();
    poisoned.destroy();
    // Step badStep's loss is NaN, so the weights it used (after badStep updates) are not kept either.
    expect(kept.step).toBe(badStep - 1);
    expect(kept.losses.every(Number.isFinite)).toBe(true);
    const replay = await train(config, badStep - 1);
    expect(replay.losses).toEqual(kept.losses);
    for (const name of Object.keys(kept.tensors)) expect(kept.tensors[name], name).toEqual(replay.state.tensors[name]);
  });
});
