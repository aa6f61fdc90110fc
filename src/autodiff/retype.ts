/**
 * Retyping a specialised graph's integer inputs: the vjp's GPU-input form (float32 text_mask, int32 ids and
 * labels) from graphs exported with int64 masks and ids. onnxruntime-web's WebGPU provider runs int64
 * arithmetic on the CPU, so an int64 mask or id in a training graph means a GPU→CPU round trip every step and no
 * graph capture (src/engine/frozenVjp.ts); retyped, every op runs on the GPU.
 */
import { shorten } from '../errors.ts';
import type { OnnxDataType, OnnxModel, OnnxNode, OnnxTensor, OnnxValueInfo } from '../formats/onnxModel.ts';
import type { ValueTable } from './values.ts';

/** Why a graph cannot be retyped (the caller falls back to the int64 form, saying so). */
export class RetypeRefused extends Error {}

/** Ops whose output has the type of their data inputs (by position) and whose other inputs are shapes or indices. */
const DATA_INPUTS: Record<string, number[] | 'all'> = {
  Identity: [0], Reshape: [0], Unsqueeze: [0], Squeeze: [0], Flatten: [0], Expand: [0], Transpose: [0], Slice: [0],
  Gather: [0], GatherElements: [0], Tile: [0], Concat: 'all', Where: [1, 2], Add: 'all', Sub: 'all', Mul: 'all', Neg: 'all',
  Abs: 'all', Max: 'all', Min: 'all',
};
const COMPARISONS = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual']);

/**
 * The graph with some int64 inputs of other types (float32 masks, int32 ids), each value they feed retyped
 * along: ops that only move data (Reshape, Expand, Concat …) carry the new type, Cast takes any, Gather takes
 * int32 indices, comparisons and + − × take their constants converted (when every element is exact in the new
 * type; a float32 mask's 0 and 1 stay exact through them). Anything else — an input read as int64 where no
 * other type is legal, next to an int64 value that is not a constant, or into a graph output — is refused
 * (RetypeRefused, saying where). Runs on a specialised graph: the shape arithmetic is folded already.
 */
export function retype(model: OnnxModel, values: ValueTable, types: Record<string, OnnxDataType>): { model: OnnxModel; values: ValueTable } {
  const changed = new Map<string, OnnxDataType>(Object.entries(types));
  const constants = new Map(model.graph.initializers.map((t) => [t.name, t]));
  const added: OnnxTensor[] = [];
  const refuse = (node: OnnxNode, input: string, why: string): never => {
    throw new RetypeRefused(`${node.opType} (node "${shorten(node.name)}") reads "${shorten(input)}" (from ${Object.keys(types).join(' or ')}) ${why}`);
  };
  /** A constant input converted to `type`, under a new name; refused unless every element is exact in it. */
  const converted = (node: OnnxNode, name: string, type: OnnxDataType): string => {
    const t = constants.get(name);
    if (!t || !t.values || Array.isArray(t.values)) refuse(node, name, 'next to a value that is not a constant, of its original type');
    const numbers = Array.from(t!.values as ArrayLike<number | bigint>, Number);
    const exact = type === 'int32' ? numbers.every((v) => Number.isInteger(v) && Math.abs(v) < 2 ** 31) : numbers.every((v) => Number.isInteger(v) && Math.abs(v) <= 2 ** 24);
    if (!exact) refuse(node, name, `with a constant not exact in ${type}`);
    const tensor: OnnxTensor = { name: `${name}/as_${type}`, dataType: type, dims: t!.dims, values: type === 'int32' ? Int32Array.from(numbers) : Float32Array.from(numbers) };
    if (!constants.has(tensor.name)) { constants.set(tensor.name, tensor); added.push(tensor); }
    return tensor.name;
  };
  const nodes = model.graph.nodes.map((node) => {
    const hits = node.inputs.map((i, k) => (changed.has(i) ? k : -1)).filter((k) => k >= 0);
    if (hits.length === 0) return node;
    const type = changed.get(node.inputs[hits[0]])!;
    if (hits.some((k) => changed.get(node.inputs[k]) !== type)) refuse(node, node.inputs[hits[1]], 'together with a value of another new type');
    if (node.opType === 'Cast') return node;
    if (node.opType === 'Gather' && hits.every((k) => k === 1) && type === 'int32') return node;
    const data = DATA_INPUTS[node.opType];
    const dataAt = (k: number) => data === 'all' || (data?.includes(k) ?? false);
    if (COMPARISONS.has(node.opType) || data) {
      if (hits.some((k) => !COMPARISONS.has(node.opType) && !dataAt(k))) refuse(node, node.inputs[hits[0]], 'as a shape, axes or indices (int64 only)');
      const inputs = node.inputs.map((i, k) => {
        if (i === '' || changed.has(i) || !(COMPARISONS.has(node.opType) || dataAt(k))) return i;
        return converted(node, i, type);
      });
      if (!COMPARISONS.has(node.opType)) for (const o of node.outputs) if (o) changed.set(o, type);
      return { ...node, inputs };
    }
    return refuse(node, node.inputs[hits[0]], 'as int64, and no other type is legal there');
  });
  const output = model.graph.outputs.find((o) => changed.has(o.name));
  if (output) throw new RetypeRefused(`graph output "${output.name}" would change type`);
  const table: ValueTable = new Map(values);
  for (const [name, type] of changed) if (table.has(name)) table.set(name, { ...table.get(name)!, dataType: type });
  for (const t of added) table.set(t.name, { dataType: t.dataType, shape: [...t.dims] });
  const retyped = (v: OnnxValueInfo) => (changed.has(v.name) ? { ...v, dataType: changed.get(v.name)! } : v);
  return {
    model: {
      ...model,
      graph: {
        ...model.graph, nodes, initializers: [...model.graph.initializers, ...added],
        inputs: model.graph.inputs.map(retyped), valueInfo: model.graph.valueInfo.map(retyped),
      },
    },
    values: table,
  };
}
