/**
 * AdaLink forward (adalinkDown + adalinkUp) against the float64 reference.
 * Tolerance: |gpu − ref| ≤ 1e-5 · Σ|terms| per output element, where Σ|terms| = keep/(1−p)·Σ_k |E·Wdown|
 * for H and |E| + Σ_j |H·Wup| for Ẽ (f32 accumulation over K ≤ 1024 terms stays ~√K·2^-24 ≈ 2e-6 of it).
 * Dropout: the GPU's mask must equal the TS RNG's exactly (dropped ⇔ H exactly 0).
 */
import { describe, expect, it } from 'vitest';
import { adalinkDown } from './adalinkDown.ts';
import { adalinkForward } from './adalinkForward.ts';
import { adalinkUp } from './adalinkUp.ts';
import { dropoutKey } from './random.ts';
import { setTileOverride } from './tiledMatmul.ts';
import { expectClose } from './testing/compare.ts';
import { poisoned, readF32, run, upload } from './testing/gpu.ts';
import { getTestDevice, uncapturedErrors } from './testing/nodeDevice.ts';
import { refAdalinkDown, refAdalinkUp, refDropoutMask } from './testing/reference.ts';
import { TestRng } from './testing/rng.ts';

const TOL = 1e-5;

interface Case {
  N: number;
  d: number;
  r: number;
  p: number;
  /** Magnitude of E, Wdown and Wup entries. */
  scale: number;
}

const fixedCases: Case[] = [
  { N: 1, d: 8, r: 1, p: 0, scale: 1 },
  { N: 7, d: 33, r: 4, p: 0.1, scale: 1 },
  { N: 129, d: 64, r: 64, p: 0.5, scale: 1 },
  { N: 1000, d: 48, r: 4, p: 0.1, scale: 1 },
  { N: 300, d: 20, r: 256, p: 0.1, scale: 1 },
  { N: 20, d: 1024, r: 256, p: 0.1, scale: 1 },
  { N: 5, d: 1024, r: 64, p: 0, scale: 1 },
  { N: 33, d: 96, r: 16, p: 0.25, scale: 1e3 },
  { N: 17, d: 1024, r: 4, p: 0.1, scale: 1e3 },
];

function randomCases(count: number, seed: number): Case[] {
  const rng = new TestRng(seed);
  return Array.from({ length: count }, () => ({
    N: rng.int(1, 300),
    d: rng.int(1, 200),
    r: rng.pick([1, 2, 3, 4, 15, 16, 17, 64, 100, 256]),
    p: rng.pick([0, 0, 0.1, 0.3]),
    scale: rng.pick([1, 1, 1e-3, 1e3]),
  }));
}

async function checkForward(device: GPUDevice, c: Case, seed: number, usePass: boolean) {
  const { N, d, r, p, scale } = c;
  const rng = new TestRng(seed);
  const E = rng.normals(N * d, scale);
  const Wdown = rng.normals(d * r, scale / Math.sqrt(d));
  const Wup = rng.normals(r * d, scale);
  const key = dropoutKey(seed, rng.int(0, 1000), rng.pick(['image', 'text'] as const));
  const bufE = upload(device, E);
  const bufWdown = upload(device, Wdown);
  const bufWup = upload(device, Wup);
  const bufH = poisoned(device, N * r);
  const bufAdapted = poisoned(device, N * d);
  await run(device, (encoder) => {
    const params = { E: bufE, Wdown: bufWdown, Wup: bufWup, H: bufH, adapted: bufAdapted, N, d, r, p, key };
    if (usePass) {
      const pass = encoder.beginComputePass();
      adalinkForward(device, pass, params);
      pass.end();
    } else {
      adalinkForward(device, encoder, params);
    }
  });
  const H = await readF32(device, bufH);
  const adapted = await readF32(device, bufAdapted);
  const what = `N=${N} d=${d} r=${r} p=${p} scale=${scale}`;

  const keep = refDropoutMask(key, p, N, r);
  for (let i = 0; i < N * r; i++) {
    if ((H[i] !== 0) !== (keep[i] === 1)) {
      throw new Error(`${what}: dropout mask differs at ${i} (H=${H[i]}, keep=${keep[i]})`);
    }
  }
  const refH = refAdalinkDown(E, Wdown, N, d, r, p, key);
  expectClose(`H ${what}`, H, refH.value, (i) => TOL * refH.scale[i]);
  // Ẽ from the GPU's own H, so that this checks adalinkUp alone.
  const refUp = refAdalinkUp(E, H, Wup, N, d, r);
  expectClose(`adapted ${what}`, adapted, refUp.value, (i) => TOL * refUp.scale[i]);
  for (const b of [bufE, bufWdown, bufWup, bufH, bufAdapted]) b.destroy();
}

