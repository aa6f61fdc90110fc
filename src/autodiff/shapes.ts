/**
 * Static shape inference: the type and the fixed shape of each output of a node, from its inputs' static
 * shapes and, for the inputs that decide a shape (Reshape's shape, Expand's shape, Slice's starts/ends/axes/
 * steps, Squeeze/Unsqueeze/Reduce axes, Split sizes, Pad's pads, Tile's repeats, Range's bounds,
 * ConstantOfShape's shape, OneHot's depth), their constant values.
 *
 * The rules follow the same ONNX semantics as the reference ops and reuse their geometry functions
 * (src/autodiff/ops/), so what the evaluator computes and what this infers cannot drift apart. `If` is not
 * here: specialise inlines it or infers its outputs through its branches. An op without a rule, or a
 * shape-deciding input that is not a constant, raises a PackageError naming the op and the node.
 */
import { PackageError } from '../errors.ts';
import type { OnnxDataType, OnnxNode } from '../formats/onnxModel.ts';
import { convGeometry } from './ops/conv.ts';
import { elementwiseOps, elementwiseOutputType } from './ops/elementwise.ts';
import { constantValue, fillValue, rangeLength } from './ops/generate.ts';
import { gatherDims, oneHotDims } from './ops/indexing.ts';
import { concatDims, padAmounts, sliceAxes, splitSizes, tileDims, transposePerm } from './ops/layout.ts';
import { einsumExtents, gemmDims, matmulDims, parseEinsum } from './ops/matmul.ts';
import { layerNormGeometry } from './ops/normalize.ts';
import { argGeometry, reduceGeometry } from './ops/reduce.ts';
import { flattenDims, reshapeDims, shapeSlice, squeezeDims, unsqueezeDims } from './ops/reshape.ts';
import { broadcastShapes, intsOf, nodeWhere, opError } from './ops/tensor.ts';
import type { StaticValue, Tensor64 } from './values.ts';

/** The constant value of a node's input i, when it is a constant (undefined otherwise or when omitted). */
export type ConstantInput = (i: number) => Tensor64 | undefined;

type ShapeRule = (node: OnnxNode, inputs: Array<StaticValue | undefined>, need: (i: number) => Tensor64 | undefined, opset: number) => StaticValue[];

const value = (dataType: OnnxDataType, shape: readonly number[]): StaticValue => ({ dataType, shape: [...shape] });

function first(node: OnnxNode, inputs: Array<StaticValue | undefined>): StaticValue {
  const x = inputs[0];
  if (x === undefined) throw opError(node, 'input 0 is required but missing');
  return x;
}

/** Elementwise ops: the inputs broadcast; the type as the op says (bool for comparisons, `to` for Cast …). */
const elementwise: ShapeRule = (node, inputs) => {
  const present = inputs.filter((v): v is StaticValue => v !== undefined);
  // Clip's bounds and CastLike's target do not take part in the broadcast.
  const shaped = node.opType === 'Clip' || node.opType === 'CastLike' || node.opType === 'Dropout' ? [first(node, inputs)] : present;
  const shape = broadcastShapes(shaped.map((v) => v.shape), node);
  return elementwiseOutputType(node, inputs.map((v) => v?.dataType)).map((type) => value(type, shape));
};

