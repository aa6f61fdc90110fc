/**
 * Test helpers for the autodiff: small ONNX models written inline, their static value table taken from a run of
 * the float64 reference evaluator, and the check every gradient test makes — the gradients of buildVjp's graph
 * (evaluated in float64) against central finite differences of the forward graph, for a random linear
 * functional of its outputs as the loss:
 *
 *   L(x) = Σ_k Σ w_k ⊙ y_k(x),   dL/dx_i ≈ (L(x + h e_i) − L(x − h e_i)) / 2h,   h = 1e-6.
 *
 * The error reported per input is max_i |analytic_i − numeric_i| / max(max_i |numeric_i|, 1e-3).
 */
import type { OnnxDataType, OnnxModel, OnnxNode, OnnxTensor } from '../../formats/onnxModel.ts';
import { evaluate } from '../evaluate.ts';
import { type AttributeValue, attributeOf, floatValues, isFloat } from '../rules/emitter.ts';
import type { Tensor64, ValueTable } from '../values.ts';
import { buildVjp, gradientName } from '../vjp.ts';

/** A deterministic generator of uniform numbers in [0, 1) (mulberry32). */
export function randomSource(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform elements in [low, high). */
export function uniform(random: () => number, dims: number[], low = -1, high = 1, dataType: OnnxDataType = 'float64'): Tensor64 {
  const n = dims.reduce((a, b) => a * b, 1);
  return { dataType, dims, data: Float64Array.from({ length: n }, () => low + (high - low) * random()) };
}

export function tensor(dataType: OnnxDataType, dims: number[], values: readonly number[]): Tensor64 {
  return { dataType, dims, data: Float64Array.from(values) };
}

/** A Tensor64 as an initializer of its type. */
export function initializer(name: string, t: Tensor64): OnnxTensor {
  let values: OnnxTensor['values'];
  if (isFloat(t.dataType)) values = floatValues(t.dataType, Array.from(t.data));
  else if (t.dataType === 'int64') values = BigInt64Array.from(t.data, (x) => BigInt(x));
  else if (t.dataType === 'int32') values = Int32Array.from(t.data);
  else if (t.dataType === 'bool') values = Uint8Array.from(t.data);
  else throw new Error(`initializer: ${t.dataType}`);
  return { name, dataType: t.dataType, dims: [...t.dims], values };
}

export function node(opType: string, inputs: string[], outputs: string[], attributes: Record<string, AttributeValue> = {}, name = `${opType}_${outputs[0]}`): OnnxNode {
  return { opType, domain: '', name, inputs, outputs, attributes: Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, attributeOf(v)])) };
}

export interface TestGraph {
  nodes: OnnxNode[];
  /** Graph inputs with the values the test feeds. */
  inputs: Record<string, Tensor64>;
  /** Constants (weights, shapes, axes). */
  constants?: Record<string, Tensor64>;
  outputs: string[];
  opset?: number;
}

/** An OnnxModel of a test graph (its outputs typed from a run of the evaluator). */
export function modelOf(test: TestGraph): OnnxModel {
  const opset = test.opset ?? 18;
  const bare: OnnxModel = {
    irVersion: 9, opsets: [{ domain: '', version: opset }], producerName: 'autodiff test', producerVersion: '', metadata: {},
    graph: {
      name: 'test', nodes: test.nodes,
      initializers: Object.entries(test.constants ?? {}).map(([name, t]) => initializer(name, t)),
      inputs: Object.entries(test.inputs).map(([name, t]) => ({ name, dataType: t.dataType, shape: [...t.dims] })),
      outputs: [], valueInfo: [],
    },
  };
  const ran = evaluate(bare.graph, test.inputs, { outputs: test.outputs, opset });
  bare.graph.outputs = test.outputs.map((name) => ({ name, dataType: ran[name].dataType, shape: [...ran[name].dims] }));
  return bare;
}

export function opsetOf(model: OnnxModel): number {
  return model.opsets.find((o) => o.domain === '')?.version ?? 18;
}

/** Every value's static type, from one run of the evaluator on `feeds` (what specialise gives a real graph). */
export function staticValues(model: OnnxModel, feeds: Record<string, Tensor64>): ValueTable {
  const graph = model.graph;
  const names = [...graph.inputs.map((v) => v.name), ...graph.initializers.map((t) => t.name), ...graph.nodes.flatMap((n) => n.outputs).filter(Boolean)];
  const ran = evaluate(graph, feeds, { outputs: names, opset: opsetOf(model) });
  return new Map(names.map((name) => [name, { dataType: ran[name].dataType, shape: [...ran[name].dims] }]));
}

