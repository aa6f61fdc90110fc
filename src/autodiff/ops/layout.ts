/**
 * Ops that move elements without arithmetic: Transpose, Expand, Concat, Split, Slice, Pad and Tile. Each op's
 * geometry (what it reads from its attributes and its shape-deciding inputs) is exported for the static
 * shape inference (src/autodiff/shapes.ts).
 *
 * ONNX semantics: Transpose's perm defaults to reversing the axes. Expand broadcasts both ways (the shape
 * may hold 1 where the input is larger). Split takes its sizes from an input from opset 13 (attribute
 * before), or splits into equal parts (the last one smaller when uneven, opset 18's num_outputs). Slice takes
 * starts/ends/axes/steps as inputs from opset 10 (attributes before, without steps); negative values count
 * from the end, then starts and ends clamp into [0, d] for a positive step and [−1, d−1] for a negative one,
 * so INT64_MAX/INT64_MIN sentinels work. Pad (constant mode only here) takes pads as [begins…, ends…] from an
 * input from opset 11, and axes from opset 18; negative pads crop. Tile repeats each axis.
 */
import type { OnnxNode } from '../../formats/onnxModel.ts';
import type { Tensor64 } from '../values.ts';
import {
  attrFloat, attrInt, attrInts, attrString, broadcastIndex, broadcastShapes, intsOf, normaliseAxes, normaliseAxis,
  opError, permute, required, sizeOf, stridedIndex, stridesOf, gatherFlat, tensor, type OpEvaluator,
} from './tensor.ts';

export function transposePerm(node: OnnxNode, rank: number): number[] {
  const perm = attrInts(node, 'perm') ?? Array.from({ length: rank }, (_, k) => rank - 1 - k);
  const sorted = [...perm].sort((a, b) => a - b);
  if (perm.length !== rank || sorted.some((p, k) => p !== k)) throw opError(node, `perm [${perm.join(', ')}] is not a permutation of rank ${rank}`);
  return perm;
}

/** The dims of Concat along its axis. */
export function concatDims(node: OnnxNode, dims: ReadonlyArray<readonly number[]>): { axis: number; dims: number[] } {
  const rank = dims[0].length;
  const axis = normaliseAxis(attrInt(node, 'axis', 0), rank, node);
  for (const d of dims) {
    if (d.length !== rank || d.some((x, k) => k !== axis && x !== dims[0][k])) {
      throw opError(node, `Concat on axis ${axis} of ${dims.map((s) => `[${s.join(', ')}]`).join(', ')}`);
    }
  }
  const out = [...dims[0]];
  out[axis] = dims.reduce((s, d) => s + d[axis], 0);
  return { axis, dims: out };
}

/** Split's axis and the size of each part along it. */
export function splitSizes(node: OnnxNode, inDims: readonly number[], splitInput: Tensor64 | undefined): { axis: number; sizes: number[] } {
  const axis = normaliseAxis(attrInt(node, 'axis', 0), inDims.length, node);
  const d = inDims[axis];
  const given = splitInput !== undefined ? intsOf(splitInput) : attrInts(node, 'split');
  if (given !== undefined && given.length > 0) {
    if (given.reduce((a, b) => a + b, 0) !== d) throw opError(node, `split [${given.join(', ')}] does not add up to dim ${d}`);
    return { axis, sizes: given };
  }
  const parts = attrInt(node, 'num_outputs', node.outputs.length);
  const part = Math.ceil(d / parts);
  return { axis, sizes: Array.from({ length: parts }, (_, k) => Math.max(0, Math.min(part, d - k * part))) };
}

/** One axis of a slice: where it starts, its step and how many elements it takes. */
export interface SliceAxis {
  start: number;
  step: number;
  count: number;
}

/** Slice's start/step/count on every axis of an input of `inDims` (untouched axes take all). */
export function sliceAxes(node: OnnxNode, inDims: readonly number[], inputs: Array<Tensor64 | undefined>): SliceAxis[] {
  const fromInputs = inputs.length > 1;
  const starts = fromInputs ? intsOf(required(inputs, 1, node)) : attrInts(node, 'starts') ?? [];
  const ends = fromInputs ? intsOf(required(inputs, 2, node)) : attrInts(node, 'ends') ?? [];
  const axesGiven = fromInputs ? (inputs[3] ? intsOf(inputs[3]) : undefined) : attrInts(node, 'axes');
  const steps = fromInputs && inputs[4] ? intsOf(inputs[4]) : starts.map(() => 1);
  const axes = normaliseAxes(axesGiven ?? starts.map((_, k) => k), inDims.length, node);
  if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) {
    throw opError(node, 'Slice starts, ends, axes and steps differ in length');
  }
  const result: SliceAxis[] = inDims.map((d) => ({ start: 0, step: 1, count: d }));
  axes.forEach((axis, k) => {
    const d = inDims[axis];
    const step = steps[k];
    if (step === 0) throw opError(node, 'Slice step 0');
    let start = starts[k] < 0 ? starts[k] + d : starts[k];
    let end = ends[k] < 0 ? ends[k] + d : ends[k];
    if (step > 0) {
      start = Math.min(Math.max(start, 0), d);
      end = Math.min(Math.max(end, 0), d);
    } else {
      start = Math.min(Math.max(start, 0), d - 1);
      end = Math.min(Math.max(end, -1), d - 1);
    }
    result[axis] = { start, step, count: Math.max(0, Math.ceil((end - start) / step)) };
  });
  return result;
}