const RULES: Record<string, ShapeRule> = {
  ...Object.fromEntries(Object.keys(elementwiseOps).map((op) => [op, elementwise])),

  // Reductions and normalisations
  ...Object.fromEntries(['ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceSumSquare', 'ReduceL1', 'ReduceL2',
    'ReduceLogSum', 'ReduceLogSumExp'].map((op): [string, ShapeRule] => [op, (node, inputs, need) => {
    const x = first(node, inputs);
    return [value(x.dataType, reduceGeometry(node, x.shape, need(1)).dims)];
  }])),
  ArgMax: (node, inputs) => [value('int64', argGeometry(node, first(node, inputs).shape).dims)],
  ArgMin: (node, inputs) => [value('int64', argGeometry(node, first(node, inputs).shape).dims)],
  CumSum: (node, inputs) => [first(node, inputs)],
  Softmax: (node, inputs) => [first(node, inputs)],
  LogSoftmax: (node, inputs) => [first(node, inputs)],
  LayerNormalization: (node, inputs) => {
    const x = first(node, inputs);
    const { statDims, statType } = layerNormGeometry(node, x.shape);
    return [x, value(statType, statDims), value(statType, statDims)];
  },

  // Products
  MatMul: (node, inputs) => {
    const [a, b] = [first(node, inputs), inputs[1]];
    if (!b) throw opError(node, 'MatMul needs two inputs');
    return [value(a.dataType, matmulDims(a.shape, b.shape, node))];
  },
  Gemm: (node, inputs) => {
    const [a, b] = [first(node, inputs), inputs[1]];
    if (!b) throw opError(node, 'Gemm needs A and B');
    const { m, n } = gemmDims(node, a.shape, b.shape);
    return [value(a.dataType, [m, n])];
  },
  Conv: (node, inputs) => {
    const [x, w] = [first(node, inputs), inputs[1]];
    if (!w) throw opError(node, 'Conv needs W');
    return [value(x.dataType, convGeometry(node, x.shape, w.shape).dims)];
  },
  Einsum: (node, inputs) => {
    const operands = inputs.filter((v): v is StaticValue => v !== undefined);
    const { terms, output } = parseEinsum(node, operands.length);
    const extents = einsumExtents(node, terms, operands.map((v) => v.shape));
    return [value(operands[0].dataType, [...output].map((l) => extents.get(l) ?? 0))];
  },

  // Reshapes and the ops that read dims
  Reshape: (node, inputs, need) => {
    const x = first(node, inputs);
    return [value(x.dataType, reshapeDims(node, x.shape, intsOf(need(1) as Tensor64)))];
  },
  Flatten: (node, inputs) => {
    const x = first(node, inputs);
    return [value(x.dataType, flattenDims(node, x.shape))];
  },
  Squeeze: (node, inputs, need) => {
    const x = first(node, inputs);
    return [value(x.dataType, squeezeDims(node, x.shape, need(1)))];
  },
  Unsqueeze: (node, inputs, need) => {
    const x = first(node, inputs);
    return [value(x.dataType, unsqueezeDims(node, x.shape, need(1)))];
  },
  Shape: (node, inputs) => [value('int64', [shapeSlice(node, first(node, inputs).shape).length])],
  Size: () => [value('int64', [])],

  // Layout
  Transpose: (node, inputs) => {
    const x = first(node, inputs);
    return [value(x.dataType, transposePerm(node, x.shape.length).map((p) => x.shape[p]))];
  },
  Expand: (node, inputs, need) => {
    const x = first(node, inputs);
    return [value(x.dataType, broadcastShapes([x.shape, intsOf(need(1) as Tensor64)], node))];
  },
  Concat: (node, inputs) => {
    const present = inputs.filter((v): v is StaticValue => v !== undefined);
    return [value(present[0].dataType, concatDims(node, present.map((v) => v.shape)).dims)];
  },
  Split: (node, inputs, need) => {
    const x = first(node, inputs);
    const { axis, sizes } = splitSizes(node, x.shape, need(1));
    return sizes.map((size) => value(x.dataType, x.shape.map((d, k) => (k === axis ? size : d))));
  },
  Slice: (node, inputs, need) => {
    const x = first(node, inputs);
    const constants = node.inputs.map((_, i) => (i === 0 ? undefined : need(i)));
    return [value(x.dataType, sliceAxes(node, x.shape, constants).map((a) => a.count))];
  },
  Pad: (node, inputs, need) => {
    const x = first(node, inputs);
    // The pad value does not decide the shape: it need not be a constant.
    const constants = node.inputs.map((_, i) => (i === 0 || i === 2 ? undefined : need(i)));
    const { begins, ends } = padAmounts(node, x.shape.length, constants);
    return [value(x.dataType, x.shape.map((d, k) => d + begins[k] + ends[k]))];
  },
  Tile: (node, inputs, need) => {
    const x = first(node, inputs);
    return [value(x.dataType, tileDims(node, x.shape, intsOf(need(1) as Tensor64)))];
  },

  // Indexing
  Gather: (node, inputs) => {
    const [data, indices] = [first(node, inputs), inputs[1]];
    if (!indices) throw opError(node, 'Gather needs indices');
    return [value(data.dataType, gatherDims(node, data.shape, indices.shape).dims)];
  },
  GatherElements: (node, inputs) => {
    const indices = inputs[1];
    if (!indices) throw opError(node, 'GatherElements needs indices');
    return [value(first(node, inputs).dataType, indices.shape)];
  },
  ScatterND: (node, inputs) => [first(node, inputs)],
  ScatterElements: (node, inputs) => [first(node, inputs)],
  Trilu: (node, inputs) => [first(node, inputs)],
  OneHot: (node, inputs, need) => {
    const indices = first(node, inputs);
    const values = inputs[2];
    if (!values) throw opError(node, 'OneHot needs values');
    const depth = Math.trunc((need(1) as Tensor64).data[0]);
    return [value(values.dataType, oneHotDims(node, indices.shape, depth).dims)];
  },

  // Generators
  Constant: (node) => {
    const t = constantValue(node);
    return [value(t.dataType, t.dims)];
  },
  ConstantOfShape: (node, _inputs, need) => [value(fillValue(node).dataType, intsOf(need(0) as Tensor64))],
  Range: (node, inputs, need) => {
    const [start, limit, delta] = [0, 1, 2].map((i) => (need(i) as Tensor64).data[0]);
    return [value(first(node, inputs).dataType, [rangeLength(start, limit, delta, node)])];
  },
};

/** Whether shapes.ts has a rule for the node's op. */
export function hasShapeRule(node: OnnxNode): boolean {
  return (node.domain === '' || node.domain === 'ai.onnx') && node.opType in RULES;
}

/**
 * The static type and shape of each of the node's outputs. `inputs` are the static values of the node's
 * inputs (undefined where omitted); `constant(i)` gives input i's value when it is a constant.
 */
export function inferShapes(node: OnnxNode, inputs: Array<StaticValue | undefined>, constant: ConstantInput, opset: number): StaticValue[] {
  if (!hasShapeRule(node)) {
    throw new PackageError(`operator ${node.domain ? `${node.domain}.` : ''}${node.opType} has no static shape rule`, nodeWhere(node),
      'Add its rule to src/autodiff/shapes.ts (and the op to src/autodiff/ops/), or export the graph without it.');
  }
  /** A shape-deciding input: its constant value, required when the node has that input. */
  const need = (i: number): Tensor64 | undefined => {
    const name = node.inputs[i];
    if (name === undefined || name === '') return undefined;
    const t = constant(i);
    if (t === undefined) {
      throw new PackageError(`input ${i} ("${name}") decides the output shape but is not a constant once the input shapes are fixed`,
        nodeWhere(node), 'Specialise with every input that decides a shape given (as a shape or a constant), or export the graph with static shapes.');
    }
    return t;
  };
  return RULES[node.opType](node, inputs, need, opset);
}