describe('adalinkForward', () => {
  it.each(fixedCases)('matches the float64 reference: N=$N d=$d r=$r p=$p scale=$scale', async (c) => {
    const device = await getTestDevice();
    await checkForward(device, c, 1000 + c.N * 7 + c.d + c.r, false);
  });

  it('matches the reference on 12 random shapes (half of them encoded into a caller-owned pass)', async () => {
    const device = await getTestDevice();
    const cases = randomCases(12, 42);
    for (let i = 0; i < cases.length; i++) await checkForward(device, cases[i], 77 + i, i % 2 === 1);
  });

  it('k-sliced tiles (partial sums over slices of d, then their sum with the dropout) match the reference', async () => {
    const device = await getTestDevice();
    setTileOverride('adalinkDown', () => ({ wgX: 16, wgY: 16, tm: 4, tn: 4, bk: 16, ks: 32 }));
    try {
      const cases: Case[] = [
        { N: 70, d: 100, r: 20, p: 0.1, scale: 1 },
        { N: 9, d: 1024, r: 64, p: 0, scale: 1 },
      ];
      for (let i = 0; i < cases.length; i++) await checkForward(device, cases[i], 500 + i, i === 1);
    } finally {
      setTileOverride('adalinkDown', undefined);
    }
  });

  it('p = 0 keeps every element and a changed key changes the mask', async () => {
    const device = await getTestDevice();
    const N = 64;
    const d = 16;
    const r = 16;
    const rng = new TestRng(9);
    const E = upload(device, rng.normals(N * d));
    const Wdown = upload(device, rng.normals(d * r));
    const H1 = poisoned(device, N * r);
    const H2 = poisoned(device, N * r);
    const H0 = poisoned(device, N * r);
    await run(device, (encoder) => {
      adalinkDown(device, encoder, { E, Wdown, H: H1, N, d, r, p: 0.5, key: dropoutKey(1, 0, 'image') });
      adalinkDown(device, encoder, { E, Wdown, H: H2, N, d, r, p: 0.5, key: dropoutKey(1, 1, 'image') });
      adalinkDown(device, encoder, { E, Wdown, H: H0, N, d, r, p: 0, key: 123 });
    });
    const [h1, h2, h0] = await Promise.all([readF32(device, H1), readF32(device, H2), readF32(device, H0)]);
    expect(h0.every((x) => x !== 0)).toBe(true);
    const zeros1 = h1.filter((x) => x === 0).length;
    expect(zeros1).toBeGreaterThan(N * r * 0.4);
    expect(zeros1).toBeLessThan(N * r * 0.6);
    let differ = 0;
    for (let i = 0; i < N * r; i++) if ((h1[i] === 0) !== (h2[i] === 0)) differ++;
    expect(differ).toBeGreaterThan(N * r * 0.3);
    // Kept elements of H1 are exactly (up to rounding of the f32 scale 1/(1−p) = 2) twice those of H0.
    for (let i = 0; i < N * r; i++) if (h1[i] !== 0) expect(h1[i]).toBe(h0[i] * 2);
  });

  it('N = 0 encodes nothing and validates sizes', async () => {
    const device = await getTestDevice();
    const empty = upload(device, new Float32Array(0));
    const W = upload(device, new Float32Array(8 * 4));
    await run(device, (encoder) => {
      adalinkForward(device, encoder, { E: empty, Wdown: W, Wup: W, H: empty, adapted: empty, N: 0, d: 8, r: 4, p: 0.1, key: 1 });
    });
    const small = upload(device, new Float32Array(10));
    const big = upload(device, new Float32Array(3 * 8));
    const encoder = device.createCommandEncoder();
    expect(() => adalinkUp(device, encoder, { E: big, H: big, Wup: W, adapted: small, N: 3, d: 8, r: 4 })).toThrow(
      /adapted: buffer of 40 bytes is too small, needs 96/,
    );
    expect(() => adalinkUp(device, encoder, { E: big, H: big, Wup: W, adapted: big, N: 3, d: 8, r: 4 })).toThrow(
      /other than E/,
    );
    expect(uncapturedErrors).toEqual([]);
  });
});
