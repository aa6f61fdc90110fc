/**
 * Gradients of the ops that index: Slice, Pad, Gather, GatherElements.
 *
 * Slice with unit steps and Pad (constant mode) are each other's gradient: the gradient of a slice is dy padded
 * with zeros back to x's shape, the gradient of a pad is dy sliced back to x's. A slice with another step is a
 * gather with constant indices along its axis.
 *
 * Gather and GatherElements scatter dy back to the positions the indices picked, summing where an index is
 * picked twice. The scatter is written as a one-hot product, `dData = onehot(indices)ᵀ · dy` — an Equal of the
 * indices against a constant range, a Cast, and a MatMul (Gather) or a Mul and ReduceSum (GatherElements) —
 * rather than ScatterND/ScatterElements with reduction = "add": those sum with float atomics on the GPU, in an
 * order that changes from run to run, and onnxruntime-web's WebGPU provider only gained them lately, while
 * MatMul and the elementwise ops are its best-kept kernels and add in a fixed order. The one-hot matrix costs
 * (#indices × axis length) elements: small for the indexing inside a transformer (positions, a token picked per
 * row, the label's log-probability of a vocabulary row); an embedding table is a frozen weight, never active.
 */
import type { OnnxDataType } from '../../formats/onnxModel.ts';
import { onnxTypeNumber, product } from './emitter.ts';
import type { NodeGradient, Rule } from './rule.ts';

/** The indices a Slice takes along one axis, per ONNX's clamping rules. */
function sliceIndices(start: number, end: number, step: number, dim: number): number[] {
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  if (step > 0) {
    start = Math.min(Math.max(start, 0), dim);
    end = Math.min(Math.max(end, 0), dim);
  } else {
    start = Math.min(Math.max(start, 0), dim - 1);
    end = Math.min(Math.max(end, -1), dim - 1);
  }
  const picked: number[] = [];
  for (let i = start; step > 0 ? i < end : i > end; i += step) picked.push(i);
  return picked;
}

/** A constant one-hot matrix [rows, picked.length]: 1 at (picked[k], k). */
function constantOneHot(g: NodeGradient, rows: number, picked: number[]): string {
  const values = new Array<number>(rows * picked.length).fill(0);
  picked.forEach((row, k) => { values[row * picked.length + k] = 1; });
  return g.emit.constant(g.dataType, [rows, picked.length], values, 'onehot');
}

/** g's axis `axis` (of size picked.length) scattered back to size `rows` by a one-hot product. */
function scatterAlongAxis(g: NodeGradient, dY: string, shape: number[], axis: number, rows: number, oneHot: string): { value: string; shape: number[] } {
  const e = g.emit;
  const [pre, n, post] = [product(shape.slice(0, axis)), shape[axis], product(shape.slice(axis + 1))];
  const flat = e.reshape(dY, pre === 1 ? [n, post] : [pre, n, post], 'dY_rows');
  const scattered = e.op('MatMul', [oneHot, flat], {}, 'onehot_dY'); // [pre,] rows, post
  const outShape = shape.map((d, i) => (i === axis ? rows : d));
  return { value: e.reshape(scattered, outShape, 'scattered'), shape: outShape };
}

/**
 * y = x[starts:ends:steps] along axes:  dx = dy scattered back. Axes with a step other than 1 are scattered by a
 * constant one-hot product; the unit-step ones then by one Pad with zeros.
 */
const slice: Rule = (g) => {
  const e = g.emit;
  const shape = g.shapeIn(0);
  const starts = g.requireConstant(1, 'starts');
  const ends = g.requireConstant(2, 'ends');
  const axes = (g.has(3) ? g.requireConstant(3, 'axes') : starts.map((_, i) => i)).map((a) => g.axis(a, shape.length));
  const steps = g.has(4) ? g.requireConstant(4, 'steps') : starts.map(() => 1);
  if (product(g.shapeOut()) === 0) return [e.zeros(shape, g.dataType, 'dX')];
  let dX = g.dY;
  let current = g.shapeOut();
  const padBegin = shape.map(() => 0);
  const padEnd = shape.map(() => 0);
  axes.forEach((axis, i) => {
    const picked = sliceIndices(starts[i], ends[i], steps[i], shape[axis]);
    if (steps[i] === 1) {
      padBegin[axis] = picked[0];
      padEnd[axis] = shape[axis] - picked[picked.length - 1] - 1;
    } else {
      ({ value: dX, shape: current } = scatterAlongAxis(g, dX, current, axis, shape[axis], constantOneHot(g, shape[axis], picked)));
    }
  });
  if (padBegin.some((p) => p) || padEnd.some((p) => p)) {
    dX = e.op('Pad', [dX, e.ints([...padBegin, ...padEnd], 'pads')], { mode: 'constant' }, 'dX');
  }
  return [dX];
};

/**
 * y = pad(x, pads) in constant mode:  dx = dy cropped back (a Slice where the pad added, a Pad with zeros where a
 * negative pad cropped);  dvalue = Σ dy over the padded positions.
 */
