/**
 * Ops that change only a tensor's dims, never its row-major elements — Reshape, Flatten, Squeeze,
 * Unsqueeze — and the ops that read the dims: Shape and Size. Each op's dims rule is exported for the
 * static shape inference (src/autodiff/shapes.ts).
 *
 * ONNX semantics: Reshape's shape input holds 0 (copy the input's dim, unless allowzero=1, opset 14) and at
 * most one −1 (inferred). Squeeze/Unsqueeze take axes from an input from opset 13 (attribute before);
 * Squeeze without axes drops every dim of 1; Unsqueeze's axes index the output. Flatten's axis (default 1,
 * in [−r, r]) splits the dims into [Π dims[:axis], Π dims[axis:]]. Shape's start/end (opset 15) clamp into
 * [0, rank]; Shape and Size give int64.
 */
import type { OnnxNode } from '../../formats/onnxModel.ts';
import type { Tensor64 } from '../values.ts';
import {
  attrInt, attrInts, intsOf, normaliseAxes, opError, required, sizeOf, tensor, type OpEvaluator,
} from './tensor.ts';

/** The dims of Reshape(x, shape). */
export function reshapeDims(node: OnnxNode, inDims: readonly number[], shape: readonly number[]): number[] {
  const allowzero = attrInt(node, 'allowzero', 0) !== 0;
  const dims = shape.map((d, k) => {
    if (d === 0 && !allowzero) {
      if (k >= inDims.length) throw opError(node, `Reshape's 0 at position ${k} has no input dim to copy`);
      return inDims[k];
    }
    return d;
  });
  const unknown = dims.filter((d) => d === -1).length;
  if (unknown > 1 || dims.some((d) => d < -1 || !Number.isInteger(d))) throw opError(node, `Reshape to [${shape.join(', ')}]`);
  const total = sizeOf(inDims);
  if (unknown === 1) {
    const known = sizeOf(dims.filter((d) => d !== -1));
    if (known === 0 || total % known !== 0) throw opError(node, `cannot infer −1 reshaping [${inDims.join(', ')}] to [${shape.join(', ')}]`);
    dims[dims.indexOf(-1)] = total / known;
  }
  if (sizeOf(dims) !== total) throw opError(node, `cannot reshape [${inDims.join(', ')}] (${total} elements) to [${dims.join(', ')}]`);
  return dims;
}

/** Squeeze's and Unsqueeze's axes: input 1 (opset 13+) or the attribute. */
function axesOf(node: OnnxNode, axesInput: Tensor64 | undefined): number[] | undefined {
  return axesInput !== undefined ? intsOf(axesInput) : attrInts(node, 'axes');
}

/** The dims of Squeeze(x, axes). */
export function squeezeDims(node: OnnxNode, inDims: readonly number[], axesInput: Tensor64 | undefined): number[] {
  const given = axesOf(node, axesInput);
  if (given === undefined || given.length === 0) return inDims.filter((d) => d !== 1);
  const axes = normaliseAxes(given, inDims.length, node);
  for (const a of axes) if (inDims[a] !== 1) throw opError(node, `Squeeze of axis ${a}, which is ${inDims[a]}, not 1`);
  return inDims.filter((_, k) => !axes.includes(k));
}

/** The dims of Unsqueeze(x, axes): axes index the output, of rank r + |axes|. */
export function unsqueezeDims(node: OnnxNode, inDims: readonly number[], axesInput: Tensor64 | undefined): number[] {
  const given = axesOf(node, axesInput);
  if (given === undefined) throw opError(node, 'Unsqueeze has no axes');
  const rank = inDims.length + given.length;
  const axes = normaliseAxes(given, rank, node);
  const dims: number[] = [];
  let next = 0;
  for (let k = 0; k < rank; k++) dims.push(axes.includes(k) ? 1 : inDims[next++]);
  return dims;
}

/** The dims of Flatten(x): [Π dims[:axis], Π dims[axis:]]. */
export function flattenDims(node: OnnxNode, inDims: readonly number[]): number[] {
  const rank = inDims.length;
  let axis = attrInt(node, 'axis', 1);
  if (axis < -rank || axis > rank) throw opError(node, `Flatten axis ${axis} out of range for rank ${rank}`);
  if (axis < 0) axis += rank;
  return [sizeOf(inDims.slice(0, axis)), sizeOf(inDims.slice(axis))];
}

/** The dims Shape gives: dims[start:end] with start/end (opset 15) wrapped once and clamped into [0, rank]. */
export function shapeSlice(node: OnnxNode, inDims: readonly number[]): number[] {
  const rank = inDims.length;
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
  return inDims.slice(clamp(attrInt(node, 'start', 0)), clamp(attrInt(node, 'end', rank)));
}

/** x's elements under new dims. */
const viewAs = (x: Tensor64, dims: number[]): Tensor64 => tensor(x.dataType, dims, x.data.slice());

export const reshapeOps: Record<string, OpEvaluator> = {
  Reshape: (inputs, node) => {
    const x = required(inputs, 0, node);
    return [viewAs(x, reshapeDims(node, x.dims, intsOf(required(inputs, 1, node))))];
  },
  Flatten: (inputs, node) => {
    const x = required(inputs, 0, node);
    return [viewAs(x, flattenDims(node, x.dims))];
  },
  Squeeze: (inputs, node) => {
    const x = required(inputs, 0, node);
    return [viewAs(x, squeezeDims(node, x.dims, inputs[1]))];
  },
  Unsqueeze: (inputs, node) => {
    const x = required(inputs, 0, node);
    return [viewAs(x, unsqueezeDims(node, x.dims, inputs[1]))];
  },
  Shape: (inputs, node) => {
    const dims = shapeSlice(node, required(inputs, 0, node).dims);
    return [tensor('int64', [dims.length], dims)];
  },
  Size: (inputs, node) => [tensor('int64', [], [sizeOf(required(inputs, 0, node).dims)])],
};
