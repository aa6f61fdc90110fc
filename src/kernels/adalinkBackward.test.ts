/**
 * AdaLink backward against the float64 reference.
 * Tolerance, per element: |gpu − ref| ≤ 1e-5 · Σ|terms| (Σ|terms| = the sum of the absolute values of
 * the products summed into that element; for dWdown it also carries dH's own rounding:
 * Σ_n |E[n,k]| · Σ|terms of dH[n,j]|). Masked rows must give exact zeros; all-masked → all-zero grads.
 * Determinism: two runs give the same bits.
 */
import { describe, expect, it } from 'vitest';
import { adalinkBackward, reductionChunks } from './adalinkBackward.ts';
import { dropoutKey } from './random.ts';
import { setTileOverride } from './tiledMatmul.ts';
import { expectClose, expectSameBits } from './testing/compare.ts';
import { poisoned, readF32, run, upload } from './testing/gpu.ts';
import { getTestDevice, uncapturedErrors } from './testing/nodeDevice.ts';
import { refAdalinkBackward, refDropoutMask } from './testing/reference.ts';
import { TestRng } from './testing/rng.ts';

const TOL = 1e-5;

type ValidKind = 'all' | 'random' | 'none' | 'prefix';

interface Case {
  N: number;
  d: number;
  r: number;
  p: number;
  scale: number;
  valid: ValidKind;
  /** Put NaN into G on masked rows (must not leak into the gradients). */
  nanPadding?: boolean;
}

const fixedCases: Case[] = [
  { N: 1, d: 8, r: 1, p: 0, scale: 1, valid: 'all' },
  { N: 7, d: 33, r: 4, p: 0.1, scale: 1, valid: 'random' },
  { N: 129, d: 64, r: 64, p: 0.5, scale: 1, valid: 'random' },
  { N: 1000, d: 40, r: 4, p: 0.1, scale: 1, valid: 'prefix' },
  { N: 300, d: 24, r: 256, p: 0.1, scale: 1, valid: 'random', nanPadding: true },
  { N: 9000, d: 8, r: 4, p: 0.1, scale: 1, valid: 'random' }, // 32 chunks of 288 rows
  { N: 24, d: 1024, r: 256, p: 0.1, scale: 1, valid: 'random' },
  { N: 6, d: 1024, r: 64, p: 0, scale: 1, valid: 'all' },
  { N: 65, d: 96, r: 16, p: 0.25, scale: 1e3, valid: 'random' },
  { N: 17, d: 1024, r: 4, p: 0.1, scale: 1e3, valid: 'all' },
  { N: 100, d: 50, r: 64, p: 0.1, scale: 1, valid: 'none' },
  { N: 33, d: 1024, r: 1, p: 0, scale: 1, valid: 'none', nanPadding: true },
];

function randomCases(count: number, seed: number): Case[] {
  const rng = new TestRng(seed);
  return Array.from({ length: count }, () => ({
    N: rng.int(1, 600),
    d: rng.int(1, 160),
    r: rng.pick([1, 2, 4, 15, 16, 17, 64, 100, 256]),
    p: rng.pick([0, 0, 0.1, 0.3]),
    scale: rng.pick([1, 1, 1e-3, 1e3]),
    valid: rng.pick(['all', 'random', 'prefix'] as const),
  }));
}

function makeValid(kind: ValidKind, N: number, rng: TestRng): Uint32Array {
  switch (kind) {
    case 'all':
      return new Uint32Array(N).fill(1);
    case 'none':
      return new Uint32Array(N);
    case 'random':
      return Uint32Array.from({ length: N }, () => (rng.next() < 0.7 ? 1 : 0));
    case 'prefix': {
      const cut = rng.int(0, N);
      return Uint32Array.from({ length: N }, (_, n) => (n < cut ? 1 : 0));
    }
  }
}

async function checkBackward(device: GPUDevice, c: Case, seed: number, usePass: boolean) {
  const { N, d, r, p, scale } = c;
  const rng = new TestRng(seed);
  const key = dropoutKey(seed, rng.int(0, 1000), rng.pick(['image', 'text'] as const));
  const E = rng.normals(N * d, scale);
  const G = rng.normals(N * d, scale * 1e-2);
  const Wup = rng.normals(r * d, scale);
  const valid = makeValid(c.valid, N, rng);
  if (c.nanPadding) for (let n = 0; n < N; n++) if (!valid[n]) G.fill(NaN, n * d, (n + 1) * d);
  // H as the forward leaves it: zeros where dropout dropped.
  const keep = refDropoutMask(key, p, N, r);
  const H = rng.normals(N * r, scale);
  for (let i = 0; i < N * r; i++) if (!keep[i]) H[i] = 0;

  const b = {
    E: upload(device, E),
    G: upload(device, G),
    valid: upload(device, valid),
    H: upload(device, H),
    Wup: upload(device, Wup),
    dWdown: poisoned(device, d * r),
    dWup: poisoned(device, r * d),
    dH: poisoned(device, N * r),
  };
  await run(device, (encoder) => {
    const params = { ...b, N, d, r, p, key };
    if (usePass) {
      const pass = encoder.beginComputePass();
      adalinkBackward(device, pass, params);
      pass.end();
    } else {
      adalinkBackward(device, encoder, params);
    }
  });
  const what = `N=${N} d=${d} r=${r} p=${p} scale=${scale} valid=${c.valid}`;
  const ref = refAdalinkBackward({ E, G, valid, H, Wup, N, d, r, p, key });
  const dWup = await readF32(device, b.dWup);
  const dH = await readF32(device, b.dH);
  const dWdown = await readF32(device, b.dWdown);
  expectClose(`dWup ${what}`, dWup, ref.dWup.value, (i) => TOL * ref.dWup.scale[i]);
  expectClose(`dH ${what}`, dH, ref.dH.value, (i) => TOL * ref.dH.scale[i]);
  expectClose(`dWdown ${what}`, dWdown, ref.dWdown.value, (i) => TOL * ref.dWdown.scale[i]);
  // Dropped or masked elements of dH are exact zeros (tolerance 0 there, as their Σ|terms| is 0); check
  // explicitly that the mask matches where rows are valid.
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < r; j++) {
      const i = n * r + j;
      if (valid[n] && !keep[i] && dH[i] !== 0) throw new Error(`${what}: dH[${i}] should be dropped`);
      if (!valid[n] && dH[i] !== 0) throw new Error(`${what}: dH[${i}] of a masked row is ${dH[i]}`);
    }
  }
  if (c.valid === 'none') {
    expect(dWup.every((x) => Object.is(x, 0))).toBe(true);
    expect(dWdown.every((x) => Object.is(x, 0))).toBe(true);
  }
  for (const buf of Object.values(b)) buf.destroy();
}