/** The model with `loss = Σ_k Σ w_k ⊙ y_k` over its float outputs appended (w_k constants drawn from `random`). */
export function withLinearLoss(model: OnnxModel, values: ValueTable, random: () => number, lossName = 'test_loss'): OnnxModel {
  const nodes: OnnxNode[] = [];
  const initializers: OnnxTensor[] = [];
  const terms: string[] = [];
  for (const output of model.graph.outputs) {
    const type = values.get(output.name)!;
    if (!isFloat(type.dataType)) continue;
    const weight = `${lossName}/w_${output.name}`;
    initializers.push(initializer(weight, uniform(random, type.shape, 0.5, 1.5, type.dataType)));
    nodes.push(node('Mul', [output.name, weight], [`${weight}_y`]));
    nodes.push(node('ReduceSum', [`${weight}_y`], [`${weight}_sum`], { keepdims: 0 }));
    terms.push(`${weight}_sum`);
  }
  let total = terms[0];
  terms.slice(1).forEach((t, k) => {
    const next = k === terms.length - 2 ? lossName : `${lossName}/partial${k}`;
    nodes.push(node('Add', [total, t], [next]));
    total = next;
  });
  if (terms.length === 1) nodes.push(node('Identity', [total], [lossName]));
  const dataType = values.get(model.graph.outputs[0].name)!.dataType;
  return {
    ...model,
    graph: {
      ...model.graph,
      nodes: [...model.graph.nodes, ...nodes],
      initializers: [...model.graph.initializers, ...initializers],
      outputs: [{ name: lossName, dataType, shape: [] }],
    },
  };
}

export interface GradientCheck {
  /** Per wrt input: max |analytic − numeric| / max(max |numeric|, 1e-3). */
  errors: Record<string, number>;
  worst: number;
  analytic: Record<string, Tensor64>;
  numeric: Record<string, Float64Array>;
  /** The vjp graph that was checked. */
  vjp: OnnxModel;
}

/** Central differences of a scalar output of `model` with respect to each element of the `wrt` feeds. */
export function finiteDifferences(model: OnnxModel, feeds: Record<string, Tensor64>, loss: string, wrt: string[], h = 1e-6): Record<string, Float64Array> {
  const opset = opsetOf(model);
  const lossAt = (changed: Record<string, Tensor64>) => evaluate(model.graph, changed, { outputs: [loss], opset })[loss].data[0];
  const result: Record<string, Float64Array> = {};
  for (const name of wrt) {
    const x = feeds[name];
    const out = new Float64Array(x.data.length);
    for (let i = 0; i < x.data.length; i++) {
      const plus = Float64Array.from(x.data);
      const minus = Float64Array.from(x.data);
      plus[i] += h;
      minus[i] -= h;
      out[i] = (lossAt({ ...feeds, [name]: { ...x, data: plus } }) - lossAt({ ...feeds, [name]: { ...x, data: minus } })) / (2 * h);
    }
    result[name] = out;
  }
  return result;
}

export function relativeError(analytic: ArrayLike<number>, numeric: ArrayLike<number>, floor = 1e-3): number {
  let scale = floor;
  for (let i = 0; i < numeric.length; i++) scale = Math.max(scale, Math.abs(numeric[i]));
  let worst = 0;
  for (let i = 0; i < numeric.length; i++) worst = Math.max(worst, Math.abs(analytic[i] - numeric[i]));
  return worst / scale;
}

/**
 * Builds the vjp of `model` (with the linear loss appended) for the `wrt` inputs, evaluates it in float64 and
 * compares with finite differences.
 */
export function checkGradients(model: OnnxModel, feeds: Record<string, Tensor64>, wrt: string[], seed = 1): GradientCheck {
  const random = randomSource(seed);
  const values = staticValues(model, feeds);
  const withLoss = withLinearLoss(model, values, random);
  const lossValues = staticValues(withLoss, feeds);
  const vjp = buildVjp(withLoss, lossValues, { loss: 'test_loss', wrt });
  const analytic = evaluate(vjp.graph, feeds, { opset: opsetOf(vjp) });
  const numeric = finiteDifferences(withLoss, feeds, 'test_loss', wrt);
  const errors: Record<string, number> = {};
  for (const w of wrt) {
    const a = analytic[gradientName(w)];
    if (a.dims.join() !== feeds[w].dims.join()) throw new Error(`grad of ${w} has dims [${a.dims}], expected [${feeds[w].dims}]`);
    errors[w] = relativeError(a.data, numeric[w]);
  }
  return { errors, worst: Math.max(0, ...Object.values(errors)), analytic, numeric, vjp };
}
