/**
 * What every reference op shares: Tensor64 construction and geometry (sizes, strides, axes), numpy
 * broadcasting as an index map, the node's attributes read with their ONNX defaults, and the error an op
 * raises when a node is malformed.
 *
 * A Tensor64 holds every element as a float64 number whatever its ONNX type (src/autodiff/values.ts), so the
 * ops below compute in float64 and keep `dataType` only to know when to truncate (integer division, casts)
 * and what the output's type is.
 */
import { PackageError } from '../../errors.ts';
import type { OnnxAttribute, OnnxDataType, OnnxGraph, OnnxNode, OnnxTensor } from '../../formats/onnxModel.ts';
import type { Tensor64 } from '../values.ts';

/** A reference op: the node's outputs from its inputs (undefined where an optional input is omitted). */
export type OpEvaluator = (inputs: Array<Tensor64 | undefined>, node: OnnxNode, opset: number) => Tensor64[];

// ---------------------------------------------------------------------------------------------------------
// Errors

/** Where a node is, for a message: its name and op type. */
export function nodeWhere(node: OnnxNode): string {
  return `node "${node.name || '(unnamed)'}" (${node.domain ? `${node.domain}.` : ''}${node.opType})`;
}

/** A node that breaks its op's rules (an axis out of range, shapes that do not broadcast …). */
export function opError(node: OnnxNode, problem: string): PackageError {
  return new PackageError(problem, nodeWhere(node),
    'The graph does not follow the ONNX operator specification here; re-export it or report the graph.');
}

// ---------------------------------------------------------------------------------------------------------
// Types

/** TensorProto.DataType numbers (onnx.proto3), as Cast's `to` and ConstantOfShape's value use them. */
const DATA_TYPE_BY_NUMBER: Record<number, OnnxDataType> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool',
  10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 16: 'bfloat16',
};

export function dataTypeFromNumber(value: number, node: OnnxNode): OnnxDataType {
  const type = DATA_TYPE_BY_NUMBER[value];
  if (!type) throw opError(node, `data type ${value} is not one ONNX defines (or not one these ops handle)`);
  return type;
}

export function isFloatType(type: OnnxDataType): boolean {
  return type === 'float32' || type === 'float64' || type === 'float16' || type === 'bfloat16';
}

/** Integer and bool types: their arithmetic is exact in float64 up to 2^53, and cheap to fold. */
export function isIntegerType(type: OnnxDataType): boolean {
  return !isFloatType(type) && type !== 'string';
}

// ---------------------------------------------------------------------------------------------------------
// Geometry

export function sizeOf(dims: readonly number[]): number {
  let size = 1;
  for (const d of dims) size *= d;
  return size;
}

/** Row-major strides: element (i0, i1, …) is at Σ ik·strides[k]. */
export function stridesOf(dims: readonly number[]): number[] {
  const strides = new Array<number>(dims.length);
  let stride = 1;
  for (let k = dims.length - 1; k >= 0; k--) {
    strides[k] = stride;
    stride *= dims[k];
  }
  return strides;
}

export function tensor(dataType: OnnxDataType, dims: readonly number[], data?: Float64Array | ArrayLike<number>): Tensor64 {
  const size = sizeOf(dims);
  const values = data === undefined ? new Float64Array(size) : data instanceof Float64Array ? data : Float64Array.from(data);
  if (values.length !== size) throw new Error(`internal: ${values.length} elements for dims [${dims.join(', ')}]`);
  return { dataType, dims: [...dims], data: values };
}

/** An axis in [−rank, rank) as a non-negative one. */
export function normaliseAxis(axis: number, rank: number, node: OnnxNode, what = 'axis'): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw opError(node, `${what} ${axis} is out of range for rank ${rank}`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** Axes normalised, refusing repeats. */
export function normaliseAxes(axes: readonly number[], rank: number, node: OnnxNode): number[] {
  const result = axes.map((a) => normaliseAxis(a, rank, node));
  if (new Set(result).size !== result.length) throw opError(node, `axes [${axes.join(', ')}] repeat an axis`);
  return result;
}

/** The integers a tensor holds (axes, shapes, indices). */
export function intsOf(t: Tensor64): number[] {
  return Array.from(t.data);
}

// ---------------------------------------------------------------------------------------------------------
// Broadcasting (numpy's rules, as ONNX's multidirectional broadcasting)

/** The shape shapes broadcast to: aligned on the right, each dim equal or 1. */
export function broadcastShapes(shapes: ReadonlyArray<readonly number[]>, node: OnnxNode): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const result = new Array<number>(rank).fill(1);
  for (const shape of shapes) {
    for (let k = 0; k < shape.length; k++) {
      const at = rank - shape.length + k;
      const d = shape[k];
      if (d === result[at] || d === 1) continue;
      if (result[at] !== 1) {
        throw opError(node, `shapes ${shapes.map((s) => `[${s.join(', ')}]`).join(', ')} do not broadcast`);
      }
      result[at] = d;
    }
  }
  return result;
}

