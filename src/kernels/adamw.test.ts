/**
 * gradNorm + AdamW over several steps against float64 references of the same rules (ENGINE.md §5).
 * Tolerances, per element, after every step:
 *   m: |gpu − ref| ≤ 1e-5 · mAbs   (mAbs = the m recursion run on |g|: m's terms' magnitude)
 *   v: |gpu − ref| ≤ 1e-5 · v      (positive terms)
 *   p: |gpu − ref| ≤ 2e-6 · |p| + 1e-5 · Σ_steps lr·((mAbs/bc1)/(sqrt(v/bc2)+ε) + wd·|p|)
 * A skipped step (NaN/Inf loss or gradient) must leave p, m and v bit-identical.
 */
import { describe, expect, it } from 'vitest';
import { adamw } from './adamw.ts';
import { gradNorm } from './gradNorm.ts';
import { expectClose, expectSameBits } from './testing/compare.ts';
import { readF32, readStatus, run, upload, zeros } from './testing/gpu.ts';
import { getTestDevice, uncapturedErrors } from './testing/nodeDevice.ts';
import { newAdamwState, refAdamwStep, refGradNorm, type AdamwOptions } from './testing/reference.ts';
import { TestRng } from './testing/rng.ts';

interface Scenario {
  name: string;
  sizes: number[];
  clip: number;
  steps: number;
  /** Steps (1-based) whose loss is NaN / whose first gradient holds an Inf. */
  nanLossSteps?: number[];
  infGradSteps?: number[];
  lr: number;
  weightDecay: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  gradScale: number;
}

const scenarios: Scenario[] = [
  // Two modalities' Wdown (d×r) and Wup (r×d), d = 64, r = 4 and r = 8; the norm is ~40: clip 1 is active.
  { name: 'clipping active', sizes: [64 * 4, 4 * 64, 64 * 8, 8 * 64], clip: 1, steps: 6, lr: 1e-2, weightDecay: 0.01, gradScale: 1 },
  { name: 'clipping off (clip = 0)', sizes: [1000, 1, 257], clip: 0, steps: 5, lr: 1e-3, weightDecay: 0, gradScale: 1 },
  { name: 'clip above the norm', sizes: [1024 * 4, 4 * 1024], clip: 1e6, steps: 4, lr: 3e-2, weightDecay: 0.1, gradScale: 1e-3 },
  {
    name: 'NaN loss and Inf gradient steps are skipped',
    sizes: [300, 77],
    clip: 0.5,
    steps: 6,
    nanLossSteps: [2],
    infGradSteps: [4],
    lr: 1e-2,
    weightDecay: 0.01,
    gradScale: 10,
  },
  { name: 'large gradients, other betas', sizes: [513], clip: 0, steps: 4, lr: 1e-3, weightDecay: 0, beta1: 0.8, beta2: 0.99, eps: 1e-6, gradScale: 1e3 },
];

describe('adamw (with gradNorm)', () => {
  it.each(scenarios)('$name', async (s) => {
    const device = await getTestDevice();
    const rng = new TestRng(s.sizes.length * 1000 + s.steps);
    const params = s.sizes.map((n) => rng.normals(n, 0.1));
    const bufs = params.map((p) => ({
      param: upload(device, p),
      grad: zeros(device, p.length * 4),
      m: zeros(device, p.length * 4),
      v: zeros(device, p.length * 4),
    }));
    const refs = params.map((p) => newAdamwState(p));
    const lossBuf = zeros(device, 4);
    const status = zeros(device, 16);

    for (let step = 1; step <= s.steps; step++) {
      const grads = s.sizes.map((n) => rng.normals(n, s.gradScale));
      if (s.infGradSteps?.includes(step)) grads[0][rng.int(0, grads[0].length - 1)] = Number.POSITIVE_INFINITY;
      const loss = s.nanLossSteps?.includes(step) ? Number.NaN : 1 + rng.next();
      grads.forEach((g, i) => device.queue.writeBuffer(bufs[i].grad, 0, g));
      device.queue.writeBuffer(lossBuf, 0, new Float32Array([loss]));
      const before = await Promise.all(bufs.map(async (b) => [await readF32(device, b.param), await readF32(device, b.m), await readF32(device, b.v)]));

      const opts: AdamwOptions = {
        lr: s.lr,
        step,
        beta1: s.beta1 ?? 0.9,
        beta2: s.beta2 ?? 0.999,
        eps: s.eps ?? 1e-8,
        weightDecay: s.weightDecay,
      };
      await run(device, (encoder) => {
        gradNorm(device, encoder, {
          grads: bufs.map((b, i) => ({ buffer: b.grad, count: s.sizes[i] })),
          loss: lossBuf,
          lossOffset: 0,
          clip: s.clip,
          status,
        });
        const pass = encoder.beginComputePass(); // all four updates in one pass
        bufs.forEach((b, i) =>
          adamw(device, pass, { ...b, status, count: s.sizes[i], lr: opts.lr, step, beta1: opts.beta1, beta2: opts.beta2, eps: opts.eps, weightDecay: opts.weightDecay }),
        );
        pass.end();
      });

      const refStatus = refGradNorm(grads, loss, s.clip);
      const gpuStatus = await readStatus(device, status);
      expect(gpuStatus.skip, `step ${step} skip`).toBe(refStatus.skip ? 1 : 0);
      if (s.clip > 0 && !refStatus.skip && s.name === 'clipping active') expect(gpuStatus.clipScale).toBeLessThan(0.1);
      for (let i = 0; i < bufs.length; i++) {
        refAdamwStep(refs[i], grads[i], refStatus.clipScale, refStatus.skip, opts);
        const [p, m, v] = [await readF32(device, bufs[i].param), await readF32(device, bufs[i].m), await readF32(device, bufs[i].v)];
        const what = `${s.name} step ${step} tensor ${i}`;
        if (refStatus.skip) {
          expectSameBits(`${what} p`, p, before[i][0]);
          expectSameBits(`${what} m`, m, before[i][1]);
          expectSameBits(`${what} v`, v, before[i][2]);
          continue;
        }
        const r = refs[i];
        expectClose(`${what} m`, m, r.m, (k) => 1e-5 * r.mAbs[k]);
        expectClose(`${what} v`, v, r.v, (k) => 1e-5 * r.v[k]);
        expectClose(`${what} p`, p, r.p, (k) => 2e-6 * Math.abs(r.p[k]) + 1e-5 * r.updAbs[k]);
      }
    }
    // The parameters did move (a no-op kernel could not pass).
    const moved = await readF32(device, bufs[0].param);
    expect(moved.some((x, k) => x !== params[0][k])).toBe(true);
    expect(uncapturedErrors).toEqual([]);
  });
});
