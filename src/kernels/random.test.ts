import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bindBuffers, getKernel, u32, uniformBuffer, type KernelSpec } from './common.ts';
import randomWgsl from './random.wgsl?raw';
import {
  dropoutKey,
  dropoutKeep,
  dropoutThreshold,
  hash32,
  initialWdown,
  normal,
  randU32,
  streamKey,
  uniform,
} from './random.ts';
import { readU32, run, zeros } from './testing/gpu.ts';
import { getTestDevice } from './testing/nodeDevice.ts';
import { TestRng } from './testing/rng.ts';

// An independent reference of hash32 in BigInt arithmetic (no Math.imul, no >>> tricks).
const M32 = (1n << 32n) - 1n;
function hash32Big(x0: number): number {
  let x = BigInt(x0) & M32;
  x ^= x >> 16n;
  x = (x * 0x7feb352dn) & M32;
  x ^= x >> 15n;
  x = (x * 0x846ca68bn) & M32;
  x ^= x >> 16n;
  return Number(x);
}

describe('TypeScript RNG (ENGINE.md §3)', () => {
  it('hash32 equals a BigInt implementation, including the u32 edge values', () => {
    const rng = new TestRng(1);
    const xs = [0, 1, 2, 0x7fffffff, 0x80000000, 0xffffffff, 0x12345678];
    for (let i = 0; i < 2000; i++) xs.push(rng.u32());
    for (const x of xs) expect(hash32(x)).toBe(hash32Big(x));
  });

  it('streamKey, randU32, uniform and normal follow their definitions', () => {
    const rng = new TestRng(2);
    for (let t = 0; t < 500; t++) {
      const seed = rng.u32();
      const stream = rng.pick([1, 2, 0x1000 + rng.int(0, 100), 0x20000000 + rng.int(0, 1e6)]);
      const key = streamKey(seed, stream);
      expect(key).toBe(hash32Big(Number((BigInt(hash32Big(seed)) ^ BigInt(stream)) & M32)));
      const i = rng.int(0, 2 ** 31 - 1);
      const r = randU32(key, i);
      expect(r).toBe(hash32Big(Number(BigInt(key) ^ BigInt(hash32Big(i)))));
      expect(uniform(key, i)).toBe((r + 0.5) / 2 ** 32);
      const u1 = (randU32(key, 2 * i) + 0.5) / 2 ** 32;
      const u2 = (randU32(key, 2 * i + 1) + 0.5) / 2 ** 32;
      expect(normal(key, i)).toBe(Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2));
    }
  });

  it('known values (regression guard; each also checked against the BigInt reference above)', () => {
    expect([0, 1, 2, 3, 0xffffffff].map(hash32)).toEqual([0, 1753845952, 3507691905, 1408362973, 1734902346]);
    expect(streamKey(7, 1)).toBe(2229265414);
  });

  it('uniform lies in (0, 1) and normal has mean 0, variance 1', () => {
    const key = streamKey(123, 1);
    let sum = 0;
    let sumSq = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const u = uniform(key, i);
      expect(u > 0 && u < 1).toBe(true);
      const z = normal(key, i);
      sum += z;
      sumSq += z * z;
    }
    expect(Math.abs(sum / n)).toBeLessThan(0.03); // 4σ of the mean is 4/sqrt(n) ≈ 0.028
    expect(Math.abs(sumSq / n - 1)).toBeLessThan(0.05);
  });

  it('dropout threshold and keep rule: keep iff randU32 ≥ p·2^32 (= ceil(p·2^32) on integers)', () => {
    expect(dropoutThreshold(0)).toBe(0);
    expect(dropoutThreshold(0.5)).toBe(2 ** 31);
    expect(dropoutThreshold(0.1)).toBe(Math.ceil(0.1 * 2 ** 32));
    expect(() => dropoutThreshold(1)).toThrow();
    const key = dropoutKey(5, 3, 'text');
    expect(key).toBe(streamKey(5, 0x20000000 + 2 * 3 + 1));
    expect(dropoutKey(5, 3, 'image')).toBe(streamKey(5, 0x20000000 + 6));
    let kept = 0;
    for (let i = 0; i < 10000; i++) {
      const keep = dropoutKeep(key, 0.1, i);
      expect(keep).toBe(randU32(key, i) >= dropoutThreshold(0.1));
      kept += keep ? 1 : 0;
    }
    expect(Math.abs(kept / 10000 - 0.9)).toBeLessThan(0.012); // 4σ ≈ 0.012
    for (let i = 0; i < 100; i++) expect(dropoutKeep(key, 0, i)).toBe(true);
  });

  it('initialWdown = float32(normal(streamKey(seed, 1|2), k·r + j) / sqrt(d))', () => {
    const d = 32;
    const r = 4;
    const w = initialWdown(7, 'text', d, r);
    const key = streamKey(7, 2);
    for (let k = 0; k < d; k++) {
      for (let j = 0; j < r; j++) expect(w[k * r + j]).toBe(Math.fround(normal(key, k * r + j) / Math.sqrt(d)));
    }
    expect(initialWdown(7, 'image', d, r)[0]).toBe(Math.fround(normal(streamKey(7, 1), 0) / Math.sqrt(d)));
  });

  const vectorsPath = resolve(__dirname, '../../tools/tests/random_vectors.json');
  it.skipIf(!existsSync(vectorsPath))('matches the Python twin (tools/tests/random_vectors.json)', () => {
    const v = JSON.parse(readFileSync(vectorsPath, 'utf8')) as Record<string, number | number[] | number[][]>;
    expect(hash32(0)).toBe(v['hash32(0)']);
    expect(hash32(1)).toBe(v['hash32(1)']);
    expect(hash32(0xdeadbeef)).toBe(v['hash32(0xdeadbeef)']);
    expect(hash32(0xffffffff)).toBe(v['hash32(0xffffffff)']);
    expect(streamKey(7, 1)).toBe(v['streamKey(7,1)']);
    expect(streamKey(7, 2)).toBe(v['streamKey(7,2)']);
    expect(randU32(streamKey(7, 1), 5)).toBe(v['randU32(streamKey(7,1),5)']);
    expect(uniform(streamKey(7, 1), 0)).toBe(v['uniform(streamKey(7,1),0)']);
    // normal goes through libm's log and cos (CPython vs V8): allow 1 ulp-ish, 1e-15 relative.
    const normals = v['normal(streamKey(7,1),0..7)'] as number[];
    normals.forEach((x, i) => expect(Math.abs(normal(streamKey(7, 1), i) - x)).toBeLessThanOrEqual(1e-15 * Math.abs(x)));
    expect(Math.abs(normal(streamKey(7, 1), 0) - (v['normal(streamKey(7,1),0)'] as number))).toBeLessThan(1e-15);
    expect(Array.from(initialWdown(7, 'image', 32, 8).subarray(0, 8))).toEqual(v['wdownImage(seed=7,d=32,r=8)[0:8] float32']);
    const key = dropoutKey(7, 3, 'text');
    expect(Array.from({ length: 16 }, (_, i) => (dropoutKeep(key, 0.5, i) ? 1 : 0))).toEqual(
      v['dropoutKeep(seed=7,step=3,text,n=4,r=4,p=0.5)'],
    );
    // Data order of epoch e: indices sorted by (randU32(streamKey(seed, 0x1000 + e), i), i).
    const orderKey = streamKey(7, 0x1000);
    const order = Array.from({ length: 32 }, (_, i) => i).sort(
      (a, b) => randU32(orderKey, a) - randU32(orderKey, b) || a - b,
    );
    expect(order).toEqual(v['epochOrder(seed=7,epoch=0,n=32)']);
  });
});