const pad: Rule = (g) => {
  const e = g.emit;
  const mode = g.string('mode', 'constant');
  if (mode !== 'constant') g.refuse(`in mode "${mode}"`, 'Only constant padding has a gradient rule; use mode "constant".');
  const [shape, out] = [g.shapeIn(0), g.shapeOut()];
  const rank = shape.length;
  const pads = g.requireConstant(1, 'pads');
  const axes = (g.has(3) ? g.requireConstant(3, 'axes') : shape.map((_, i) => i)).map((a) => g.axis(a, rank));
  const begin = shape.map(() => 0);
  const end = shape.map(() => 0);
  axes.forEach((axis, i) => { begin[axis] = pads[i]; end[axis] = pads[i + axes.length]; });
  let inner = g.dY;
  if (begin.some((p) => p > 0) || end.some((p) => p > 0)) {
    const all = shape.map((_, i) => i);
    inner = e.op('Slice', [g.dY, e.ints(begin.map((b) => Math.max(b, 0))), e.ints(out.map((d, i) => d - Math.max(end[i], 0))), e.ints(all)], {}, 'dY_inner');
  }
  let dX = inner;
  if (begin.some((p) => p < 0) || end.some((p) => p < 0)) {
    dX = e.op('Pad', [inner, e.ints([...begin.map((b) => Math.max(-b, 0)), ...end.map((p) => Math.max(-p, 0))], 'pads')], { mode: 'constant' }, 'dX');
  }
  let dValue: string | undefined;
  if (g.has(2) && g.wants(2)) {
    const all = out.map((_, i) => i);
    const total = e.reduceSum(g.dY, all, false, 'sum_dY');
    const kept = inner === g.dY ? total : e.reduceSum(inner, all, false, 'sum_inner');
    dValue = e.reshape(e.op('Sub', [total, kept], {}, 'dValue'), g.shapeIn(2), 'dValue');
  }
  return [g.wants(0) ? dX : undefined, undefined, dValue];
};

/**
 * Indices as the comparisons want them: int32 (WebGPU's integer type; int64 arithmetic runs on the CPU in
 * onnxruntime-web), negative ones counted from the end. Constant indices are normalised here, once.
 */
function indicesForOneHot(g: NodeGradient, dim: number, shape: number[]): { indices: string; type: OnnxDataType } {
  const e = g.emit;
  const constant = g.constantIn(1);
  if (constant) return { indices: e.constant('int32', shape, constant.map((i) => (i < 0 ? i + dim : i)), 'indices'), type: 'int32' };
  let indices = e.reshape(g.input(1), shape, 'indices');
  if (g.typeOf(g.input(1)).dataType !== 'int32') indices = e.op('Cast', [indices], { to: onnxTypeNumber('int32') }, 'indices_i32');
  const negative = e.op('Less', [indices, e.constant('int32', [], [0], 'zero_i32')], {}, 'negative');
  indices = e.op('Where', [negative, e.op('Add', [indices, e.constant('int32', [], [dim], 'dim')], {}, 'wrapped'), indices], {}, 'indices_pos');
  return { indices, type: 'int32' };
}

/** A one-hot: Cast(Equal(indices, range)) with `range` a constant 0..dim−1 of the given shape. */
function oneHot(g: NodeGradient, indices: string, dim: number, rangeShape: number[]): string {
  const e = g.emit;
  const range = e.constant('int32', rangeShape, Array.from({ length: dim }, (_, i) => i), 'range');
  return e.mask(e.op('Equal', [range, indices], {}, 'is_index'), g.dataType, 'onehot');
}

/** y = gather(data, indices; axis):  ddata = onehot(indices)ᵀ · dy along the axis (a MatMul). */
const gather: Rule = (g) => {
  if (!g.wants(0)) return [undefined, undefined];
  const data = g.shapeIn(0);
  const axis = g.axis(g.int('axis', 0), data.length);
  const n = product(g.shapeIn(1));
  const dim = data[axis];
  const { indices } = indicesForOneHot(g, dim, [1, n]);
  const hot = oneHot(g, indices, dim, [dim, 1]); // [dim, n]
  const rows = [...data.slice(0, axis), n, ...data.slice(axis + 1)];
  const { value } = scatterAlongAxis(g, g.dY, rows, axis, dim, hot);
  return [value, undefined];
};

/**
 * y = gatherElements(data, indices; axis), y[p, k, q] = data[p, indices[p, k, q], q]:
 *   ddata[p, j, q] = Σ_k dy[p, k, q] · [indices[p, k, q] = j], then zeros where indices is shorter than data.
 * With one index per row (k of size 1, as a label's log-probability) it is a single broadcast Mul.
 */
const gatherElements: Rule = (g) => {
  if (!g.wants(0)) return [undefined, undefined];
  const e = g.emit;
  const data = g.shapeIn(0);
  const idxShape = g.shapeIn(1);
  const rank = data.length;
  const axis = g.axis(g.int('axis', 0), rank);
  const dim = data[axis];
  const trailing = rank - axis - 1;
  let dData: string;
  if (idxShape[axis] === 1) {
    const { indices } = indicesForOneHot(g, dim, idxShape);
    const hot = oneHot(g, indices, dim, [dim, ...new Array(trailing).fill(1)]); // idxShape with axis → dim
    dData = e.op('Mul', [hot, g.dY], {}, 'dData');
  } else {
    const expanded = [...idxShape.slice(0, axis), 1, ...idxShape.slice(axis)];
    const { indices } = indicesForOneHot(g, dim, expanded);
    const hot = oneHot(g, indices, dim, [dim, 1, ...new Array(trailing).fill(1)]); // [P, dim, K, Q]
    const dY = e.reshape(g.dY, expanded, 'dY_expanded');
    dData = e.reduceSum(e.op('Mul', [hot, dY], {}, 'hot_dY'), [axis + 1], false, 'dData');
  }
  const reached = idxShape.map((d, i) => (i === axis ? dim : d));
  if (reached.some((d, i) => d !== data[i])) {
    const pads = [...data.map(() => 0), ...data.map((d, i) => d - reached[i])];
    dData = e.op('Pad', [dData, e.ints(pads, 'pads')], { mode: 'constant' }, 'dData_padded');
  }
  return [dData, undefined];
};

export const indexingRules: Record<string, Rule> = { Slice: slice, Pad: pad, Gather: gather, GatherElements: gatherElements };
