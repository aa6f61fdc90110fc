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
import type { VjpReplay } from './frozenVjp.ts';
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

// The vjp three ways (frozenVjp.ts): recorded replay (the default), ORT's graph-capture replay, ORT plain; and
// the batch of 4 run as vjp parts of 3 + 1 examples (TrainerOptions.vjpBatch: two shapes, unequal shares of the
// target tokens), whose gradients must add up to the whole batch's.
describe.each([
  ['adamw', 'recorded', undefined], ['adafactor', 'recorded', undefined], ['adamw', 'captured', undefined], ['adamw', 'plain', undefined],
  ['adamw', 'recorded', 3],
] as const)('%s, vjp %s, vjp batch %s: 50 steps match the PyTorch reference', (optimizer, vjpReplay, vjpBatch) => {
  it('per-step losses within 1e-4 relative, final weights close', async () => {
    const fixture = readFixture(optimizer);
    const { losses, state, vjpCounts } = await train(fixtureConfig(fixture), undefined, undefined, { vjpReplay, vjpBatch });
    expect(losses).toHaveLength(fixture.losses.length);
    const lossError = maxRelativeError(losses, fixture.losses);
    console.log(`${optimizer}, vjp ${vjpReplay}, vjp batch ${vjpBatch ?? 'whole'} (runs ${JSON.stringify(vjpCounts)}): loss ${losses[0].toFixed(5)} → ${losses.at(-1)!.toFixed(5)}, max relative error vs PyTorch ${lossError.toExponential(2)}`);
    // Each way ran: a shape's first run captures, its second is ORT's replay (recorded), the rest replay.
    const { plain, capture, ortReplay, recorded } = vjpCounts;
    const runsPerStep = vjpBatch ? Math.ceil(fixture.config.batch_size / vjpBatch) : 1;
    expect(plain + capture + ortReplay + recorded).toBe(losses.length * runsPerStep);
    if (vjpReplay === 'plain') expect(plain).toBe(losses.length);
    else expect(capture).toBeGreaterThan(0);
    if (vjpReplay === 'recorded') expect(recorded).toBeGreaterThan(losses.length / 2);
    if (vjpReplay === 'captured') expect([recorded, ortReplay > losses.length / 2]).toEqual([0, true]);
    expect(lossError).toBeLessThan(1e-4);
    expect(losses.at(-1)!).toBeLessThan(losses[0]);
    for (const [name, reference] of [['image.wup', fixture.final.wup_image], ['text.wup', fixture.final.wup_text],
      ['image.wdown', fixture.final.wdown_image], ['text.wdown', fixture.final.wdown_text]] as const) {
      const scale = Math.max(...reference.map(Math.abs));
      const worst = Math.max(...reference.map((v, i) => Math.abs(state.tensors[name][i] - v)));
      expect(worst / scale, name).toBeLessThan(1e-3);
    }
  });
});

describe('determinism and resume', () => {
  const dropoutConfig = withDefaults({ ...fixtureConfig(readFixture('adafactor')), dropout: 0.1, steps: 12 });

  it('gives the same losses for the same seed with dropout on, and other losses for another seed', async () => {
    const first = await train(dropoutConfig);
    const second = await train(dropoutConfig);
    expect(second.losses).toEqual(first.losses);
    const other = await train({ ...dropoutConfig, seed: dropoutConfig.seed + 1 });
    expect(other.losses).not.toEqual(first.losses);
  });

  it('continues a saved state exactly as the uninterrupted run', async () => {
    const whole = await train(dropoutConfig);
    const half = await train(dropoutConfig, 5);
    const restored = decodeTrainingState(encodeTrainingState(half.state));
    expect(restored.step).toBe(5);
    const rest = await train(restored.config, dropoutConfig.steps - 5, restored);
    expect([...half.losses, ...rest.losses]).toEqual(whole.losses);
    expect(rest.state.losses).toEqual(whole.losses);
    for (const name of Object.keys(whole.state.tensors)) expect(rest.state.tensors[name], name).toEqual(whole.state.tensors[name]);
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