const RNG_TEST_WGSL = /* wgsl */ `
struct Params { key: u32, base: u32, count: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i >= params.count) { return; }
  out[2u * i] = randU32(params.key, params.base + i);
  out[2u * i + 1u] = hash32(params.base + i);
}
`;

describe('WGSL RNG', () => {
  it('randU32 and hash32 on the GPU equal the TypeScript values bit for bit', async () => {
    const device = await getTestDevice();
    const spec: KernelSpec = {
      name: 'randomTest.main',
      code: randomWgsl + RNG_TEST_WGSL,
      entryPoint: 'main',
      bindings: [
        [0, 'uniform'],
        [1, 'read_write'],
      ],
    };
    const kernel = getKernel(device, spec);
    const rng = new TestRng(3);
    const count = 4096;
    const cases = [
      { key: streamKey(7, 0x20000000), base: 0 },
      { key: 0, base: 0 },
      { key: 0xffffffff, base: 0xffffffff - count + 1 },
      { key: rng.u32(), base: 0x7fffffff - 100 },
      { key: rng.u32(), base: rng.u32() % (2 ** 32 - count) },
    ];
    for (const { key, base } of cases) {
      const out = zeros(device, count * 8);
      await run(device, (encoder) => {
        const pass = encoder.beginComputePass();
        pass.setPipeline(kernel.pipeline);
        pass.setBindGroup(
          0,
          bindBuffers(device, kernel, {
            0: uniformBuffer(device, 'p', [u32(key), u32(base), u32(count)]),
            1: out,
          }),
        );
        pass.dispatchWorkgroups(count / 64);
        pass.end();
      });
      const got = await readU32(device, out);
      for (let i = 0; i < count; i++) {
        if (got[2 * i] !== randU32(key, base + i) || got[2 * i + 1] !== hash32(base + i)) {
          throw new Error(`key ${key} i ${base + i}: gpu ${got[2 * i]}/${got[2 * i + 1]}`);
        }
      }
    }
  });
});
