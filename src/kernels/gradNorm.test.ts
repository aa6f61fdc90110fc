/**
 * gradNorm against the float64 reference.
 * Tolerances: sumSquares and norm within 1e-5 relative (all terms are positive, so the relative error of
 * an f32 sum of them stays ~(terms per thread + tree depth)·2^-24 ≈ 2e-6); clipScale within 1e-5
 * relative; skip exact. Non-finite detection must catch NaN, ±Inf in any gradient element and in the loss,
 * and an overflowing Σg².
 */
import { describe, expect, it } from 'vitest';
import { GRAD_NORM_BLOCK, gradNorm } from './gradNorm.ts';
import { expectSameBits } from './testing/compare.ts';
import { readBytes, readStatus, run, upload, zeros, type StepStatus } from './testing/gpu.ts';
import { getTestDevice, uncapturedErrors } from './testing/nodeDevice.ts';
import { refGradNorm, type RefStatus } from './testing/reference.ts';
import { TestRng } from './testing/rng.ts';

const REL = 1e-5;

function expectStatus(what: string, got: StepStatus, ref: RefStatus) {
  expect(got.skip, `${what}: skip`).toBe(ref.skip ? 1 : 0);
  if (ref.skip) {
    expect(got.clipScale, `${what}: clipScale when skipping`).toBe(1);
    return;
  }
  const near = (a: number, b: number) => Math.abs(a - b) <= REL * Math.abs(b);
  if (!near(got.sumSquares, ref.sumSquares)) throw new Error(`${what}: sumSquares ${got.sumSquares} vs ${ref.sumSquares}`);
  if (!near(got.norm, ref.norm)) throw new Error(`${what}: norm ${got.norm} vs ${ref.norm}`);
  if (!near(got.clipScale, ref.clipScale)) throw new Error(`${what}: clipScale ${got.clipScale} vs ${ref.clipScale}`);
}

async function runGradNorm(
  device: GPUDevice,
  grads: Float32Array[],
  loss: number,
  clip: number,
  lossOffset = 8,
): Promise<StepStatus> {
  const buffers = grads.map((g) => upload(device, g));
  const lossValues = new Float32Array(lossOffset / 4 + 3).fill(Number.NaN); // NaN around: reads must hit the offset
  lossValues[lossOffset / 4] = loss;
  const lossBuffer = upload(device, lossValues);
  const status = zeros(device, 16);
  await run(device, (encoder) =>
    gradNorm(device, encoder, {
      grads: buffers.map((buffer, i) => ({ buffer, count: grads[i].length })),
      loss: lossBuffer,
      lossOffset,
      clip,
      status,
    }),
  );
  const result = await readStatus(device, status);
  for (const b of [...buffers, lossBuffer, status]) b.destroy();
  return result;
}

const shapes: number[][] = [
  [1],
  [0, 5],
  [GRAD_NORM_BLOCK - 1, GRAD_NORM_BLOCK, GRAD_NORM_BLOCK + 1],
  [64 * 4, 4 * 64, 1024 * 8, 8 * 1024],
  [1024 * 256, 256 * 1024, 7],
  [1200 * 1024], // > 256 partials: the finishing workgroup loops
];

describe('gradNorm', () => {
  it.each(shapes.map((counts, i) => ({ counts, i })))('matches the reference: counts $counts', async ({ counts, i }) => {
    const device = await getTestDevice();
    const rng = new TestRng(10 + i);
    const grads = counts.map((n) => rng.normals(n, rng.pick([1e-3, 1, 10])));
    for (const clip of [0, 1, 1e6, 1e-2]) {
      const got = await runGradNorm(device, grads, 2.5, clip, 4 * i);
      expectStatus(`counts ${counts} clip ${clip}`, got, refGradNorm(grads, 2.5, clip));
    }
  });

  it('clipScale is min(1, clip/(norm + 1e-6)) and 1 without clipping', async () => {
    const device = await getTestDevice();
    const g = new Float32Array([3, 4]); // norm 5
    expectStatus('clip 1', await runGradNorm(device, [g], 1, 1), { sumSquares: 25, norm: 5, clipScale: 1 / (5 + 1e-6), skip: false });
    expectStatus('clip 10', await runGradNorm(device, [g], 1, 10), { sumSquares: 25, norm: 5, clipScale: 1, skip: false });
    expectStatus('clip 0', await runGradNorm(device, [g], 1, 0), { sumSquares: 25, norm: 5, clipScale: 1, skip: false });
  });

  it('skips on a NaN or ±Inf gradient element anywhere, a non-finite loss, or an overflowing Σg²', async () => {
    const device = await getTestDevice();
    const rng = new TestRng(77);
    const counts = [300, 5000, 9];
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      for (let t = 0; t < 3; t++) {
        const grads = counts.map((n) => rng.normals(n));
        const which = rng.int(0, counts.length - 1);
        grads[which][rng.int(0, counts[which] - 1)] = bad;
        const got = await runGradNorm(device, grads, 1.5, 1);
        expect(got.skip, `gradient ${bad}`).toBe(1);
        expect(got.clipScale).toBe(1);
      }
      const grads = counts.map((n) => rng.normals(n));
      expect((await runGradNorm(device, grads, bad, 1)).skip, `loss ${bad}`).toBe(1);
      expect((await runGradNorm(device, grads, 1.5, 1)).skip, 'finite').toBe(0);
    }
    const huge = new Float32Array(10).fill(1e20); // Σg² = 1e41 overflows float32
    const ref = refGradNorm([huge], 1, 1);
    expect(ref.skip).toBe(true);
    expect((await runGradNorm(device, [huge], 1, 1)).skip).toBe(1);
    // Large but representable values do not skip: 1e18² · 10 = 1e37.
    const big = new Float32Array(10).fill(1e18);
    expectStatus('big', await runGradNorm(device, [big], 1, 1), refGradNorm([big], 1, 1));
  });

  it('is deterministic and handles an empty gradient list', async () => {
    const device = await getTestDevice();
    const rng = new TestRng(8);
    const grads = [rng.normals(100000), rng.normals(333)];
    const a = await runGradNorm(device, grads, 1, 1);
    const b = await runGradNorm(device, grads, 1, 1);
    expect(a).toEqual(b);
    expectStatus('empty', await runGradNorm(device, [], 1, 1), { sumSquares: 0, norm: 0, clipScale: 1, skip: false });
    expect(uncapturedErrors).toEqual([]);
  });

  it('writes exactly the 16-byte status layout { f32 sumSquares, f32 norm, f32 clipScale, u32 skip }', async () => {
    const device = await getTestDevice();
    const g = upload(device, new Float32Array([3, 4]));
    const loss = upload(device, new Float32Array([1]));
    const status = upload(device, new Float32Array(8).fill(7));
    await run(device, (encoder) => gradNorm(device, encoder, { grads: [{ buffer: g, count: 2 }], loss, lossOffset: 0, clip: 0, status }));
    const bytes = await readBytes(device, status);
    expectSameBits('status', new Float32Array(bytes), new Float32Array([25, 5, 1, 0, 7, 7, 7, 7]));
  });
});
