/**
 * Reverse-mode autodiff of an ONNX graph: buildVjp appends to a specialised forward graph (static shapes,
 * src/autodiff/specialise.ts) the nodes that compute dLoss/d(wrt) for some of its inputs, as standard ONNX ops.
 *
 *   1. activity: a value needs a gradient when it depends on a wrt input (forward sweep) and the loss depends on
 *      it through float values (backward sweep); integer and bool values never do;
 *   2. reverse sweep: from dLoss = 1, each node with a gradient on an output and an active input calls its rule
 *      (src/autodiff/rules/), which writes the vector-Jacobian product of that op; a value used by several
 *      nodes gets the sum of their contributions (Add);
 *   3. the result: outputs `loss`, `grad_<name>` per wrt input (zeros when the loss does not depend on it), then
 *      the `keep` values; nodes and initializers no output needs are dropped.
 *
 * Gradient values and nodes are named under a prefix no forward name has (`vjp/` unless taken).
 */
import type { OnnxGraph, OnnxModel, OnnxNode, OnnxTensor, OnnxValueInfo } from '../formats/onnxModel.ts';
import { PackageError, shorten } from '../errors.ts';
import type { StaticValue, ValueTable } from './values.ts';
import { Emitter, floatValues, isFloat, product } from './rules/emitter.ts';
import { RULES } from './rules/index.ts';
import { neededNodes } from './evaluate.ts';
import { type GraphFacts, NodeGradient } from './rules/rule.ts';

export interface VjpRequest {
  /** The scalar to differentiate (one element). */
  loss: string;
  /** Graph inputs (or initializers) whose gradients the graph returns, as `grad_<name>`. */
  wrt: string[];
  /** Forward values to return too, after the gradients. */
  keep?: string[];
  /** Values treated as constants, as torch's .detach(): no gradient flows through them. */
  detach?: string[];
}

/** The opset from which ReduceSum takes its axes as an input, which the rules write. */
export const MIN_OPSET = 13;

export const gradientName = (name: string): string => `grad_${name}`;

/** Elements of a tensor as numbers (int64 through Number: shapes, axes and indices fit). */
function tensorNumbers(tensor: OnnxTensor): number[] | undefined {
  const v = tensor.values;
  if (!v || Array.isArray(v)) return undefined;
  if (tensor.dataType === 'float16' || tensor.dataType === 'bfloat16') return undefined;
  return Array.from(v as ArrayLike<number | bigint>, Number);
}

/** Static types and constants of a graph, for the rules. */
function graphFacts(graph: OnnxGraph, values: ValueTable): GraphFacts {
  const constants = new Map<string, OnnxTensor>(graph.initializers.map((t) => [t.name, t]));
  for (const node of graph.nodes) {
    const value = node.attributes.value;
    if (node.opType === 'Constant' && value?.type === 'tensor') constants.set(node.outputs[0], value.value);
  }
  return {
    typeOf(name: string): StaticValue {
      const type = values.get(name);
      if (!type) {
        throw new PackageError(`no static type for value "${shorten(name)}"`, `graph "${graph.name}"`,
          'Specialise the graph first (src/autodiff/specialise.ts gives every value a static shape).');
      }
      return type;
    },
    constantOf(name: string): number[] | undefined {
      const tensor = constants.get(name);
      return tensor ? tensorNumbers(tensor) : undefined;
    },
  };
}

/** A prefix that no name of the graph starts with. */
function freshPrefix(graph: OnnxGraph): string {
  const names = new Set<string>([
    ...graph.inputs.map((v) => v.name), ...graph.initializers.map((t) => t.name),
    ...graph.nodes.flatMap((n) => [n.name, ...n.outputs]),
  ]);
  for (let k = 0; ; k++) {
    const prefix = k ? `vjp${k}/` : 'vjp/';
    if (![...names].some((n) => n.startsWith(prefix))) return prefix;
  }
}

/** Nodes and initializers that the outputs need (graph inputs are all kept, so the feeds stay the same). */
function withoutDeadCode(graph: OnnxGraph): OnnxGraph {
  const { keep, needed } = neededNodes(graph.nodes, graph.outputs.map((o) => o.name));
  return {
    ...graph,
    nodes: graph.nodes.filter((_, n) => keep[n]),
    initializers: graph.initializers.filter((t) => needed.has(t.name)),
    valueInfo: graph.valueInfo.filter((v) => needed.has(v.name)),
  };
}

/**
 * The forward graph with its backward pass appended: outputs `loss`, `grad_<w>` for each w in `wrt` (w's shape
 * and type), then `keep`. `values` is the ValueTable of the specialised graph.
 */