/** Pad's begin and end counts on every axis (mode constant), and the value it pads with. */
export function padAmounts(node: OnnxNode, rank: number, inputs: Array<Tensor64 | undefined>): { begins: number[]; ends: number[]; value: number } {
  const mode = attrString(node, 'mode', 'constant');
  if (mode !== 'constant') throw opError(node, `Pad mode "${mode}" is not supported by this evaluator (constant only)`);
  const fromInputs = inputs.length > 1;
  const pads = fromInputs ? intsOf(required(inputs, 1, node)) : attrInts(node, 'pads') ?? [];
  const value = fromInputs ? (inputs[2] && inputs[2].data.length > 0 ? inputs[2].data[0] : 0) : attrFloat(node, 'value', 0);
  const axes = inputs[3] ? normaliseAxes(intsOf(inputs[3]), rank, node) : Array.from({ length: rank }, (_, k) => k);
  if (pads.length !== 2 * axes.length) throw opError(node, `Pad has ${pads.length} pads for ${axes.length} axes`);
  const begins = new Array<number>(rank).fill(0);
  const ends = new Array<number>(rank).fill(0);
  axes.forEach((axis, k) => {
    begins[axis] = pads[k];
    ends[axis] = pads[k + axes.length];
  });
  return { begins, ends, value };
}

/** Tile's output dims. */
export function tileDims(node: OnnxNode, inDims: readonly number[], repeats: readonly number[]): number[] {
  if (repeats.length !== inDims.length || repeats.some((r) => r < 0)) throw opError(node, `Tile repeats [${repeats.join(', ')}] for rank ${inDims.length}`);
  return inDims.map((d, k) => d * repeats[k]);
}

/**
 * A tensor of `outDims` whose element at coordinates c is x's element at `source(c)` (a flat index of x,
 * or −1 for `fill`).
 */
function byCoordinates(x: Tensor64, outDims: readonly number[], source: (c: number[]) => number, fill = 0): Tensor64 {
  const out = tensor(x.dataType, outDims);
  const c = new Array<number>(outDims.length).fill(0);
  for (let i = 0; i < out.data.length; i++) {
    const from = source(c);
    out.data[i] = from < 0 ? fill : x.data[from];
    for (let k = outDims.length - 1; k >= 0; k--) {
      if (++c[k] < outDims[k]) break;
      c[k] = 0;
    }
  }
  return out;
}

const slice: OpEvaluator = (inputs, node) => {
  const x = required(inputs, 0, node);
  const axes = sliceAxes(node, x.dims, inputs);
  const strides = stridesOf(x.dims);
  const offset = axes.reduce((s, a, k) => s + (a.count > 0 ? a.start * strides[k] : 0), 0);
  const dims = axes.map((a) => a.count);
  return [gatherFlat(x, stridedIndex(dims, axes.map((a, k) => a.step * strides[k]), offset), dims)];
};

const concat: OpEvaluator = (inputs, node) => {
  const parts = inputs.filter((t): t is Tensor64 => t !== undefined);
  const { axis, dims } = concatDims(node, parts.map((t) => t.dims));
  const out = tensor(parts[0].dataType, dims);
  const outer = sizeOf(dims.slice(0, axis));
  const inner = sizeOf(dims.slice(axis + 1));
  let at = 0;
  for (let o = 0; o < outer; o++) {
    for (const part of parts) {
      const block = part.dims[axis] * inner;
      out.data.set(part.data.subarray(o * block, (o + 1) * block), at);
      at += block;
    }
  }
  return [out];
};

const split: OpEvaluator = (inputs, node) => {
  const x = required(inputs, 0, node);
  const { axis, sizes } = splitSizes(node, x.dims, inputs[1]);
  const strides = stridesOf(x.dims);
  let start = 0;
  return sizes.map((size) => {
    const dims = x.dims.map((d, k) => (k === axis ? size : d));
    const part = gatherFlat(x, stridedIndex(dims, strides, start * strides[axis]), dims);
    start += size;
    return part;
  });
};

const pad: OpEvaluator = (inputs, node) => {
  const x = required(inputs, 0, node);
  const { begins, ends, value } = padAmounts(node, x.dims.length, inputs);
  const outDims = x.dims.map((d, k) => d + begins[k] + ends[k]);
  if (outDims.some((d) => d < 0)) throw opError(node, 'Pad crops more than the dim holds');
  const strides = stridesOf(x.dims);
  return [byCoordinates(x, outDims, (c) => {
    let at = 0;
    for (let k = 0; k < c.length; k++) {
      const j = c[k] - begins[k];
      if (j < 0 || j >= x.dims[k]) return -1;
      at += j * strides[k];
    }
    return at;
  }, value)];
};

const tile: OpEvaluator = (inputs, node) => {
  const x = required(inputs, 0, node);
  const outDims = tileDims(node, x.dims, intsOf(required(inputs, 1, node)));
  const strides = stridesOf(x.dims);
  return [byCoordinates(x, outDims, (c) => c.reduce((s, ck, k) => s + (ck % x.dims[k]) * strides[k], 0))];
};

export const layoutOps: Record<string, OpEvaluator> = {
  Transpose: (inputs, node) => {
    const x = required(inputs, 0, node);
    return [permute(x, transposePerm(node, x.dims.length))];
  },
  Expand: (inputs, node) => {
    const x = required(inputs, 0, node);
    const dims = broadcastShapes([x.dims, intsOf(required(inputs, 1, node))], node);
    return [gatherFlat(x, broadcastIndex(x.dims, dims), dims)];
  },
  Concat: concat,
  Split: split,
  Slice: slice,
  Pad: pad,
  Tile: tile,
};
