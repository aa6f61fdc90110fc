/**
 * One float32 copy of each frozen weight in a vjp session (issue 16, item 2).
 *
 * A vjp graph multiplies by a weight W twice: the forward by W, the backward by Wᵀ, written
 * `MatMul(dY, Transpose(W))` (PyTorch's export and src/autodiff/ alike; a tied output projection even reads
 * `Transpose(Transpose(E))`). ORT's constant folding turns every constant sub-expression into an initializer of
 * its own, so the session holds Cast(W) and Transpose(Cast(W)) in float32: for a float16 package, 4× the file's
 * bytes. This pass leaves nothing for the folding to copy:
 *
 *   MatMul(A[..., K], Transpose(W)) with W [N, K]  →  Reshape(Gemm(Reshape(A, [-1, K]), W, transB = 1), [...A[:-1], N])
 *                                                     (just Gemm(A, W, transB = 1) when A is known to be 2-D;
 *                                                     A's leading dims read by Shape → Slice → Concat when not static)
 *   Transpose(Transpose(x)) whose permutations cancel  →  x
 *
 * W is a constant weight: an initializer (not a graph input), or a Cast or Identity of one — how float16 weights
 * reach a float32 graph. Only the graph's own nodes are rewritten (not If branches); a Transpose anything else
 * still reads stays. Same products, summed by another kernel: results agree to float32 rounding (the test
 * compares both graphs in ORT).
 */
import type { OnnxGraph, OnnxModel, OnnxNode, OnnxTensor } from '../formats/onnxModel.ts';
import { nodeReads } from './evaluate.ts';
import { freshNames } from './graphNames.ts';

export interface WeightsOnceResult {
  model: OnnxModel;
  /** MatMuls now reading W through Gemm's transB, and Transpose pairs removed. */
  rewritten: { matMuls: number; transposePairs: number };
}

/** The Transpose's permutation (default: the dims reversed) for a value of the given rank. */
function permutation(node: OnnxNode, rank: number): number[] {
  const perm = node.attributes.perm;
  return perm?.type === 'ints' ? perm.value : Array.from({ length: rank }, (_, i) => rank - 1 - i);
}

