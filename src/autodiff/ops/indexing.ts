/**
 * Ops that read or write elements at positions held in a tensor: Gather, GatherElements, ScatterND,
 * ScatterElements, OneHot, and Trilu (positions decided by the diagonal).
 *
 * ONNX semantics: indices may be negative (counted from the end of their axis) and must be in range. Gather
 * along axis (default 0) gives dims[:axis] + indices.dims + dims[axis+1:]. The scatters copy data and write
 * updates in order, replacing (reduction "none") or combining ("add", "mul", "max", "min"). OneHot's depth is
 * a scalar, its values [off, on] decide the output type, an index out of [−depth, depth) gives a row of off.
 * Trilu keeps, in the last two axes, the upper (j − i ≥ k, default) or lower (j − i ≤ k) triangle.
 */
import type { OnnxNode } from '../../formats/onnxModel.ts';
import type { Tensor64 } from '../values.ts';
import {
  attrInt, attrString, normaliseAxis, opError, required, sizeOf, stridesOf, tensor, type OpEvaluator,
} from './tensor.ts';

/** An index counted from the end when negative, checked against the axis' extent. */
function wrapIndex(index: number, extent: number, node: OnnxNode): number {
  const i = index < 0 ? index + extent : index;
  if (!Number.isInteger(i) || i < 0 || i >= extent) throw opError(node, `index ${index} is out of range for an axis of ${extent}`);
  return i;
}

/** Gather's output dims. */
export function gatherDims(node: OnnxNode, dataDims: readonly number[], indexDims: readonly number[]): { axis: number; dims: number[] } {
  const axis = normaliseAxis(attrInt(node, 'axis', 0), dataDims.length, node);
  return { axis, dims: [...dataDims.slice(0, axis), ...indexDims, ...dataDims.slice(axis + 1)] };
}

const gather: OpEvaluator = (inputs, node) => {
  const data = required(inputs, 0, node);
  const indices = required(inputs, 1, node);
  const { axis, dims } = gatherDims(node, data.dims, indices.dims);
  const outer = sizeOf(data.dims.slice(0, axis));
  const n = data.dims[axis];
  const inner = sizeOf(data.dims.slice(axis + 1));
  const out = tensor(data.dataType, dims);
  let at = 0;
  for (let o = 0; o < outer; o++) {
    for (let q = 0; q < indices.data.length; q++) {
      const j = wrapIndex(indices.data[q], n, node);
      out.data.set(data.data.subarray((o * n + j) * inner, (o * n + j + 1) * inner), at);
      at += inner;
    }
  }
  return [out];
};

/**
 * Visits every element of `indices` (rank r, same rank as the data) with its flat position and the flat
 * position in data it names along `axis`: the element's own coordinates with coordinate `axis` replaced.
 */
function alongAxis(data: Tensor64, indices: Tensor64, axis: number, node: OnnxNode, visit: (position: number, target: number) => void): void {
  if (indices.dims.length !== data.dims.length) throw opError(node, 'indices and data differ in rank');
  const dataStrides = stridesOf(data.dims);
  const c = new Array<number>(indices.dims.length).fill(0);
  for (let p = 0; p < indices.data.length; p++) {
    let target = 0;
    for (let k = 0; k < c.length; k++) {
      const coordinate = k === axis ? wrapIndex(indices.data[p], data.dims[axis], node) : c[k];
      target += coordinate * dataStrides[k];
    }
    visit(p, target);
    for (let k = c.length - 1; k >= 0; k--) {
      if (++c[k] < indices.dims[k]) break;
      c[k] = 0;
    }
  }
}

const gatherElements: OpEvaluator = (inputs, node) => {
  const data = required(inputs, 0, node);
  const indices = required(inputs, 1, node);
  const axis = normaliseAxis(attrInt(node, 'axis', 0), data.dims.length, node);
  const out = tensor(data.dataType, indices.dims);
  alongAxis(data, indices, axis, node, (p, target) => {
    out.data[p] = data.data[target];
  });
  return [out];
};

/** How a scatter combines an update with the value already there. */
function combiner(node: OnnxNode): (old: number, update: number) => number {
  const reduction = attrString(node, 'reduction', 'none');
  switch (reduction) {
    case 'none': return (_, u) => u;
    case 'add': return (a, u) => a + u;
    case 'mul': return (a, u) => a * u;
    case 'max': return (a, u) => Math.max(a, u);
    case 'min': return (a, u) => Math.min(a, u);
    default: throw opError(node, `reduction "${reduction}" is not one ONNX defines`);
  }
}

