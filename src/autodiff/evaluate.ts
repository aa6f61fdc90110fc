/**
 * The reference evaluator: runs an ONNX graph in float64 on the CPU, one node after another, so that a
 * graph transformation (specialise, vjp) can be checked against what the graph computed before, and so that
 * specialise can fold the integer shape arithmetic into constants.
 *
 * It follows the ONNX operator semantics of opsets 13–20 for the ops in src/autodiff/ops/ (elementwise math
 * and logic, reductions, normalisations, products, convolution, reshapes, layout moves, indexing, generators) and `If`,
 * whose chosen branch sees the values of the scopes around it. Only the nodes that the requested outputs
 * depend on are run. An op it does not know raises a PackageError naming the op and the node.
 */
import { PackageError } from '../errors.ts';
import type { OnnxGraph, OnnxNode, OnnxTensor } from '../formats/onnxModel.ts';
import { tensor64FromOnnx } from './ops/convert.ts';
import { convOps } from './ops/conv.ts';
import { elementwiseOps } from './ops/elementwise.ts';
import { generateOps } from './ops/generate.ts';
import { indexingOps } from './ops/indexing.ts';
import { layoutOps } from './ops/layout.ts';
import { matmulOps } from './ops/matmul.ts';
import { normalizeOps } from './ops/normalize.ts';
import { reduceOps } from './ops/reduce.ts';
import { reshapeOps } from './ops/reshape.ts';
import { attrGraph, nodeWhere, opError, type OpEvaluator } from './ops/tensor.ts';
import type { Tensor64 } from './values.ts';

export { onnxFromTensor64, tensor64FromOnnx } from './ops/convert.ts';

/** The opset the evaluator assumes when none is given: where the attribute-to-input moves are done. */
export const DEFAULT_OPSET = 17;

/** Every op the evaluator runs, by op type (default domain); `If` is handled by the graph walk below. */
export const OPS: Readonly<Record<string, OpEvaluator>> = {
  ...elementwiseOps, ...reduceOps, ...normalizeOps, ...matmulOps, ...reshapeOps, ...layoutOps, ...indexingOps, ...generateOps,
  ...convOps,
};

/** Whether the evaluator (and so the shape inference and folding) knows a node's op. */
export function isKnownOp(node: OnnxNode): boolean {
  return isDefaultDomain(node) && (node.opType === 'If' || node.opType in OPS);
}

export function isDefaultDomain(node: OnnxNode): boolean {
  return node.domain === '' || node.domain === 'ai.onnx';
}

export function unknownOpError(node: OnnxNode, who = 'the reference evaluator'): PackageError {
  return new PackageError(`operator ${node.domain ? `${node.domain}.` : ''}${node.opType} is not supported by ${who}`, nodeWhere(node),
    'Add the operator to src/autodiff/ops/ (and its shape rule to src/autodiff/shapes.ts), or export the graph without it.');
}

/** The names a sub-graph reads from the scopes around it: node inputs (at any depth) it does not define. */
export function outerReferences(graph: OnnxGraph): Set<string> {
  const defined = new Set<string>([...graph.inputs.map((i) => i.name), ...graph.initializers.map((t) => t.name)]);
  for (const node of graph.nodes) for (const o of node.outputs) defined.add(o);
  const references = new Set<string>();
  for (const node of graph.nodes) {
    for (const name of nodeReads(node)) if (name !== '' && !defined.has(name)) references.add(name);
  }
  return references;
}

/** The names a node reads: its inputs and what its sub-graphs read from outside them. */
export function nodeReads(node: OnnxNode): string[] {
  const reads = node.inputs.filter((name) => name !== '');
  for (const a of Object.values(node.attributes)) if (a.type === 'graph') reads.push(...outerReferences(a.value));
  return reads;
}

/**
 * Which of `nodes` (in topological order) the values `wanted` depend on, found walking back from them, and every
 * name those nodes read (sub-graphs' outer reads included) together with `wanted`.
 */