export function weightsOnce(model: OnnxModel): WeightsOnceResult {
  const graph = model.graph;
  const opset = model.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 1;
  const graphInputs = new Set(graph.inputs.map((i) => i.name));
  const initializers = new Map(graph.initializers.filter((t) => !graphInputs.has(t.name)).map((t) => [t.name, t]));
  const producer = new Map<string, OnnxNode>();
  for (const node of graph.nodes) for (const o of node.outputs) if (o !== '') producer.set(o, node);
  const shapes = new Map([...graph.inputs, ...graph.valueInfo, ...graph.outputs].map((v) => [v.name, v.shape]));

  /** The dims of a constant weight (initializer, or Cast / Identity of one), or undefined if `name` is not one. */
  const weightDims = (name: string): number[] | undefined => {
    const init = initializers.get(name);
    if (init) return init.dims;
    const node = producer.get(name);
    return node && (node.opType === 'Cast' || node.opType === 'Identity') && node.domain === '' ? weightDims(node.inputs[0]) : undefined;
  };
  /** The value a Transpose∘Transpose pair gives back unchanged, if `name` is one. */
  const cancelledTranspose = (name: string): string | undefined => {
    const outer = producer.get(name);
    if (outer?.opType !== 'Transpose' || outer.domain !== '') return undefined;
    const inner = producer.get(outer.inputs[0]);
    if (inner?.opType !== 'Transpose' || inner.domain !== '') return undefined;
    const rank = shapes.get(inner.inputs[0])?.length ?? weightDims(inner.inputs[0])?.length;
    if (rank === undefined) return undefined;
    const p = permutation(inner, rank), q = permutation(outer, rank);
    return q.every((axis, i) => p[axis] === i) ? inner.inputs[0] : undefined;
  };

  const fresh = freshNames(graph);
  const added: OnnxTensor[] = [];
  const int64 = (base: string, values: number[]) => {
    const tensor: OnnxTensor = { name: fresh(base), dataType: 'int64', dims: [values.length], values: BigInt64Array.from(values.map(BigInt)) };
    added.push(tensor);
    return tensor.name;
  };

  const rewritten = { matMuls: 0, transposePairs: 0 };
  const nodes: OnnxNode[] = [];
  for (const node of graph.nodes) {
    if (node.domain !== '' || (node.opType !== 'MatMul' && node.opType !== 'Transpose')) {
      nodes.push(node);
      continue;
    }
    // Any input that is a cancelled pair reads the original value instead.
    const inputs = node.inputs.map((i) => {
      const original = cancelledTranspose(i);
      if (original !== undefined) rewritten.transposePairs++;
      return original ?? i;
    });
    const transpose = node.opType === 'MatMul' ? producer.get(inputs[1]) : undefined;
    const w = transpose?.opType === 'Transpose' && transpose.domain === '' ? transpose.inputs[0] : undefined;
    const dims = w === undefined ? undefined : weightDims(w);
    if (!transpose || w === undefined || dims?.length !== 2 || permutation(transpose, 2).join() !== '1,0') {
      nodes.push({ ...node, inputs });
      continue;
    }
    const [n, k] = dims;
    const a = inputs[0];
    const aShape = shapes.get(a);
    const y = node.outputs[0];
    const base = node.name || y;
    const gemm = (input: string, output: string): OnnxNode => ({
      opType: 'Gemm', domain: '', name: fresh(`${base}/gemm_transB`), inputs: [input, w], outputs: [output],
      attributes: { transB: { type: 'int', value: 1 } },
    });
    if (aShape?.length === 2) {
      nodes.push(gemm(a, y));
    } else if (opset < 10 && !aShape?.every((d) => typeof d === 'number')) {
      nodes.push({ ...node, inputs }); // Slice takes its bounds as inputs from opset 10 on.
      continue;
    } else {
      const flat = fresh(`${base}/a_2d`), product = fresh(`${base}/y_2d`);
      nodes.push({ opType: 'Reshape', domain: '', name: fresh(`${base}/flatten`), inputs: [a, int64(`${base}/flat_shape`, [-1, k])], outputs: [flat], attributes: {} });
      nodes.push(gemm(flat, product));
      let shape: string;
      if (aShape?.every((d): d is number => typeof d === 'number')) {
        shape = int64(`${base}/y_shape`, [...aShape.slice(0, -1), n]);
      } else {
        const aDims = fresh(`${base}/a_shape`), lead = fresh(`${base}/a_lead`);
        shape = fresh(`${base}/y_shape`);
        nodes.push({ opType: 'Shape', domain: '', name: fresh(`${base}/shape`), inputs: [a], outputs: [aDims], attributes: {} });
        nodes.push({ opType: 'Slice', domain: '', name: fresh(`${base}/lead`), inputs: [aDims, int64(`${base}/zero`, [0]), int64(`${base}/minus_one`, [-1])], outputs: [lead], attributes: {} });
        nodes.push({ opType: 'Concat', domain: '', name: fresh(`${base}/y_dims`), inputs: [lead, int64(`${base}/n`, [n])], outputs: [shape], attributes: { axis: { type: 'int', value: 0 } } });
      }
      nodes.push({ opType: 'Reshape', domain: '', name: fresh(`${base}/unflatten`), inputs: [product, shape], outputs: [y], attributes: {} });
    }
    rewritten.matMuls++;
  }
  return { model: { ...model, graph: withoutDeadTransposes({ ...graph, nodes, initializers: [...graph.initializers, ...added] }) }, rewritten };
}

/** Drops the Transpose nodes (of the top graph) that nothing reads any more, in rounds, as pairs unwind. */
function withoutDeadTransposes(graph: OnnxGraph): OnnxGraph {
  const outputs = new Set(graph.outputs.map((o) => o.name));
  let nodes = graph.nodes;
  for (;;) {
    const read = new Set(nodes.flatMap((n) => nodeReads(n)));
    const kept = nodes.filter((n) => n.opType !== 'Transpose' || n.domain !== '' || n.outputs.some((o) => read.has(o) || outputs.has(o)));
    if (kept.length === nodes.length) return { ...graph, nodes };
    nodes = kept;
  }
}