const scatterElements: OpEvaluator = (inputs, node) => {
  const data = required(inputs, 0, node);
  const indices = required(inputs, 1, node);
  const updates = required(inputs, 2, node);
  const axis = normaliseAxis(attrInt(node, 'axis', 0), data.dims.length, node);
  const combine = combiner(node);
  const out = tensor(data.dataType, data.dims, data.data.slice());
  alongAxis(data, indices, axis, node, (p, target) => {
    out.data[target] = combine(out.data[target], updates.data[p]);
  });
  return [out];
};

/** ScatterND: indices [..., k] name slices data[i0, …, ik−1] that take updates[...]. */
const scatterND: OpEvaluator = (inputs, node) => {
  const data = required(inputs, 0, node);
  const indices = required(inputs, 1, node);
  const updates = required(inputs, 2, node);
  const combine = combiner(node);
  const k = indices.dims[indices.dims.length - 1];
  if (k === undefined || k > data.dims.length) throw opError(node, 'ScatterND indices have no last axis, or a longer one than data has axes');
  const tuples = indices.data.length / Math.max(1, k);
  const sliceSize = sizeOf(data.dims.slice(k));
  const expected = [...indices.dims.slice(0, -1), ...data.dims.slice(k)];
  if (updates.dims.length !== expected.length || updates.dims.some((d, i) => d !== expected[i])) {
    throw opError(node, `ScatterND updates are [${updates.dims.join(', ')}], expected [${expected.join(', ')}]`);
  }
  const strides = stridesOf(data.dims);
  const out = tensor(data.dataType, data.dims, data.data.slice());
  for (let t = 0; t < tuples; t++) {
    let base = 0;
    for (let j = 0; j < k; j++) base += wrapIndex(indices.data[t * k + j], data.dims[j], node) * strides[j];
    for (let e = 0; e < sliceSize; e++) out.data[base + e] = combine(out.data[base + e], updates.data[t * sliceSize + e]);
  }
  return [out];
};

/** OneHot's output dims and the axis the depth goes in. */
export function oneHotDims(node: OnnxNode, indexDims: readonly number[], depth: number): { axis: number; dims: number[] } {
  const axis = normaliseAxis(attrInt(node, 'axis', -1), indexDims.length + 1, node);
  return { axis, dims: [...indexDims.slice(0, axis), depth, ...indexDims.slice(axis)] };
}

const oneHot: OpEvaluator = (inputs, node) => {
  const indices = required(inputs, 0, node);
  const depth = Math.trunc(required(inputs, 1, node).data[0]);
  const values = required(inputs, 2, node);
  const [off, on] = [values.data[0], values.data[1]];
  const { axis, dims } = oneHotDims(node, indices.dims, depth);
  const outer = sizeOf(indices.dims.slice(0, axis));
  const inner = sizeOf(indices.dims.slice(axis));
  const out = tensor(values.dataType, dims, new Float64Array(sizeOf(dims)).fill(off));
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let index = indices.data[o * inner + i];
      if (index < 0) index += depth;
      if (index >= 0 && index < depth) out.data[(o * depth + index) * inner + i] = on;
    }
  }
  return [out];
};

const trilu: OpEvaluator = (inputs, node) => {
  const x = required(inputs, 0, node);
  const k = inputs[1] ? inputs[1].data[0] : 0;
  const upper = attrInt(node, 'upper', 1) !== 0;
  if (x.dims.length < 2) throw opError(node, 'Trilu needs rank ≥ 2');
  const [rows, columns] = x.dims.slice(-2);
  const out = tensor(x.dataType, x.dims, x.data.slice());
  for (let at = 0; at < out.data.length; at++) {
    const j = at % columns;
    const i = Math.floor(at / columns) % rows;
    if (upper ? j - i < k : j - i > k) out.data[at] = 0;
  }
  return [out];
};

export const indexingOps: Record<string, OpEvaluator> = {
  Gather: gather,
  GatherElements: gatherElements,
  ScatterElements: scatterElements,
  ScatterND: scatterND,
  OneHot: oneHot,
  Trilu: trilu,
};
