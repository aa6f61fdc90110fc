/**
 * Each weight once (sharedWeights.ts): identical tensors of several graphs stored once in the weights file,
 * whatever their names; small ones left inline; offsets aligned; every graph read back with the file gives its
 * tensors as they were. The committed default package is stored this way (onnx.test.ts and defaultModel.test.ts
 * read and run it); here, the rule itself on graphs made for it.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PackageError } from '../errors.ts';
import { packagePaths, parseManifest } from './manifest.ts';
import { encodeOnnxModel, readOnnxModel } from './onnx.ts';
import type { OnnxModel, OnnxTensor } from './onnxModel.ts';
import { MIN_SHARED_BYTES, rawBytes, shareWeights, SHARED_WEIGHTS_FILE } from './sharedWeights.ts';

const floats = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed + i * 0.37));
const tensor = (name: string, values: Float32Array | Uint16Array, dims: number[]): OnnxTensor =>
  ({ name, dataType: values instanceof Float32Array ? 'float32' : 'float16', dims, values });

function graph(initializers: OnnxTensor[]): OnnxModel {
  return {
    irVersion: 8, opsets: [{ domain: '', version: 17 }], producerName: 'test', producerVersion: '', metadata: {},
    graph: {
      name: 'g',
      nodes: initializers.map((t, i) => ({ name: `n${i}`, opType: 'Identity', domain: '', inputs: [t.name], outputs: [`y${i}`], attributes: {} })),
      inputs: [], outputs: initializers.map((t, i) => ({ name: `y${i}`, dataType: t.dataType, shape: t.dims })), initializers, valueInfo: [],
    },
  };
}

describe('shareWeights', () => {
  it('stores a tensor held by several graphs once, under any name; keeps small ones inline; aligns offsets', () => {
    const big = floats(1000, 1);
    const other = floats(700, 2);
    const half = Uint16Array.from({ length: 600 }, (_, i) => i);
    const models = [
      graph([tensor('a.weight', big, [10, 100]), tensor('small', floats(8, 3), [8]), tensor('b', other, [700])]),
      graph([tensor('renamed', big.slice(), [10, 100]), tensor('same bytes, other dims', big.slice(), [100, 10]), tensor('h', half, [600])]),
      graph([tensor('twice', other.slice(), [700]), tensor('again', big.slice(), [10, 100])]),
    ];
    const before = models.map((m) => m.graph.initializers.map((t) => rawBytes(t)!.slice()));
    const shared = shareWeights(models);
    expect([shared.moved, shared.reused]).toEqual([7, 3]);
    // big, other, big as [100, 10] (another shape: another tensor), half: 4000 + 2800 + 4000 + 1200 bytes, each at a multiple of 64.
    const offsets = models.flatMap((m) => m.graph.initializers.flatMap((t) => (t.external ? [t.external.offset] : [])));
    expect(offsets).toEqual([0, 4032, 0, 6848, 10880, 4032, 0]);
    expect(shared.bytes.byteLength).toBe(10880 + 1200);
    expect(models[0].graph.initializers[1].values).toBeDefined(); // 32 bytes < MIN_SHARED_BYTES
    expect(MIN_SHARED_BYTES).toBe(1024);
    models.forEach((m, g) => {
      const back = readOnnxModel(encodeOnnxModel(m), { externalData: (location) => (location === SHARED_WEIGHTS_FILE ? shared.bytes : undefined) });
      expect(back.graph.initializers.map((t) => rawBytes(t))).toEqual(before[g]);
      expect(back.graph.initializers.map((t) => [t.name, t.dataType, t.dims])).toEqual(m.graph.initializers.map((t) => [t.name, t.dataType, t.dims]));
    });
  });

  it('gives the same file for the same graphs (a package rewritten twice does not change)', () => {
    const make = () => [graph([tensor('w', floats(512, 5), [512])]), graph([tensor('v', floats(512, 5), [512]), tensor('u', floats(300, 6), [300])])];
    expect(shareWeights(make()).bytes).toEqual(shareWeights(make()).bytes);
  });
});

describe('manifest.json "weights"', () => {
  const manifest = JSON.parse(readFileSync('public/models/pali-scenes-default/manifest.json', 'utf8')) as Record<string, unknown>;
  const parse = (weights: unknown) => parseManifest(JSON.stringify({ ...manifest, weights }), 'pkg');

  it('names a file beside manifest.json, which the package\'s download then holds', () => {
    expect(parse('weights.bin').weights).toBe('weights.bin');
    expect(packagePaths(parse('weights.bin'))).toContain('weights.bin');
    expect(packagePaths(parse(undefined))).not.toContain('weights.bin');
  });

  it('refuses a path out of the package, or no name', () => {
    for (const bad of ['../weights.bin', 'sub/weights.bin', '.hidden', '', 7]) expect(() => parse(bad), String(bad)).toThrow(PackageError);
  });
});