/**
 * For each element of a tensor of dims `to`, the index of the element of a tensor of dims `from` that
 * broadcasts onto it (`from` aligned on the right, its dims of 1 repeated).
 */
export function broadcastIndex(from: readonly number[], to: readonly number[]): Int32Array {
  const rank = to.length;
  const fromStrides = stridesOf(from);
  const strides = to.map((d, k) => {
    const j = k - (rank - from.length);
    return j < 0 || from[j] === 1 ? 0 : fromStrides[j];
  });
  return stridedIndex(to, strides, 0);
}

/** f applied element by element to tensors broadcast to one shape. */
export function mapBroadcast(inputs: readonly Tensor64[], dataType: OnnxDataType, node: OnnxNode, f: (...xs: number[]) => number): Tensor64 {
  const dims = broadcastShapes(inputs.map((t) => t.dims), node);
  const out = tensor(dataType, dims);
  const indices = inputs.map((t) => broadcastIndex(t.dims, dims));
  const xs = new Array<number>(inputs.length);
  for (let i = 0; i < out.data.length; i++) {
    for (let j = 0; j < inputs.length; j++) xs[j] = inputs[j].data[indices[j][i]];
    out.data[i] = f(...xs);
  }
  return out;
}

/** The elements of `t` gathered by flat indices into a tensor of `dims`. */
export function gatherFlat(t: Tensor64, index: Int32Array, dims: readonly number[], dataType = t.dataType): Tensor64 {
  const out = tensor(dataType, dims);
  for (let i = 0; i < index.length; i++) out.data[i] = t.data[index[i]];
  return out;
}

/** The dims of `t` permuted: output axis k is input axis perm[k]. */
export function permute(t: Tensor64, perm: readonly number[]): Tensor64 {
  const dims = perm.map((p) => t.dims[p]);
  const strides = stridesOf(t.dims);
  return gatherFlat(t, stridedIndex(dims, perm.map((p) => strides[p]), 0), dims);
}

/** Flat indices of the elements of a strided view: element (i0, …) at offset + Σ ik·strides[k]. */
export function stridedIndex(dims: readonly number[], strides: readonly number[], offset: number): Int32Array {
  const rank = dims.length;
  const size = sizeOf(dims);
  const index = new Int32Array(size);
  const counter = new Array<number>(rank).fill(0);
  let at = offset;
  for (let i = 0; i < size; i++) {
    index[i] = at;
    for (let k = rank - 1; k >= 0; k--) {
      counter[k]++;
      at += strides[k];
      if (counter[k] < dims[k]) break;
      at -= strides[k] * dims[k];
      counter[k] = 0;
    }
  }
  return index;
}

// ---------------------------------------------------------------------------------------------------------
// Attributes, with the defaults the spec gives

function attribute(node: OnnxNode, name: string): OnnxAttribute | undefined {
  return node.attributes[name];
}

export function attrInt(node: OnnxNode, name: string, fallback: number): number;
export function attrInt(node: OnnxNode, name: string): number | undefined;
export function attrInt(node: OnnxNode, name: string, fallback?: number): number | undefined {
  const a = attribute(node, name);
  if (a === undefined) return fallback;
  if (a.type !== 'int') throw opError(node, `attribute ${name} is a ${a.type}, not an int`);
  return a.value;
}

export function attrFloat(node: OnnxNode, name: string, fallback: number): number;
export function attrFloat(node: OnnxNode, name: string): number | undefined;
export function attrFloat(node: OnnxNode, name: string, fallback?: number): number | undefined {
  const a = attribute(node, name);
  if (a === undefined) return fallback;
  if (a.type !== 'float' && a.type !== 'int') throw opError(node, `attribute ${name} is a ${a.type}, not a float`);
  return a.value;
}

export function attrInts(node: OnnxNode, name: string): number[] | undefined {
  const a = attribute(node, name);
  if (a === undefined) return undefined;
  if (a.type !== 'ints') throw opError(node, `attribute ${name} is a ${a.type}, not ints`);
  return a.value;
}

export function attrString(node: OnnxNode, name: string, fallback: string): string {
  const a = attribute(node, name);
  if (a === undefined) return fallback;
  if (a.type !== 'string') throw opError(node, `attribute ${name} is a ${a.type}, not a string`);
  return a.value;
}

export function attrTensor(node: OnnxNode, name: string): OnnxTensor | undefined {
  const a = attribute(node, name);
  if (a === undefined) return undefined;
  if (a.type !== 'tensor') throw opError(node, `attribute ${name} is a ${a.type}, not a tensor`);
  return a.value;
}

export function attrGraph(node: OnnxNode, name: string): OnnxGraph {
  const a = attribute(node, name);
  if (a === undefined || a.type !== 'graph') throw opError(node, `attribute ${name} (a graph) is missing`);
  return a.value;
}

/** Input i, which the op requires. */
export function required<T>(inputs: ReadonlyArray<T | undefined>, i: number, node: OnnxNode): T {
  const t = inputs[i];
  if (t === undefined) throw opError(node, `input ${i} is required but missing`);
  return t;
}
