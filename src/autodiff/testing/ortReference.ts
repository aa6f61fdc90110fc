/**
 * Test helpers that hold the reference evaluator against onnxruntime-web: one-node ONNX models built in memory,
 * run through src/engine/onnxRuntime.ts (its WebGPU provider, on SwiftShader in Node; ORT places the nodes it
 * has no WebGPU kernel for on its CPU provider), and the comparison of ORT's float32 result with the
 * evaluator's float64 one.
 *
 * onnxRuntime.ts's hostTensor feeds float32 and int64 only, so an input of another type (bool, int32,
 * float64 …) enters as float32/int64 and a Cast node before the op gives it its type.
 */
import { expect } from 'vitest';
import { installNodeWebGpu } from '../../cli/nodeGpu.ts';
import { createSession, hostTensor, type OrtTensor } from '../../engine/onnxRuntime.ts';
import { DATA_TYPE_NUMBER, encodeOnnxModel } from '../../formats/onnx.ts';
import type { OnnxAttribute, OnnxDataType, OnnxModel, OnnxNode } from '../../formats/onnxModel.ts';
import { evaluate, onnxFromTensor64 } from '../evaluate.ts';
import type { Tensor64 } from '../values.ts';
import { randomSource } from './finiteDifferences.ts';

/** A deterministic generator of uniform numbers in [0, 1) (mulberry32; finiteDifferences.ts's). */
export const seeded = randomSource;

export const size = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** Floats uniform in [low, high), each exactly a float32 (so ORT and the evaluator read the same numbers). */
export function floats(random: () => number, dims: number[], low = -2, high = 2, dataType: OnnxDataType = 'float32'): Tensor64 {
  return { dataType, dims, data: Float64Array.from({ length: size(dims) }, () => Math.fround(low + (high - low) * random())) };
}

/** Integers uniform in [low, high]. */
export function ints(random: () => number, dims: number[], low: number, high: number, dataType: OnnxDataType = 'int64'): Tensor64 {
  return { dataType, dims, data: Float64Array.from({ length: size(dims) }, () => low + Math.floor((high - low + 1) * random())) };
}

/** A tensor of given elements. */
export function t64(dataType: OnnxDataType, dims: number[], values: ArrayLike<number>): Tensor64 {
  return { dataType, dims, data: Float64Array.from(values) };
}

export const int64s = (...values: number[]): Tensor64 => t64('int64', [values.length], values);
export const int64 = (value: number): Tensor64 => t64('int64', [], [value]);

/** Attribute constructors, to write nodes tersely. */
export const attr = {
  int: (value: number): OnnxAttribute => ({ type: 'int', value }),
  float: (value: number): OnnxAttribute => ({ type: 'float', value }),
  ints: (value: number[]): OnnxAttribute => ({ type: 'ints', value }),
  floats: (value: number[]): OnnxAttribute => ({ type: 'floats', value }),
  string: (value: string): OnnxAttribute => ({ type: 'string', value }),
};

/** One op applied to some inputs (undefined: an omitted optional input). */
export interface NodeCase {
  op: string;
  inputs: Array<Tensor64 | undefined>;
  attributes?: Record<string, OnnxAttribute>;
  /** How many outputs the node has (default 1). */
  outputs?: number;
  /** The default domain's opset (default 18). */
  opset?: number;
}

const FEEDABLE = new Set<OnnxDataType>(['float32', 'int64']);

/** A model with the case's node alone (plus the Casts that give inputs their types), and its feeds. */
export function oneNodeModel(c: NodeCase, outputTypes: OnnxDataType[]): { model: OnnxModel; feeds: Record<string, Tensor64>; node: OnnxNode } {
  const nodes: OnnxNode[] = [];
  const feeds: Record<string, Tensor64> = {};
  const inputs = c.inputs.map((t, k) => {
    if (t === undefined) return '';
    const name = `x${k}`;
    if (FEEDABLE.has(t.dataType)) {
      feeds[name] = t;
      return name;
    }
    const sourceType = t.dataType.startsWith('float') || t.dataType === 'bfloat16' ? 'float32' : 'int64';
    feeds[`${name}_fed`] = { ...t, dataType: sourceType };
    nodes.push({ opType: 'Cast', domain: '', name: `cast_${name}`, inputs: [`${name}_fed`], outputs: [name], attributes: { to: { type: 'int', value: DATA_TYPE_NUMBER[t.dataType] } } });
    return name;
  });
  const outputs = Array.from({ length: c.outputs ?? 1 }, (_, k) => `y${k}`);
  const node: OnnxNode = { opType: c.op, domain: '', name: `${c.op}_under_test`, inputs, outputs, attributes: c.attributes ?? {} };
  nodes.push(node);
  const model: OnnxModel = {
    irVersion: 9,
    opsets: [{ domain: '', version: c.opset ?? 18 }],
    producerName: 'adalink-autodiff-test',
    producerVersion: '',
    metadata: {},
    graph: {
      name: `one_${c.op}`,
      nodes,
      initializers: [],
      inputs: Object.entries(feeds).map(([name, t]) => ({ name, dataType: t.dataType, shape: [...t.dims] })),
      outputs: outputs.map((name, k) => ({ name, dataType: outputTypes[k] })),
      valueInfo: [],
    },
  };
  return { model, feeds, node };
}

/** An ORT output as a Tensor64. */
function fromOrt(t: OrtTensor): Tensor64 {
  const data = t.data as ArrayLike<number | bigint>;
  return { dataType: t.type as OnnxDataType, dims: [...t.dims], data: Float64Array.from({ length: data.length }, (_, i) => Number(data[i])) };
}

/**
 * The model with each graph input of a type hostTensor cannot feed (bool, int32 …) fed as int64/float32 under
 * `<name>_fed` and Cast to its type first thing; the feeds renamed to match.
 */