export function neededNodes(nodes: readonly OnnxNode[], wanted: Iterable<string>): { keep: boolean[]; needed: Set<string> } {
  const needed = new Set(wanted);
  const keep = new Array<boolean>(nodes.length).fill(false);
  for (let n = nodes.length - 1; n >= 0; n--) {
    if (!nodes[n].outputs.some((o) => needed.has(o))) continue;
    keep[n] = true;
    for (const name of nodeReads(nodes[n])) needed.add(name);
  }
  return { keep, needed };
}

/** The values visible from a graph: its own, then those of the scopes around it. */
type Lookup = (name: string) => Tensor64 | undefined;

/**
 * Runs `graph` on `feeds` and returns the named values (by default the graph's outputs; any value of the
 * graph may be asked for). A graph input not fed takes its initializer when it has one.
 */
export function evaluate(
  graph: OnnxGraph,
  feeds: Record<string, Tensor64>,
  options: { outputs?: string[]; opset?: number } = {},
): Record<string, Tensor64> {
  const opset = options.opset ?? DEFAULT_OPSET;
  const initializerNames = new Set(graph.initializers.map((t) => t.name));
  for (const input of graph.inputs) {
    const fed = feeds[input.name];
    if (fed === undefined) {
      if (initializerNames.has(input.name)) continue;
      throw new PackageError(`graph input "${input.name}" is not fed`, `graph "${graph.name}"`, 'Give every graph input a value.');
    }
    const shape = input.shape;
    if (shape && (shape.length !== fed.dims.length || shape.some((d, k) => typeof d === 'number' && d !== fed.dims[k]))) {
      throw new PackageError(`graph input "${input.name}" is declared [${shape.map((d) => d ?? '?').join(', ')}] and fed [${fed.dims.join(', ')}]`,
        `graph "${graph.name}"`, 'Feed a tensor of the declared shape.');
    }
  }
  const fedValues: Lookup = (name) => feeds[name];
  return runGraph(graph, fedValues, options.outputs ?? graph.outputs.map((o) => o.name), opset);
}

function runGraph(graph: OnnxGraph, outer: Lookup, wanted: string[], opset: number): Record<string, Tensor64> {
  const values = new Map<string, Tensor64>();
  const initializers = new Map<string, OnnxTensor>(graph.initializers.map((t) => [t.name, t]));
  const lookup: Lookup = (name) => {
    const own = values.get(name);
    if (own !== undefined) return own;
    const fromOuter = outer(name);
    if (fromOuter !== undefined) return fromOuter;
    const initializer = initializers.get(name);
    if (initializer === undefined) return undefined;
    const converted = tensor64FromOnnx(initializer);
    values.set(name, converted);
    return converted;
  };

  // Only the nodes the wanted values depend on.
  const run = neededNodes(graph.nodes, wanted).keep;

  graph.nodes.forEach((node, n) => {
    if (!run[n]) return;
    const inputs = node.inputs.map((name) => {
      if (name === '') return undefined;
      const value = lookup(name);
      if (value === undefined) throw opError(node, `input "${name}" has no value (not fed, no initializer, not computed before)`);
      return value;
    });
    const outputs = runNode(node, inputs, lookup, opset);
    node.outputs.forEach((name, k) => {
      if (name === '') return;
      const value = outputs[k];
      if (value === undefined) throw opError(node, `the evaluator gave no output ${k} ("${name}")`);
      values.set(name, value);
    });
  });

  const result: Record<string, Tensor64> = {};
  for (const name of wanted) {
    const value = lookup(name);
    if (value === undefined) throw new PackageError(`value "${name}" is not computed by the graph`, `graph "${graph.name}"`, 'Ask for a value the graph has.');
    result[name] = value;
  }
  return result;
}

function runNode(node: OnnxNode, inputs: Array<Tensor64 | undefined>, lookup: Lookup, opset: number): Tensor64[] {
  if (!isKnownOp(node)) throw unknownOpError(node);
  if (node.opType === 'If') {
    const condition = inputs[0];
    if (condition === undefined || condition.data.length !== 1) throw opError(node, 'If needs a condition of one element');
    const branch = attrGraph(node, condition.data[0] !== 0 ? 'then_branch' : 'else_branch');
    const outputs = runGraph(branch, lookup, branch.outputs.map((o) => o.name), opset);
    return branch.outputs.map((o) => outputs[o.name]);
  }
  return OPS[node.opType](inputs, node, opset);
}
