/**
 * Reductions over axes: ReduceSum/Mean/Max/Min/Prod/SumSquare/L1/L2/LogSum/LogSumExp, ArgMax/ArgMin,
 * and the running sum CumSum.
 *
 * ONNX semantics: the axes are an attribute up to opset 12 for ReduceSum and up to 17 for the others, an
 * optional input after (this reads whichever the node has); no axes reduces every axis unless
 * noop_with_empty_axes=1, which makes the op an identity; keepdims (default 1) keeps reduced axes as 1.
 * Integer ReduceMean truncates. ArgMax/ArgMin give int64, the first extreme unless select_last_index=1.
 */
import type { OnnxNode } from '../../formats/onnxModel.ts';
import type { Tensor64 } from '../values.ts';
import {
  attrInt, attrInts, broadcastIndex, intsOf, isFloatType, normaliseAxes, normaliseAxis, opError, required, tensor,
  type OpEvaluator,
} from './tensor.ts';

/** Which axes a reduction reduces and the shapes it gives. */
export interface ReduceGeometry {
  /** The op is an identity (no axes and noop_with_empty_axes=1). */
  noop: boolean;
  axes: number[];
  /** The input's dims with each reduced axis set to 1. */
  keptDims: number[];
  /** The output's dims: keptDims, or without the reduced axes when keepdims=0. */
  dims: number[];
}

/** The geometry of a Reduce* node on an input of `dims`; `axesInput` is its second input, if any. */
export function reduceGeometry(node: OnnxNode, dims: readonly number[], axesInput: Tensor64 | undefined): ReduceGeometry {
  const given = axesInput !== undefined ? intsOf(axesInput) : attrInts(node, 'axes') ?? [];
  const keepdims = attrInt(node, 'keepdims', 1) !== 0;
  const noop = given.length === 0 && attrInt(node, 'noop_with_empty_axes', 0) !== 0;
  const axes = noop ? [] : given.length === 0 ? dims.map((_, k) => k) : normaliseAxes(given, dims.length, node);
  const keptDims = dims.map((d, k) => (axes.includes(k) ? 1 : d));
  if (noop) return { noop, axes, keptDims: [...dims], dims: [...dims] };
  return { noop, axes, keptDims, dims: keepdims ? keptDims : dims.filter((_, k) => !axes.includes(k)) };
}

/** A reduction: a start value, how an element joins the running value, and what the end value becomes. */
interface Reducer {
  start: number;
  add: (running: number, x: number) => number;
  finish?: (running: number, count: number) => number;
}

const REDUCERS: Record<string, Reducer> = {
  ReduceSum: { start: 0, add: (s, x) => s + x },
  ReduceMean: { start: 0, add: (s, x) => s + x, finish: (s, n) => s / n },
  ReduceMax: { start: -Infinity, add: (m, x) => (Number.isNaN(m) || m >= x ? m : x) },
  ReduceMin: { start: Infinity, add: (m, x) => (Number.isNaN(m) || m <= x ? m : x) },
  ReduceProd: { start: 1, add: (p, x) => p * x },
  ReduceSumSquare: { start: 0, add: (s, x) => s + x * x },
  ReduceL1: { start: 0, add: (s, x) => s + Math.abs(x) },
  ReduceL2: { start: 0, add: (s, x) => s + x * x, finish: (s) => Math.sqrt(s) },
  ReduceLogSum: { start: 0, add: (s, x) => s + x, finish: (s) => Math.log(s) },
  ReduceLogSumExp: { start: 0, add: (s, x) => s + Math.exp(x), finish: (s) => Math.log(s) },
};

function reduce(reducer: Reducer): OpEvaluator {
  return (inputs, node) => {
    const x = required(inputs, 0, node);
    const geometry = reduceGeometry(node, x.dims, inputs[1]);
    if (geometry.noop) return [tensor(x.dataType, x.dims, x.data.slice())];
    const out = tensor(x.dataType, geometry.dims, new Float64Array(geometry.dims.reduce((a, b) => a * b, 1)).fill(reducer.start));
    const target = broadcastIndex(geometry.keptDims, x.dims);
    for (let i = 0; i < x.data.length; i++) out.data[target[i]] = reducer.add(out.data[target[i]], x.data[i]);
    const count = x.data.length / Math.max(1, out.data.length);
    const integer = !isFloatType(x.dataType);
    for (let i = 0; i < out.data.length; i++) {
      let v = reducer.finish ? reducer.finish(out.data[i], count) : out.data[i];
      if (integer) v = Math.trunc(v);
      out.data[i] = v;
    }
    return [out];
  };
}

/** A tensor seen as [outer, n, inner] around `axis`: element (o, j, i) is at (o·n + j)·inner + i. */
export function aroundAxis(dims: readonly number[], axis: number): { outer: number; n: number; inner: number } {
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  return { outer, n: dims[axis], inner };
}

/** The dims ArgMax/ArgMin give. */
export function argGeometry(node: OnnxNode, dims: readonly number[]): { axis: number; dims: number[] } {
  const axis = normaliseAxis(attrInt(node, 'axis', 0), dims.length, node);
  const keepdims = attrInt(node, 'keepdims', 1) !== 0;
  return { axis, dims: keepdims ? dims.map((d, k) => (k === axis ? 1 : d)) : dims.filter((_, k) => k !== axis) };
}

function argExtreme(better: (x: number, best: number) => boolean): OpEvaluator {
  return (inputs, node) => {
    const x = required(inputs, 0, node);
    const geometry = argGeometry(node, x.dims);
    const { outer, n, inner } = aroundAxis(x.dims, geometry.axis);
    if (n === 0) throw opError(node, 'ArgMax/ArgMin over an empty axis');
    const last = attrInt(node, 'select_last_index', 0) !== 0;
    const out = tensor('int64', geometry.dims);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        let bestIndex = 0;
        let best = x.data[o * n * inner + i];
        for (let j = 1; j < n; j++) {
          const v = x.data[(o * n + j) * inner + i];
          if (better(v, best) || (last && v === best)) {
            best = v;
            bestIndex = j;
          }
        }
        out.data[o * inner + i] = bestIndex;
      }
    }
    return [out];
  };
}

/** CumSum along the axis of input 1: inclusive or exclusive, forward or reverse. */
const cumSum: OpEvaluator = (inputs, node) => {
  const x = required(inputs, 0, node);
  const axis = normaliseAxis(required(inputs, 1, node).data[0], x.dims.length, node);
  const exclusive = attrInt(node, 'exclusive', 0) !== 0;
  const reverse = attrInt(node, 'reverse', 0) !== 0;
  const { outer, n, inner } = aroundAxis(x.dims, axis);
  const out = tensor(x.dataType, x.dims);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let running = 0;
      for (let step = 0; step < n; step++) {
        const j = reverse ? n - 1 - step : step;
        const at = (o * n + j) * inner + i;
        if (exclusive) {
          out.data[at] = running;
          running += x.data[at];
        } else {
          running += x.data[at];
          out.data[at] = running;
        }
      }
    }
  }
  return [out];
};

export const reduceOps: Record<string, OpEvaluator> = {
  ...Object.fromEntries(Object.entries(REDUCERS).map(([op, reducer]) => [op, reduce(reducer)])),
  ArgMax: argExtreme((x, best) => x > best || (Number.isNaN(x) && !Number.isNaN(best))),
  ArgMin: argExtreme((x, best) => x < best || (Number.isNaN(x) && !Number.isNaN(best))),
  CumSum: cumSum,
};