export function buildVjp(model: OnnxModel, values: ValueTable, request: VjpRequest): OnnxModel {
  const graph = model.graph;
  const where = `graph "${shorten(graph.name)}"`;
  const opset = model.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0;
  if (opset < MIN_OPSET) {
    throw new PackageError(`the graph's opset is ${opset}; the gradient rules need opset ${MIN_OPSET} or later`, where,
      `Re-export the model with opset ${MIN_OPSET} or later (torch.onnx.export(opset_version=…)).`);
  }
  const facts = graphFacts(graph, values);

  // ---- the request ----------------------------------------------------------------------------
  const lossType = facts.typeOf(request.loss);
  if (!isFloat(lossType.dataType) || product(lossType.shape) !== 1) {
    throw new PackageError(`the loss "${shorten(request.loss)}" is ${lossType.dataType} [${lossType.shape}], not a float scalar`, where,
      'Differentiate a scalar: reduce the loss (ReduceSum or ReduceMean) to one element first.');
  }
  const inputs = new Set([...graph.inputs.map((v) => v.name), ...graph.initializers.map((t) => t.name)]);
  for (const w of request.wrt) {
    if (!inputs.has(w)) {
      throw new PackageError(`"${shorten(w)}" is not an input or initializer of the graph`, where,
        `Differentiate with respect to graph inputs (it has ${shorten(graph.inputs.map((v) => v.name).join(', '))}).`);
    }
    if (!isFloat(facts.typeOf(w).dataType)) {
      throw new PackageError(`"${shorten(w)}" is ${facts.typeOf(w).dataType}: only float inputs have gradients`, where,
        'Differentiate with respect to float inputs (embeddings), not ids or masks.');
    }
  }
  const repeated = request.wrt.find((w, k) => request.wrt.indexOf(w) !== k);
  if (repeated !== undefined) throw new PackageError(`"${shorten(repeated)}" is asked for twice in wrt`, where, 'Name each input once.');
  const detached = new Set(request.detach ?? []);
  const floatValue = (name: string) => name !== '' && isFloat(facts.typeOf(name).dataType);

  // ---- activity -------------------------------------------------------------------------------
  const varied = new Set(request.wrt.filter((w) => !detached.has(w)));
  for (const node of graph.nodes) {
    if (!node.inputs.some((i) => varied.has(i))) continue;
    for (const o of node.outputs) if (o && !detached.has(o) && floatValue(o)) varied.add(o);
  }
  const useful = new Set([request.loss]);
  for (let n = graph.nodes.length - 1; n >= 0; n--) {
    const node = graph.nodes[n];
    if (!node.outputs.some((o) => useful.has(o) && floatValue(o))) continue;
    for (const i of node.inputs) if (floatValue(i)) useful.add(i);
  }
  const active = (name: string) => varied.has(name) && useful.has(name);

  // ---- reverse sweep --------------------------------------------------------------------------
  const emit = new Emitter(freshPrefix(graph));
  const contributions = new Map<string, string[]>();
  const summed = new Map<string, string | undefined>();
  const contribute = (name: string, gradient: string) => contributions.set(name, [...(contributions.get(name) ?? []), gradient]);
  /** The gradient of a value: the sum of what its consumers contributed (undefined: none reached it). */
  const gradientOf = (name: string): string | undefined => {
    if (summed.has(name)) return summed.get(name);
    const parts = contributions.get(name) ?? [];
    let total = parts[0];
    for (const part of parts.slice(1)) total = emit.op('Add', [total, part], {}, 'dSum');
    summed.set(name, total);
    return total;
  };

  if (active(request.loss)) contribute(request.loss, emit.constant(lossType.dataType, lossType.shape, [1], 'dLoss'));
  for (let n = graph.nodes.length - 1; n >= 0; n--) {
    const node = graph.nodes[n];
    const dOutputs = node.outputs.map((o) => (o && active(o) ? gradientOf(o) : undefined));
    if (dOutputs.every((d) => d === undefined)) continue;
    const activeInputs = node.inputs.map((i) => i !== '' && active(i));
    if (!activeInputs.some(Boolean)) continue;
    const rule = node.domain === '' || node.domain === 'ai.onnx' ? RULES.get(node.opType) : undefined;
    if (!rule) {
      const op = node.domain && node.domain !== 'ai.onnx' ? `${node.domain}.${node.opType}` : node.opType;
      throw new PackageError(`no gradient rule for ${op} (node ${shorten(node.name)})`, where,
        `It is on the path from the differentiated inputs to the loss. Add a rule for ${op} in src/autodiff/rules/ (src/autodiff/README.md says how), or export the model without it.`);
    }
    const gradients = rule(new NodeGradient(node, emit, facts, activeInputs, dOutputs));
    gradients.forEach((d, i) => { if (d !== undefined && activeInputs[i]) contribute(node.inputs[i], d); });
  }

  // ---- outputs ----------------------------------------------------------------------------------
  const taken = new Set([...inputs, ...graph.nodes.flatMap((n) => n.outputs)]);
  const finals = request.wrt.map((w) => (active(w) ? gradientOf(w) : undefined));
  const uses = new Map<string, number>();
  for (const v of [...emit.nodes.flatMap((n) => n.inputs), ...finals]) if (v) uses.set(v, (uses.get(v) ?? 0) + 1);
  request.wrt.forEach((w, k) => {
    const name = gradientName(w);
    if (taken.has(name)) {
      throw new PackageError(`the graph already has a value named "${shorten(name)}"`, where, `Rename that value; buildVjp names the gradient of "${shorten(w)}" so.`);
    }
    const type = facts.typeOf(w);
    const final = finals[k];
    const producer = final === undefined ? undefined : emit.nodes.find((n) => n.outputs.includes(final));
    if (final === undefined) {
      emit.node('ConstantOfShape', [emit.ints(type.shape, 'shape')],
        { value: { name: 'value', dataType: type.dataType, dims: [1], values: floatValues(type.dataType, [0]) } }, [name]);
    } else if (producer && uses.get(final) === 1) {
      producer.outputs = producer.outputs.map((o) => (o === final ? name : o));
    } else {
      emit.node('Identity', [final], {}, [name]);
    }
  });

  const info = (name: string): OnnxValueInfo => ({ name, dataType: facts.typeOf(name).dataType, shape: [...facts.typeOf(name).shape] });
  const outputs: OnnxValueInfo[] = [
    info(request.loss),
    ...request.wrt.map((w) => ({ ...info(w), name: gradientName(w) })),
    ...[...new Set(request.keep ?? [])].filter((k) => k !== request.loss).map(info),
  ];
  const result = withoutDeadCode({
    ...graph,
    nodes: [...graph.nodes, ...emit.nodes],
    initializers: [...graph.initializers, ...emit.initializers],
    outputs,
  });
  return { ...model, graph: result };
}
