/**
 * An AdaLink adapter's image side put into a package's vision graph, so that the graph itself gives the adapted
 * image tokens Ẽ = E + (E·Wdown)·Wup (docs/FORMATS.md, "The merged model"; mergedModel.ts makes the package).
 *
 * - **folded**: where the graph's image tokens come out of a linear layer with constant weights, E = h·P + b
 *   (MatMul + Add, a bare MatMul, or Gemm), Ẽ = E·M = h·(P·M) + b·M with M = I + Wdown·Wup: the layer's weight and
 *   bias are replaced by P·M and b·M, computed here as P + (P·Wdown)·Wup (float64 sums, one rounding to float32).
 *   The graph keeps its nodes: no cost at inference. The project's own ViT ends so (tiny-pali-test,
 *   pali-scenes-default: `MatMul(layer_norm, proj) + bias`, the float16-stored weights behind a Cast).
 * - **appended**: where it ends otherwise (Florence-2: the projection, then LayerNorm `image_proj_norm`), the
 *   adapter itself follows the graph's output: `x + (x·Wdown)·Wup` as MatMul, MatMul, Add with the adapter's
 *   weights as initializers — exact, at the cost of two rank-r products per image token.
 */
import { FormatError, shorten } from '../errors.ts';
import type { OnnxGraph, OnnxModel, OnnxNode, OnnxTensor } from './onnxModel.ts';
import { numberFromHalf } from './half.ts';

/** One modality's adapter: Wdown [d, rank] and Wup [rank, d], row-major. */
export interface AdapterMatrices {
  rank: number;
  wdown: Float32Array;
  wup: Float32Array;
}

/** What was done to the vision graph, in words for the merged package's note. */
export interface VisionMerge {
  kind: 'folded' | 'appended';
  /** The nodes changed (folded) or added after (appended). */
  nodes: string[];
  /** One sentence: what was put where (and, appended, why it could not be folded). */
  description: string;
}

/**
 * rows (n × d, row-major) adapted: each row e → e + (e·Wdown)·Wup, summed in float64 and rounded once to float32.
 * Used for the text embedding table, a linear layer's weight (the rows of P) and its bias.
 */
export function adaptRows(rows: ArrayLike<number>, d: number, w: AdapterMatrices): Float32Array {
  const r = w.rank;
  const n = rows.length / d;
  if (!Number.isInteger(n) || w.wdown.length !== d * r || w.wup.length !== r * d) throw new RangeError(`adaptRows: ${rows.length} values are not rows of ${d}, or the adapter is not ${d}×${r}`);
  const out = new Float32Array(rows.length);
  const h = new Float64Array(r);
  const acc = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const at = i * d;
    h.fill(0);
    for (let k = 0; k < d; k++) {
      const e = rows[at + k];
      acc[k] = e;
      if (e === 0) continue;
      for (let j = 0, wk = k * r; j < r; j++) h[j] += e * w.wdown[wk + j];
    }
    for (let j = 0; j < r; j++) {
      const hj = h[j];
      if (hj === 0) continue;
      for (let c = 0, wj = j * d; c < d; c++) acc[c] += hj * w.wup[wj + c];
    }
    for (let c = 0; c < d; c++) out[at + c] = acc[c];
  }
  return out;
}

/**
 * Puts the image adapter into the vision graph whose image tokens are the tensor `output` (d wide): folded into
 * its last linear layer where that is one with constant weights, appended after it otherwise. Changes `model`.
 */
export function mergeImageAdapter(model: OnnxModel, output: string, d: number, w: AdapterMatrices, where: string): VisionMerge {
  const graph = model.graph;
  if (!graph.outputs.some((o) => o.name === output)) {
    throw new FormatError(`the vision graph has no output "${shorten(output)}" (manifest files.vision.outputs.image_embeds)`, where,
      'The package and its manifest.json disagree: re-export the package.');
  }
  const plan = foldPlan(graph, output, d);
  if ('reason' in plan) return appendAdapter(graph, output, d, w, plan.reason);

  const { layer, weight, transposed, bias } = plan;
  const names = new Names(graph);
  const rows = transposed ? transpose(weight.values, weight.dims[0], weight.dims[1]) : weight.values;
  const folded = adaptRows(rows, d, w);
  const weightName = names.fresh(`${output}.adalink_merged_weight`);
  graph.initializers.push({ name: weightName, dataType: 'float32', dims: [...weight.dims], values: transposed ? transpose(folded, weight.dims[1], weight.dims[0]) : folded });
  const replaced = [layer.matmul.inputs[1], ...(bias ? [bias.node.inputs[bias.index]] : [])];
  layer.matmul.inputs[1] = weightName;
  const changed = [layer.matmul.name || layer.matmul.opType];
  if (bias) {
    const biasName = names.fresh(`${output}.adalink_merged_bias`);
    graph.initializers.push({ name: biasName, dataType: 'float32', dims: [...bias.dims], values: adaptRows(bias.values, d, w) });
    bias.node.inputs[bias.index] = biasName;
    if (bias.node !== layer.matmul) changed.push(bias.node.name || bias.node.opType);
  }
  removeUnused(graph, [...weight.chain, ...(bias?.chain ?? [])], replaced);
  const wasHalf = weight.half ? ' (its float16 weights, behind a Cast, are float32 now)' : '';
  return {
    kind: 'folded', nodes: changed,
    description: `folded into the vision graph's last linear layer (${changed.map((n) => `"${n}"`).join(' + ')})${wasHalf}: `
      + `its weight P and bias b became P·M and b·M, M = I + Wdown·Wup (rank ${w.rank}) — no extra work at inference`,
  };
}