export function withFeedableInputs(model: OnnxModel, feeds: Record<string, Tensor64>): { model: OnnxModel; feeds: Record<string, Tensor64> } {
  const casts: OnnxNode[] = [];
  const renamed: Record<string, Tensor64> = { ...feeds };
  const inputs = model.graph.inputs.map((input) => {
    if (FEEDABLE.has(input.dataType)) return input;
    const sourceType: OnnxDataType = input.dataType.startsWith('float') || input.dataType === 'bfloat16' ? 'float32' : 'int64';
    const fed = `${input.name}_fed`;
    casts.push({ opType: 'Cast', domain: '', name: `cast_${fed}`, inputs: [fed], outputs: [input.name], attributes: { to: { type: 'int', value: DATA_TYPE_NUMBER[input.dataType] } } });
    const t = feeds[input.name];
    if (t !== undefined) {
      delete renamed[input.name];
      renamed[fed] = { ...t, dataType: sourceType };
    }
    return { ...input, name: fed, dataType: sourceType };
  });
  if (casts.length === 0) return { model, feeds };
  return { model: { ...model, graph: { ...model.graph, inputs, nodes: [...casts, ...model.graph.nodes] } }, feeds: renamed };
}

/**
 * Runs a model in onnxruntime-web (WebGPU provider) and returns the named outputs (all by default). Inputs
 * of types hostTensor cannot feed go in through withFeedableInputs.
 */
export async function runOrt(original: OnnxModel, originalFeeds: Record<string, Tensor64>, outputs?: string[]): Promise<Record<string, Tensor64>> {
  installNodeWebGpu();
  const { model, feeds } = withFeedableInputs(original, originalFeeds);
  const session = await createSession(encodeOnnxModel(model), `test model ${model.graph.name}`, { inputs: Object.keys(feeds), outputs: outputs ?? [] });
  try {
    const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([name, t]) => {
      if (t.dataType === 'float32') return [name, hostTensor('float32', Float32Array.from(t.data), t.dims)];
      // Through onnxFromTensor64, so that 2^63 (INT64_MAX read into a double) goes in as INT64_MAX.
      if (t.dataType === 'int64') return [name, hostTensor('int64', onnxFromTensor64(name, t).values as BigInt64Array, t.dims)];
      throw new Error(`ORT feeds are float32 or int64 here; "${name}" is ${t.dataType}`);
    }));
    const results = await session.run(ortFeeds);
    const names = outputs ?? session.outputNames;
    return Object.fromEntries(names.map((name) => [name, fromOrt(results[name])]));
  } finally {
    await session.release();
  }
}

/** Tolerance of a float comparison: |got − expected| ≤ absolute + relative·|expected|. */
export interface Tolerance {
  absolute: number;
  relative: number;
}

/** float32 arithmetic against float64: a few ulp of float32, and the GPU's approximate transcendentals. */
export const FLOAT32: Tolerance = { absolute: 2e-5, relative: 2e-5 };

/** The first element where `got` and `expected` differ beyond the tolerance (ints and bools exactly), or undefined. */
export function firstMismatch(got: Tensor64, expected: Tensor64, tolerance: Tolerance = FLOAT32): string | undefined {
  if (got.dataType !== expected.dataType) return `type ${got.dataType}, expected ${expected.dataType}`;
  if (got.dims.join() !== expected.dims.join()) return `dims [${got.dims.join(', ')}], expected [${expected.dims.join(', ')}]`;
  const exact = !got.dataType.startsWith('float') && got.dataType !== 'bfloat16';
  for (let i = 0; i < got.data.length; i++) {
    const [g, e] = [got.data[i], expected.data[i]];
    if (Number.isNaN(e) ? Number.isNaN(g) : g === e) continue;
    if (!exact && Number.isFinite(e) && Math.abs(g - e) <= tolerance.absolute + tolerance.relative * Math.abs(e)) continue;
    return `element ${i}: ${g}, expected ${e} (difference ${g - e})`;
  }
  return undefined;
}

export function expectClose(got: Tensor64, expected: Tensor64, tolerance: Tolerance = FLOAT32, what = ''): void {
  const mismatch = firstMismatch(got, expected, tolerance);
  expect(mismatch, `${what}${mismatch ?? ''}`).toBeUndefined();
}

/** The case's node run by the reference evaluator alone, on its typed inputs: its outputs in order. */
export function evaluateCase(c: NodeCase): Tensor64[] {
  const inputs = c.inputs.map((t, k) => (t === undefined ? '' : `x${k}`));
  const outputs = Array.from({ length: c.outputs ?? 1 }, (_, k) => `y${k}`);
  const node: OnnxNode = { opType: c.op, domain: '', name: `${c.op}_under_test`, inputs, outputs, attributes: c.attributes ?? {} };
  const feeds = Object.fromEntries(c.inputs.flatMap((t, k) => (t === undefined ? [] : [[`x${k}`, t]])));
  const result = evaluate({ name: 'case', nodes: [node], initializers: [], inputs: [], outputs: outputs.map((name) => ({ name, dataType: 'float32' })), valueInfo: [] },
    feeds, { opset: c.opset ?? 18 });
  return outputs.map((name) => result[name]);
}

/** The case in ORT against the evaluator: every output, within the tolerance (ints and bools exactly). */
export async function compareWithOrt(c: NodeCase, tolerance: Tolerance = FLOAT32, label = c.op): Promise<void> {
  const expected = evaluateCase(c);
  const { model, feeds } = oneNodeModel(c, expected.map((t) => t.dataType));
  const got = await runOrt(model, feeds);
  expected.forEach((e, k) => expectClose(got[`y${k}`], e, tolerance, `${label} output ${k}: `));
}
