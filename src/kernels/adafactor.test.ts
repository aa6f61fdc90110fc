/**
 * gradNorm + Adafactor over several steps against float64 references of the same rule (ENGINE.md §5).
 * Tolerances, per element, after every step:
 *   row, col: |gpu − ref| ≤ 1e-5 · ref   (EMAs of means of positive terms)
 *   p:        |gpu − ref| ≤ 2e-6 · |p| + 1e-5 · Σ_steps lr·(|u|/max(1, rms u) + wd·|p|)
 *             (u is a product of factors, so its f32 error is relative to |u|)
 * A skipped step (NaN loss) must leave p, row and col bit-identical.
 */
import { describe, expect, it } from 'vitest';
import { adafactor } from './adafactor.ts';
import { gradNorm } from './gradNorm.ts';
import { expectClose, expectSameBits } from './testing/compare.ts';
import { readF32, readStatus, run, upload, zeros } from './testing/gpu.ts';
import { getTestDevice, uncapturedErrors } from './testing/nodeDevice.ts';
import { newAdafactorState, refAdafactorStep, refGradNorm } from './testing/reference.ts';
import { TestRng } from './testing/rng.ts';

interface Scenario {
  name: string;
  /** [rows, cols] of each matrix. */
  shapes: Array<[number, number]>;
  clip: number;
  steps: number;
  nanLossSteps?: number[];
  lr: number;
  weightDecay: number;
  gradScale: number;
  /** Matrices whose gradient is all zeros (as dWdown at step 1, when Wup = 0). */
  zeroGrad?: number[];
}

const scenarios: Scenario[] = [
  {
    name: 'clipping active, two modalities',
    shapes: [[64, 4], [4, 64], [32, 8], [8, 32]],
    clip: 1,
    steps: 5,
    lr: 0.03,
    weightDecay: 0,
    gradScale: 1,
  },
  { name: 'clipping off, d = 1024 (r = 1 and r = 64)', shapes: [[1024, 1], [1, 1024], [1024, 64]], clip: 0, steps: 3, lr: 0.03, weightDecay: 0.01, gradScale: 1e-2 },
  { name: 'large matrix (> 4096 elements per partial)', shapes: [[256, 1024], [33, 17]], clip: 1e6, steps: 3, lr: 1e-3, weightDecay: 0, gradScale: 1e3 },
  {
    name: 'NaN loss step is skipped, zero gradient stays finite',
    shapes: [[40, 7], [7, 40], [1, 1]],
    clip: 0.5,
    steps: 5,
    nanLossSteps: [1, 3],
    lr: 0.03,
    weightDecay: 0.1,
    gradScale: 1,
    zeroGrad: [1],
  },
];

describe('adafactor (with gradNorm)', () => {
  it.each(scenarios)('$name', async (s) => {
    const device = await getTestDevice();
    const rng = new TestRng(s.shapes.length * 77 + s.steps);
    const params = s.shapes.map(([R, C]) => rng.normals(R * C, 0.1));
    const bufs = s.shapes.map(([R, C], i) => ({
      param: upload(device, params[i]),
      grad: zeros(device, R * C * 4),
      row: zeros(device, R * 4),
      col: zeros(device, C * 4),
    }));
    const refs = s.shapes.map(([R, C], i) => newAdafactorState(params[i], R, C));
    const lossBuf = zeros(device, 4);
    const status = zeros(device, 16);

    for (let step = 1; step <= s.steps; step++) {
      const grads = s.shapes.map(([R, C], i) => (s.zeroGrad?.includes(i) ? new Float32Array(R * C) : rng.normals(R * C, s.gradScale)));
      const loss = s.nanLossSteps?.includes(step) ? Number.NaN : 2 + rng.next();
      grads.forEach((g, i) => device.queue.writeBuffer(bufs[i].grad, 0, g));
      device.queue.writeBuffer(lossBuf, 0, new Float32Array([loss]));
      const before = await Promise.all(bufs.map(async (b) => [await readF32(device, b.param), await readF32(device, b.row), await readF32(device, b.col)]));

      await run(device, (encoder) => {
        gradNorm(device, encoder, {
          grads: bufs.map((b, i) => ({ buffer: b.grad, count: grads[i].length })),
          loss: lossBuf,
          lossOffset: 0,
          clip: s.clip,
          status,
        });
        bufs.forEach((b, i) =>
          adafactor(device, encoder, { ...b, status, rows: s.shapes[i][0], cols: s.shapes[i][1], lr: s.lr, step, weightDecay: s.weightDecay }),
        );
      });

      const refStatus = refGradNorm(grads, loss, s.clip);
      const gpuStatus = await readStatus(device, status);
      expect(gpuStatus.skip, `step ${step} skip`).toBe(refStatus.skip ? 1 : 0);
      if (s.clip === 1 && !refStatus.skip) expect(gpuStatus.clipScale).toBeLessThan(0.1);
      for (let i = 0; i < bufs.length; i++) {
        const [R, C] = s.shapes[i];
        refAdafactorStep(refs[i], grads[i], R, C, refStatus.clipScale, refStatus.skip, { lr: s.lr, step, weightDecay: s.weightDecay });
        const [p, row, col] = [await readF32(device, bufs[i].param), await readF32(device, bufs[i].row), await readF32(device, bufs[i].col)];
        const what = `${s.name} step ${step} matrix ${i} (${R}×${C})`;
        if (refStatus.skip) {
          expectSameBits(`${what} p`, p, before[i][0]);
          expectSameBits(`${what} row`, row, before[i][1]);
          expectSameBits(`${what} col`, col, before[i][2]);
          continue;
        }
        const r = refs[i];
        expectClose(`${what} row`, row, r.row, (k) => 1e-5 * r.row[k]);
        expectClose(`${what} col`, col, r.col, (k) => 1e-5 * r.col[k]);
        expectClose(`${what} p`, p, r.p, (k) => 2e-6 * Math.abs(r.p[k]) + 1e-5 * r.updAbs[k]);
      }
    }
    const moved = await readF32(device, bufs[0].param);
    expect(moved.some((x, k) => x !== params[0][k])).toBe(true);
    expect(uncapturedErrors).toEqual([]);
  });
});