interface Constant {
  values: Float32Array;
  dims: number[];
  /** Nodes between the initializer and its use (Cast, Identity, Constant), removed when nothing else reads them. */
  chain: OnnxNode[];
  half: boolean;
}

type FoldPlan = {
  layer: { matmul: OnnxNode };
  weight: Constant;
  /** Gemm with transB = 1: the weight is stored as Pᵀ [d, d_in]. */
  transposed: boolean;
  bias?: Constant & { node: OnnxNode; index: number };
} | { reason: string };

/** The linear layer that makes `output`, with its constant weight and bias; or why there is none. */
function foldPlan(graph: OnnxGraph, output: string, d: number): FoldPlan {
  const producer = producerOf(graph, output);
  if (!producer) return { reason: `"${shorten(output)}" is not made by a node` };
  const ends = `the graph ends with ${producer.opType} "${shorten(producer.name || output)}"`;
  const reads = readers(graph);
  const onlyReadBy = (name: string, node: OnnxNode) => (reads.get(name) ?? []).every((n) => n === node) && !graph.outputs.some((o) => o.name === name);

  if (producer.opType === 'Gemm' && !producer.domain) {
    const attr = (name: string) => producer.attributes[name]?.value as number | undefined;
    const transposed = attr('transB') === 1;
    const weight = constantOf(graph, producer.inputs[1]);
    if (!weight || weight.dims.length !== 2 || weight.dims[transposed ? 0 : 1] !== d) return { reason: `${ends}, whose weight is not a constant ${d}-wide matrix` };
    const biasConstant = producer.inputs[2] ? constantOf(graph, producer.inputs[2]) : undefined;
    if (producer.inputs[2] && (!biasConstant || biasConstant.dims.at(-1) !== d)) return { reason: `${ends}, whose bias is not a constant ${d}-wide vector` };
    return { layer: { matmul: producer }, weight, transposed, bias: biasConstant && { ...biasConstant, node: producer, index: 2 } };
  }
  let matmul = producer;
  let bias: (Constant & { node: OnnxNode; index: number }) | undefined;
  if (producer.opType === 'Add' && !producer.domain) {
    const index = producer.inputs.findIndex((name) => constantOf(graph, name));
    const constant = index >= 0 ? constantOf(graph, producer.inputs[index]) : undefined;
    const other = producerOf(graph, producer.inputs[1 - index]);
    if (!constant || !other) return { reason: `${ends}, which is not a linear layer's bias added to its product` };
    if (constant.dims.at(-1) !== d) return { reason: `${ends}, whose constant is not ${d} wide` };
    if (other.opType !== 'MatMul' || other.domain) return { reason: `${ends} of a ${other.opType} "${shorten(other.name)}", not a linear layer (MatMul)` };
    if (!onlyReadBy(other.outputs[0], producer)) return { reason: `${ends}, and its product "${shorten(other.outputs[0])}" is read elsewhere too` };
    matmul = other;
    bias = { ...constant, node: producer, index };
  }
  if (matmul.opType !== 'MatMul' || matmul.domain) return { reason: `${ends}, not a linear layer (MatMul or Gemm, with a bias or not)` };
  const weight = constantOf(graph, matmul.inputs[1]);
  if (!weight || weight.dims.length !== 2 || weight.dims[1] !== d || constantOf(graph, matmul.inputs[0])) {
    return { reason: `${ends}, a linear layer whose weight is not a constant [d_in, ${d}] matrix` };
  }
  return { layer: { matmul }, weight, transposed: false, bias };
}

/** The float value of `name` where it is a constant: an initializer (not a graph input), a Constant, or either behind Cast-to-float / Identity. */
function constantOf(graph: OnnxGraph, name: string, chain: OnnxNode[] = []): Constant | undefined {
  if (!name || graph.inputs.some((i) => i.name === name)) return undefined;
  const initializer = graph.initializers.find((t) => t.name === name);
  if (initializer) return floatsOf(initializer, chain);
  const node = producerOf(graph, name);
  if (!node || node.domain) return undefined;
  if (node.opType === 'Constant' && node.attributes.value?.type === 'tensor') return floatsOf(node.attributes.value.value, [...chain, node]);
  const castsToFloat = node.opType === 'Cast' && node.attributes.to?.type === 'int' && node.attributes.to.value === 1;
  if (castsToFloat || node.opType === 'Identity') return constantOf(graph, node.inputs[0], [...chain, node]);
  return undefined;
}