describe('adalinkBackward', () => {
  it('splits N into at most 32 chunks of ≥ 256 rows, multiples of 16', () => {
    expect(reductionChunks(0)).toEqual({ chunkRows: 256, chunks: 0 });
    expect(reductionChunks(1000)).toEqual({ chunkRows: 256, chunks: 4 });
    expect(reductionChunks(9000)).toEqual({ chunkRows: 288, chunks: 32 });
    for (const N of [1, 255, 256, 257, 8192, 8193, 100000, 1 << 20]) {
      const { chunkRows, chunks } = reductionChunks(N);
      expect(chunkRows % 16).toBe(0);
      expect(chunks).toBeLessThanOrEqual(32);
      expect(chunks * chunkRows).toBeGreaterThanOrEqual(N);
      expect((chunks - 1) * chunkRows).toBeLessThan(N);
    }
  });

  it.each(fixedCases)('matches the float64 reference: N=$N d=$d r=$r p=$p scale=$scale valid=$valid', async (c) => {
    const device = await getTestDevice();
    await checkBackward(device, c, 2000 + c.N + c.d * 3 + c.r * 5, false);
  });

  it('matches the reference on 10 random shapes (half encoded into a caller-owned pass)', async () => {
    const device = await getTestDevice();
    const cases = randomCases(10, 4242);
    for (let i = 0; i < cases.length; i++) await checkBackward(device, cases[i], 300 + i, i % 2 === 0);
  });

  it('k-sliced tiles (dH over slices of d, the partials over slices of each chunk) match the reference', async () => {
    const device = await getTestDevice();
    setTileOverride('adalinkHiddenGrad', () => ({ wgX: 16, wgY: 16, tm: 4, tn: 4, bk: 16, ks: 32 }));
    setTileOverride('maskedXtYChunkPartials', () => ({ wgX: 16, wgY: 16, tm: 4, tn: 4, bk: 16, ks: 64 }));
    try {
      const cases: Case[] = [
        { N: 700, d: 100, r: 20, p: 0.1, scale: 1, valid: 'random', nanPadding: true },
        { N: 9000, d: 8, r: 4, p: 0.1, scale: 1, valid: 'prefix' },
      ];
      for (let i = 0; i < cases.length; i++) await checkBackward(device, cases[i], 600 + i, i === 1);
    } finally {
      setTileOverride('adalinkHiddenGrad', undefined);
      setTileOverride('maskedXtYChunkPartials', undefined);
    }
  });

  it('is deterministic: the same inputs give the same bits', async () => {
    const device = await getTestDevice();
    const [N, d, r] = [2000, 48, 16];
    const rng = new TestRng(5);
    const inputs = {
      E: upload(device, rng.normals(N * d)),
      G: upload(device, rng.normals(N * d)),
      valid: upload(device, Uint32Array.from({ length: N }, () => (rng.next() < 0.8 ? 1 : 0))),
      H: upload(device, rng.normals(N * r)),
      Wup: upload(device, rng.normals(r * d)),
    };
    const outputs = [0, 1].map(() => ({ dWdown: poisoned(device, d * r), dWup: poisoned(device, r * d) }));
    for (const out of outputs) {
      await run(device, (encoder) =>
        adalinkBackward(device, encoder, { ...inputs, ...out, N, d, r, p: 0.1, key: 99 }),
      );
    }
    expectSameBits('dWup', await readF32(device, outputs[0].dWup), await readF32(device, outputs[1].dWup));
    expectSameBits('dWdown', await readF32(device, outputs[0].dWdown), await readF32(device, outputs[1].dWdown));
  });

  it('N = 0 writes zero gradients', async () => {
    const device = await getTestDevice();
    const [d, r] = [40, 8];
    const empty = upload(device, new Float32Array(0));
    const Wup = upload(device, new Float32Array(r * d).fill(1));
    const dWdown = poisoned(device, d * r);
    const dWup = poisoned(device, r * d);
    await run(device, (encoder) =>
      adalinkBackward(device, encoder, { E: empty, G: empty, valid: empty, H: empty, Wup, dWdown, dWup, N: 0, d, r, p: 0.1, key: 1 }),
    );
    expect((await readF32(device, dWdown)).every((x) => x === 0)).toBe(true);
    expect((await readF32(device, dWup)).every((x) => x === 0)).toBe(true);
    expect(uncapturedErrors).toEqual([]);
  });
});