function floatsOf(tensor: OnnxTensor, chain: OnnxNode[]): Constant | undefined {
  const { dataType, dims, values } = tensor;
  if (!values) return undefined; // External data the caller did not resolve (mergedModel.ts reads manifest.weights).
  if (dataType === 'float32') return { values: values as Float32Array, dims, chain, half: false };
  if (dataType === 'float16') return { values: Float32Array.from(values as Uint16Array, numberFromHalf), dims, chain, half: true };
  if (dataType === 'float64') return { values: Float32Array.from(values as Float64Array), dims, chain, half: false };
  return undefined;
}

/** x + (x·Wdown)·Wup after the graph's output, which keeps its name (the old value is renamed). */
function appendAdapter(graph: OnnxGraph, output: string, d: number, w: AdapterMatrices, reason: string): VisionMerge {
  const names = new Names(graph);
  const frozen = names.fresh(`${output}_before_adalink`);
  for (const node of graph.nodes) {
    node.inputs = node.inputs.map((n) => (n === output ? frozen : n));
    node.outputs = node.outputs.map((n) => (n === output ? frozen : n));
  }
  const [wdown, wup, hidden, delta] = ['adalink_image_wdown', 'adalink_image_wup', 'adalink_image_hidden', 'adalink_image_delta'].map((n) => names.fresh(n));
  graph.initializers.push(
    { name: wdown, dataType: 'float32', dims: [d, w.rank], values: Float32Array.from(w.wdown) },
    { name: wup, dataType: 'float32', dims: [w.rank, d], values: Float32Array.from(w.wup) },
  );
  const node = (opType: string, name: string, inputs: string[], out: string): OnnxNode => ({ opType, domain: '', name: names.fresh(name), inputs, outputs: [out], attributes: {} });
  const added = [
    node('MatMul', 'adalink_image_down', [frozen, wdown], hidden),
    node('MatMul', 'adalink_image_up', [hidden, wup], delta),
    node('Add', 'adalink_image_add', [frozen, delta], output),
  ];
  graph.nodes.push(...added);
  return {
    kind: 'appended', nodes: added.map((n) => n.name),
    description: `appended after the vision graph's output, as x + (x·Wdown)·Wup (MatMul, MatMul, Add; rank ${w.rank}), `
      + `because it could not be folded: ${reason} — exact, at the cost of two rank-${w.rank} products per image token`,
  };
}

function producerOf(graph: OnnxGraph, name: string): OnnxNode | undefined {
  return graph.nodes.find((n) => n.outputs.includes(name));
}

/** The main graph's nodes reading each name (a node whose sub-graphs read it counts too). */
function readers(graph: OnnxGraph): Map<string, OnnxNode[]> {
  const map = new Map<string, OnnxNode[]>();
  for (const node of graph.nodes) {
    for (const name of new Set([...node.inputs, ...subgraphReads(node)])) map.set(name, [...(map.get(name) ?? []), node]);
  }
  return map;
}

function subgraphReads(node: OnnxNode): string[] {
  return Object.values(node.attributes).flatMap((a) => (a.type === 'graph'
    ? [...a.value.nodes.flatMap((n) => [...n.inputs, ...subgraphReads(n)])] : []));
}

/** Drops the nodes of `chain`, then the initializers they or the layer read before (`replaced`), where nothing reads them any more. */
function removeUnused(graph: OnnxGraph, chain: OnnxNode[], replaced: string[]): void {
  const candidates = new Set([...replaced, ...chain.flatMap((n) => n.inputs)]);
  const isOutput = (name: string) => graph.outputs.some((o) => o.name === name);
  for (;;) {
    const reads = readers(graph);
    const dead = chain.filter((n) => graph.nodes.includes(n) && n.outputs.every((o) => !reads.has(o) && !isOutput(o)));
    if (dead.length === 0) break;
    graph.nodes = graph.nodes.filter((n) => !dead.includes(n));
  }
  const reads = readers(graph);
  graph.initializers = graph.initializers.filter((t) => !candidates.has(t.name) || reads.has(t.name) || isOutput(t.name));
}

function transpose(values: Float32Array, rows: number, columns: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < columns; j++) out[j * rows + i] = values[i * columns + j];
  return out;
}

/** Names not yet used in the graph. */
class Names {
  private readonly used = new Set<string>();
  constructor(graph: OnnxGraph) {
    for (const n of graph.nodes) [n.name, ...n.inputs, ...n.outputs].forEach((x) => this.used.add(x));
    for (const t of graph.initializers) this.used.add(t.name);
    for (const v of [...graph.inputs, ...graph.outputs, ...graph.valueInfo]) this.used.add(v.name);
  }

  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }
}
