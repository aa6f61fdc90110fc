/**
 * The reference evaluator against onnxruntime-web, op by op: each case is a one-node model on seeded random
 * inputs, run by ORT (float32, WebGPU provider on SwiftShader, CPU provider where WebGPU has no kernel) and
 * by the evaluator (float64); floats agree within float32 tolerance, ints and bools exactly. Then the
 * semantics worth pinning down by hand (integer division, Slice's INT64 sentinels, old opsets …), the
 * int64/float16 conversions, `If` with outer-scope values, and the errors.
 */
import { describe, expect, it } from 'vitest';
import { PackageError } from '../errors.ts';
import type { OnnxGraph, OnnxNode, OnnxTensor } from '../formats/onnxModel.ts';
import { evaluate, onnxFromTensor64, tensor64FromOnnx } from './evaluate.ts';
import { erf } from './ops/elementwise.ts';
import { halfFromNumber, numberFromHalf } from './ops/convert.ts';
import {
  attr, compareWithOrt, evaluateCase, floats, int64, int64s, ints, runOrt, seeded, t64, type NodeCase, type Tolerance,
} from './testing/ortReference.ts';
import type { Tensor64 } from './values.ts';

type Random = () => number;

/** An op's cases: built from a seeded generator; compared with ORT unless `ortSkip` says why not. */
interface OpTest {
  cases: (random: Random) => NodeCase[];
  tolerance?: Tolerance;
  ortSkip?: string;
}

const positive = (r: Random, dims: number[]) => floats(r, dims, 0.1, 3);
const bools = (r: Random, dims: number[]) => ints(r, dims, 0, 1, 'bool');
const unaryOn = (op: string, input: (r: Random, dims: number[]) => Tensor64) => (r: Random): NodeCase[] =>
  [[2, 3, 4], [5], []].map((dims) => ({ op, inputs: [input(r, dims)] }));
const binaryOn = (op: string, input: (r: Random, dims: number[]) => Tensor64) => (r: Random): NodeCase[] => [
  { op, inputs: [input(r, [2, 3, 4]), input(r, [3, 1])] },
  { op, inputs: [input(r, [1, 4]), input(r, [3, 1])] },
  { op, inputs: [input(r, []), input(r, [2, 2])] },
];
const reduceCases = (op: string, input: (r: Random, dims: number[]) => Tensor64 = floats) => (r: Random): NodeCase[] => [
  { op, inputs: [input(r, [2, 3, 4]), int64s(1)] },
  { op, inputs: [input(r, [2, 3, 4]), int64s(0, -1)], attributes: { keepdims: attr.int(0) } },
  { op, inputs: [input(r, [2, 3, 4])] },
  { op, inputs: [input(r, [2, 3, 4])], attributes: { keepdims: attr.int(0) } },
  { op, inputs: [input(r, [2, 3, 4])], attributes: { noop_with_empty_axes: attr.int(1) } },
  // Opset 13: ReduceSum's axes are an input already, the others' still an attribute.
  op === 'ReduceSum'
    ? { op, inputs: [input(r, [3, 4]), int64s(-1)], opset: 13 }
    : { op, inputs: [input(r, [3, 4])], attributes: { axes: attr.ints([-1]) }, opset: 13 },
];

const f32 = (dims: number[], data: number[]) => t64('float32', dims, data);

/** INT64_MAX as a double (2^63): Slice's "to the end"; fed to ORT as INT64_MAX again (onnxFromTensor64). */
const INT64_EDGE = 2 ** 63;

const OPS: Record<string, OpTest> = {
  // ---- float math
  MatMul: { cases: (r): NodeCase[] => [
    { op: 'MatMul', inputs: [floats(r, [3, 4]), floats(r, [4, 5])] },
    { op: 'MatMul', inputs: [floats(r, [2, 1, 3, 4]), floats(r, [3, 4, 2])] },
    { op: 'MatMul', inputs: [floats(r, [4]), floats(r, [2, 4, 5])] },
    { op: 'MatMul', inputs: [floats(r, [2, 3, 4]), floats(r, [4])] },
    { op: 'MatMul', inputs: [floats(r, [4]), floats(r, [4])] },
  ] },
  Gemm: { cases: (r): NodeCase[] => [
    { op: 'Gemm', inputs: [floats(r, [3, 4]), floats(r, [4, 5]), floats(r, [5])], attributes: { alpha: attr.float(0.5), beta: attr.float(2) } },
    { op: 'Gemm', inputs: [floats(r, [4, 3]), floats(r, [5, 4]), floats(r, [3, 1])], attributes: { transA: attr.int(1), transB: attr.int(1) } },
    { op: 'Gemm', inputs: [floats(r, [2, 4]), floats(r, [4, 3])] },
  ] },
  Add: { cases: binaryOn('Add', floats) },
  Sub: { cases: binaryOn('Sub', floats) },
  Mul: { cases: binaryOn('Mul', floats) },
  Div: { cases: (r): NodeCase[] => [
    ...binaryOn('Div', positive)(r),
    // Integer division truncates toward zero: −7 / 2 = −3.
    { op: 'Div', inputs: [ints(r, [3, 4], -20, 20), t64('int64', [4], [2, -3, 5, -7])] },
  ] },
  // One-sided broadcasts only: onnxruntime-web 1.30's WebGPU Pow fails to compile its shader when both operands
  // broadcast ([1, 4] ^ [3, 1]); that case is checked by hand below.
  Pow: { cases: (r): NodeCase[] => [
    { op: 'Pow', inputs: [positive(r, [2, 3, 4]), floats(r, [4])] },
    { op: 'Pow', inputs: [positive(r, []), floats(r, [2, 2])] },
    { op: 'Pow', inputs: [floats(r, [2, 3], 0.5, 2), t64('float32', [3], [2, 3, 0.5])] },
    { op: 'Pow', inputs: [floats(r, [2, 3]), t64('float32', [], [2])] },
  ] },
  Neg: { cases: unaryOn('Neg', floats) },
  Abs: { cases: unaryOn('Abs', floats) },
  Sqrt: { cases: unaryOn('Sqrt', positive) },
  Reciprocal: { cases: unaryOn('Reciprocal', positive) },
  Exp: { cases: unaryOn('Exp', floats) },
  Log: { cases: unaryOn('Log', positive) },
  Tanh: { cases: unaryOn('Tanh', floats) },
  Erf: { cases: unaryOn('Erf', (r, d) => floats(r, d, -4, 4)) },
  Sigmoid: { cases: unaryOn('Sigmoid', (r, d) => floats(r, d, -8, 8)) },
  Relu: { cases: unaryOn('Relu', floats) },
  Softmax: { cases: (r): NodeCase[] => [
    { op: 'Softmax', inputs: [floats(r, [2, 3, 4], -5, 5)] },
    { op: 'Softmax', inputs: [floats(r, [2, 3, 4], -5, 5)], attributes: { axis: attr.int(1) } },
    // Opset 11: the input seen as [2, 12], rows normalised.
    { op: 'Softmax', inputs: [floats(r, [2, 3, 4], -5, 5)], attributes: { axis: attr.int(1) }, opset: 11 },
  ] },
  LogSoftmax: { cases: (r): NodeCase[] => [
    { op: 'LogSoftmax', inputs: [floats(r, [2, 3, 4], -5, 5)], attributes: { axis: attr.int(0) } },
    { op: 'LogSoftmax', inputs: [floats(r, [3, 4], -5, 5)], opset: 11 },
  ] },
  LayerNormalization: { cases: (r): NodeCase[] => [
    { op: 'LayerNormalization', inputs: [floats(r, [2, 3, 8]), floats(r, [8]), floats(r, [8])], outputs: 3 },
    { op: 'LayerNormalization', inputs: [floats(r, [2, 3, 4]), floats(r, [3, 4])], attributes: { axis: attr.int(1), epsilon: attr.float(1e-3) }, outputs: 3 },
    { op: 'LayerNormalization', inputs: [floats(r, [4, 16]), floats(r, [16]), floats(r, [16])], outputs: 1 },
  ], tolerance: { absolute: 5e-5, relative: 5e-5 } },
  Gelu: { cases: (r): NodeCase[] => [
    { op: 'Gelu', inputs: [floats(r, [3, 7], -4, 4)], opset: 20 },
    { op: 'Gelu', inputs: [floats(r, [3, 7], -4, 4)], attributes: { approximate: attr.string('tanh') }, opset: 20 },
  ] },
  ReduceMean: { cases: reduceCases('ReduceMean') },
  ReduceSum: { cases: reduceCases('ReduceSum') },
  ReduceMax: { cases: reduceCases('ReduceMax') },
  ReduceSumSquare: { cases: reduceCases('ReduceSumSquare') },
  ReduceMin: { cases: reduceCases('ReduceMin') },
  ReduceProd: { cases: reduceCases('ReduceProd', (r, d) => floats(r, d, 0.5, 1.5)) },
  ReduceL1: { cases: reduceCases('ReduceL1') },
  ReduceL2: { cases: reduceCases('ReduceL2') },
  ReduceLogSum: { cases: reduceCases('ReduceLogSum', positive) },
  ReduceLogSumExp: { cases: reduceCases('ReduceLogSumExp') },
  Mean: { cases: (r): NodeCase[] => [{ op: 'Mean', inputs: [floats(r, [2, 3]), floats(r, [3]), floats(r, [2, 1])] }] },
  Floor: { cases: unaryOn('Floor', (r, d) => floats(r, d, -5, 5)) },
  Ceil: { cases: unaryOn('Ceil', (r, d) => floats(r, d, -5, 5)) },
  Round: { cases: (r): NodeCase[] => [
    ...unaryOn('Round', (r2, d) => floats(r2, d, -5, 5))(r),
    { op: 'Round', inputs: [f32([8], [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999997, -3.5])] },
  ] },
  // Vulkan lets a GPU's sin/cos be off by 2^-11 absolute (SwiftShader is, by ~1e-4).
  Sin: { cases: unaryOn('Sin', (r, d) => floats(r, d, -6, 6)), tolerance: { absolute: 2 ** -11, relative: 0 } },
  Cos: { cases: unaryOn('Cos', (r, d) => floats(r, d, -6, 6)), tolerance: { absolute: 2 ** -11, relative: 0 } },
  Sign: { cases: (r): NodeCase[] => [...unaryOn('Sign', floats)(r), { op: 'Sign', inputs: [t64('int64', [3], [-4, 0, 9])] }] },
  Mod: { cases: (r): NodeCase[] => [
    { op: 'Mod', inputs: [ints(r, [3, 4], -20, 20), t64('int64', [4], [3, -3, 7, -5])] },
    { op: 'Mod', inputs: [floats(r, [3, 4], -5, 5), t64('float32', [4], [1.5, -2, 0.75, 3])], attributes: { fmod: attr.int(1) } },
  ] },
  CastLike: { cases: (r): NodeCase[] => [{ op: 'CastLike', inputs: [floats(r, [2, 3], -5, 5), int64s(0)] }, { op: 'CastLike', inputs: [ints(r, [4], -9, 9), f32([], [0])] }] },
  Max: { cases: (r): NodeCase[] => [{ op: 'Max', inputs: [floats(r, [2, 3]), floats(r, [3]), floats(r, [2, 1])] }, { op: 'Max', inputs: [ints(r, [4], -5, 5)] }] },
  Min: { cases: (r): NodeCase[] => [{ op: 'Min', inputs: [floats(r, [2, 3]), floats(r, [3]), floats(r, [2, 1])] }] },
  Sum: { cases: (r): NodeCase[] => [{ op: 'Sum', inputs: [floats(r, [2, 3]), floats(r, [3]), floats(r, [2, 1])] }, { op: 'Sum', inputs: [floats(r, [3])] }] },
  Clip: { cases: (r): NodeCase[] => [
    { op: 'Clip', inputs: [floats(r, [3, 4]), t64('float32', [], [-0.5]), t64('float32', [], [0.75])] },
    { op: 'Clip', inputs: [floats(r, [3, 4]), t64('float32', [], [0.25])] },
    { op: 'Clip', inputs: [floats(r, [3, 4]), undefined, t64('float32', [], [0.25])] },
    { op: 'Clip', inputs: [floats(r, [3, 4])] },
  ] },
  Where: { cases: (r): NodeCase[] => [
    { op: 'Where', inputs: [bools(r, [3, 4]), floats(r, [4]), floats(r, [3, 1])] },
    { op: 'Where', inputs: [bools(r, [2, 1, 4]), ints(r, [3, 4], -9, 9), int64(-100)] },
  ] },
  Cast: { cases: (r): NodeCase[] => [
    { op: 'Cast', inputs: [floats(r, [3, 4], -5, 5)], attributes: { to: attr.int(7) } },
    { op: 'Cast', inputs: [t64('float32', [5], [0, -0.5, 2, 0.25, -3])], attributes: { to: attr.int(9) } },
    { op: 'Cast', inputs: [bools(r, [6])], attributes: { to: attr.int(1) } },
    { op: 'Cast', inputs: [ints(r, [6], -1000, 1000)], attributes: { to: attr.int(1) } },
    { op: 'Cast', inputs: [ints(r, [6], -1000, 1000)], attributes: { to: attr.int(6) } },
    { op: 'Cast', inputs: [ints(r, [6], -3, 3)], attributes: { to: attr.int(9) } },
  ] },
  Identity: { cases: (r): NodeCase[] => [{ op: 'Identity', inputs: [floats(r, [2, 3])] }, { op: 'Identity', inputs: [ints(r, [4], 0, 9)] }] },
  Dropout: {
    cases: (r): NodeCase[] => [{ op: 'Dropout', inputs: [floats(r, [2, 3])], outputs: 2 }, { op: 'Dropout', inputs: [floats(r, [5]), t64('float32', [], [0.3])] }],
    ortSkip: 'onnxruntime-web 1.30 has no Dropout kernel (a session with one fails: "Provider type for Dropout node … is not set"); checked by hand below',
  },
  Einsum: { cases: (r): NodeCase[] => [
    { op: 'Einsum', inputs: [floats(r, [3, 4]), floats(r, [4, 5])], attributes: { equation: attr.string('ij,jk->ik') } },
    { op: 'Einsum', inputs: [floats(r, [2, 3, 4]), floats(r, [2, 4, 5])], attributes: { equation: attr.string('bij,bjk->bik') } },
    { op: 'Einsum', inputs: [floats(r, [3, 4])], attributes: { equation: attr.string('ij->ji') } },
    { op: 'Einsum', inputs: [floats(r, [3, 4]), floats(r, [4, 5])], attributes: { equation: attr.string('ij,jk') } },
    { op: 'Einsum', inputs: [floats(r, [2, 3]), floats(r, [2, 3])], attributes: { equation: attr.string('ij,ij->i') } },
  ] },
  Conv: { cases: (r): NodeCase[] => [
    { op: 'Conv', inputs: [floats(r, [1, 3, 8, 8]), floats(r, [4, 3, 3, 3]), floats(r, [4])], attributes: { pads: attr.ints([1, 1, 1, 1]), strides: attr.ints([2, 2]) } },
    { op: 'Conv', inputs: [floats(r, [2, 4, 5, 5]), floats(r, [4, 2, 2, 2])], attributes: { group: attr.int(2) } },
    { op: 'Conv', inputs: [floats(r, [1, 2, 7]), floats(r, [3, 2, 3])], attributes: { pads: attr.ints([2, 1]), dilations: attr.ints([2]) } },
    // ORT refuses dilations with auto_pad SAME_* ("Dilation not supported"): that one is checked by hand below.
    { op: 'Conv', inputs: [floats(r, [1, 2, 7, 6]), floats(r, [3, 2, 2, 3])], attributes: { auto_pad: attr.string('SAME_LOWER'), strides: attr.ints([2, 1]) } },
  ], tolerance: { absolute: 5e-5, relative: 5e-5 } },

  // ---- shape and indexing
  Shape: { cases: (r): NodeCase[] => [
    { op: 'Shape', inputs: [floats(r, [2, 3, 4])] },
    { op: 'Shape', inputs: [floats(r, [2, 3, 4])], attributes: { start: attr.int(1) } },
    { op: 'Shape', inputs: [floats(r, [2, 3, 4])], attributes: { start: attr.int(-2), end: attr.int(-1) } },
    { op: 'Shape', inputs: [floats(r, [2, 3, 4])], attributes: { start: attr.int(-9), end: attr.int(9) } },
  ] },
  Size: { cases: (r): NodeCase[] => [{ op: 'Size', inputs: [floats(r, [2, 3, 4])] }, { op: 'Size', inputs: [floats(r, [])] }] },
  Reshape: { cases: (r): NodeCase[] => [
    { op: 'Reshape', inputs: [floats(r, [2, 3, 4]), int64s(0, -1)] },
    { op: 'Reshape', inputs: [floats(r, [2, 3, 4]), int64s(4, 0, 2, -1)] },
    { op: 'Reshape', inputs: [floats(r, [2, 3, 4]), int64s(6, 4)], attributes: { allowzero: attr.int(1) } },
    { op: 'Reshape', inputs: [floats(r, [2, 3]), int64s(-1)] },
  ] },
  Transpose: { cases: (r): NodeCase[] => [
    { op: 'Transpose', inputs: [floats(r, [2, 3, 4])], attributes: { perm: attr.ints([1, 2, 0]) } },
    { op: 'Transpose', inputs: [floats(r, [2, 3, 4, 5])] },
    { op: 'Transpose', inputs: [ints(r, [2, 3, 4, 2], 0, 99)], attributes: { perm: attr.ints([0, 2, 1, 3]) } },
  ] },
  // Negative steps on int64 data: ORT runs those on its CPU kernel. Its WebGPU kernel (float data) starts a
  // negative-step slice one element late — see 'ORT WebGPU Slice with a negative step' below.
  Slice: { cases: (r): NodeCase[] => {
    const x = () => floats(r, [4, 5, 6]);
    const n = () => ints(r, [4, 5, 6], -99, 99);
    return [
      { op: 'Slice', inputs: [x(), int64s(1, 0), int64s(3, -1)] },
      { op: 'Slice', inputs: [n(), int64s(-1), int64s(-INT64_EDGE), int64s(1), int64s(-1)] },
      { op: 'Slice', inputs: [x(), int64s(1, 0), int64s(INT64_EDGE, INT64_EDGE), int64s(2, 0), int64s(2, 3)] },
      { op: 'Slice', inputs: [n(), int64s(10, -10), int64s(-10, 10), int64s(0, 2), int64s(-2, 1)] },
      { op: 'Slice', inputs: [n(), int64s(4), int64s(1), int64s(-1), int64s(-1)] },
      { op: 'Slice', inputs: [x(), int64s(3), int64s(1), int64s(1)] },
      { op: 'Slice', inputs: [x(), int64s(-100), int64s(100), int64s(-1)] },
    ];
  } },
  Concat: { cases: (r): NodeCase[] => [
    { op: 'Concat', inputs: [floats(r, [2, 1, 3]), floats(r, [2, 4, 3]), floats(r, [2, 2, 3])], attributes: { axis: attr.int(1) } },
    { op: 'Concat', inputs: [int64s(1, 2), int64s(3), int64s(4, 5, 6)], attributes: { axis: attr.int(-1) } },
  ] },
  Split: { cases: (r): NodeCase[] => [
    { op: 'Split', inputs: [floats(r, [3, 6]), int64s(2, 1, 3)], attributes: { axis: attr.int(1) }, outputs: 3 },
    { op: 'Split', inputs: [floats(r, [7, 2])], attributes: { num_outputs: attr.int(3) }, outputs: 3 },
    { op: 'Split', inputs: [floats(r, [2, 6])], attributes: { axis: attr.int(-1) }, outputs: 2, opset: 13 },
  ] },
  Expand: { cases: (r): NodeCase[] => [
    { op: 'Expand', inputs: [floats(r, [3, 1]), int64s(2, 3, 4)] },
    { op: 'Expand', inputs: [floats(r, [2, 1, 4]), int64s(3, 1)] },
    { op: 'Expand', inputs: [ints(r, [1], 0, 9), int64s(2, 2)] },
  ] },
  Unsqueeze: { cases: (r): NodeCase[] => [
    { op: 'Unsqueeze', inputs: [floats(r, [2, 3]), int64s(0, -1)] },
    { op: 'Unsqueeze', inputs: [floats(r, []), int64s(0)] },
    { op: 'Unsqueeze', inputs: [floats(r, [2, 3]), int64s(1, 3)] },
  ] },
  Squeeze: { cases: (r): NodeCase[] => [
    { op: 'Squeeze', inputs: [floats(r, [1, 3, 1, 2]), int64s(-2)] },
    { op: 'Squeeze', inputs: [floats(r, [1, 3, 1, 2])] },
  ] },
  Flatten: { cases: (r): NodeCase[] => [0, 2, -1, 3].map((axis) => ({ op: 'Flatten', inputs: [floats(r, [2, 3, 4])], attributes: { axis: attr.int(axis) } })) },
  Gather: { cases: (r): NodeCase[] => [
    { op: 'Gather', inputs: [floats(r, [5, 3]), ints(r, [2, 4], -5, 4)] },
    { op: 'Gather', inputs: [floats(r, [2, 5, 3]), ints(r, [3], -5, 4)], attributes: { axis: attr.int(1) } },
    { op: 'Gather', inputs: [int64s(7, 8, 9), int64(-1)] },
  ] },
  GatherElements: { cases: (r): NodeCase[] => [
    { op: 'GatherElements', inputs: [floats(r, [3, 4]), ints(r, [3, 2], -4, 3)], attributes: { axis: attr.int(1) } },
    { op: 'GatherElements', inputs: [floats(r, [3, 4]), ints(r, [2, 4], 0, 2)] },
  ] },
  ScatterND: { cases: (r): NodeCase[] => [
    { op: 'ScatterND', inputs: [floats(r, [4, 3]), t64('int64', [2, 1], [3, 1]), floats(r, [2, 3])] },
    { op: 'ScatterND', inputs: [floats(r, [2, 3, 4]), t64('int64', [3, 2], [0, 1, 1, 2, 0, 1]), floats(r, [3, 4])], attributes: { reduction: attr.string('add') } },
    { op: 'ScatterND', inputs: [floats(r, [4]), t64('int64', [2, 1], [-1, 0]), floats(r, [2])] },
  ] },
  ScatterElements: { cases: (r): NodeCase[] => [
    { op: 'ScatterElements', inputs: [floats(r, [3, 4]), t64('int64', [2, 2], [1, 3, 0, -1]), floats(r, [2, 2])], attributes: { axis: attr.int(1) } },
    { op: 'ScatterElements', inputs: [floats(r, [3, 4]), t64('int64', [2, 4], [0, 1, 2, 0, 0, 1, 2, 0]), floats(r, [2, 4])], attributes: { reduction: attr.string('add') } },
  ] },
  Pad: { cases: (r): NodeCase[] => [
    { op: 'Pad', inputs: [floats(r, [2, 3]), int64s(1, 0, 2, 1), t64('float32', [], [1.5])] },
    { op: 'Pad', inputs: [floats(r, [3, 4]), int64s(0, -1, 1, 2)] },
    { op: 'Pad', inputs: [floats(r, [2, 3, 4]), int64s(1, 2), undefined, int64s(-1)] },
  ] },
  Tile: { cases: (r): NodeCase[] => [{ op: 'Tile', inputs: [floats(r, [2, 3]), int64s(2, 3)] }, { op: 'Tile', inputs: [ints(r, [3], 0, 9), int64s(4)] }] },
  Range: { cases: (): NodeCase[] => [
    { op: 'Range', inputs: [int64(2), int64(11), int64(3)] },
    { op: 'Range', inputs: [int64(5), int64(-4), int64(-2)] },
    { op: 'Range', inputs: [t64('float32', [], [0.5]), t64('float32', [], [3]), t64('float32', [], [0.75])] },
    { op: 'Range', inputs: [int64(3), int64(3), int64(1)] },
  ] },
  ConstantOfShape: { cases: (): NodeCase[] => [
    { op: 'ConstantOfShape', inputs: [int64s(2, 3)] },
    { op: 'ConstantOfShape', inputs: [int64s(4)], attributes: { value: { type: 'tensor', value: { name: 'v', dataType: 'int64', dims: [1], values: BigInt64Array.of(-7n) } } } },
    { op: 'ConstantOfShape', inputs: [int64s(2, 0, 3)], attributes: { value: { type: 'tensor', value: { name: 'v', dataType: 'float32', dims: [1], values: Float32Array.of(2.5) } } } },
  ] },
  Constant: { cases: (): NodeCase[] => [
    { op: 'Constant', inputs: [], attributes: { value: { type: 'tensor', value: { name: 'c', dataType: 'float32', dims: [2, 2], values: Float32Array.of(1, -2, 3.5, 4) } } } },
    { op: 'Constant', inputs: [], attributes: { value_float: attr.float(0.25) } },
    { op: 'Constant', inputs: [], attributes: { value_floats: attr.floats([1, 2.5]) } },
    { op: 'Constant', inputs: [], attributes: { value_int: attr.int(-3) } },
    { op: 'Constant', inputs: [], attributes: { value_ints: attr.ints([4, 5, -6]) } },
  ] },
  OneHot: { cases: (r): NodeCase[] => [
    { op: 'OneHot', inputs: [ints(r, [2, 3], -5, 6), int64(5), t64('float32', [2], [-1, 3])] },
    { op: 'OneHot', inputs: [ints(r, [4], 0, 3), int64(4), int64s(0, 1)], attributes: { axis: attr.int(0) } },
  ] },
  Trilu: { cases: (r): NodeCase[] => [
    { op: 'Trilu', inputs: [floats(r, [2, 4, 5])] },
    { op: 'Trilu', inputs: [floats(r, [4, 5]), int64(-1)], attributes: { upper: attr.int(0) } },
    { op: 'Trilu', inputs: [floats(r, [4, 5]), int64(2)] },
  ] },
  CumSum: { cases: (r): NodeCase[] => [
    { op: 'CumSum', inputs: [floats(r, [3, 4]), int64(1)] },
    { op: 'CumSum', inputs: [floats(r, [3, 4]), int64(0)], attributes: { exclusive: attr.int(1), reverse: attr.int(1) } },
    { op: 'CumSum', inputs: [ints(r, [5], -9, 9), int64(-1)], attributes: { exclusive: attr.int(1) } },
  ] },

  // ---- logic
  Equal: { cases: binaryOn('Equal', (r, d) => ints(r, d, 0, 2)) },
  Less: { cases: (r): NodeCase[] => [...binaryOn('Less', (r2, d) => ints(r2, d, 0, 2))(r), ...binaryOn('Less', floats)(r)] },
  LessOrEqual: { cases: binaryOn('LessOrEqual', (r, d) => ints(r, d, 0, 2)) },
  Greater: { cases: (r): NodeCase[] => [...binaryOn('Greater', (r2, d) => ints(r2, d, 0, 2))(r), ...binaryOn('Greater', floats)(r)] },
  GreaterOrEqual: { cases: binaryOn('GreaterOrEqual', (r, d) => ints(r, d, 0, 2)) },
  Not: { cases: unaryOn('Not', bools) },
  And: { cases: binaryOn('And', bools) },
  Or: { cases: binaryOn('Or', bools) },
  Xor: { cases: binaryOn('Xor', bools) },
  IsNaN: { cases: (): NodeCase[] => [{ op: 'IsNaN', inputs: [t64('float32', [5], [0, NaN, Infinity, -1, NaN])] }] },
  IsInf: { cases: (): NodeCase[] => [
    { op: 'IsInf', inputs: [t64('float32', [5], [0, NaN, Infinity, -1, -Infinity])] },
    { op: 'IsInf', inputs: [t64('float32', [5], [0, NaN, Infinity, -1, -Infinity])], attributes: { detect_positive: attr.int(0) } },
  ] },
  ArgMin: { cases: (r): NodeCase[] => [
    { op: 'ArgMin', inputs: [floats(r, [3, 4, 5])], attributes: { axis: attr.int(-1) } },
    { op: 'ArgMin', inputs: [ints(r, [4, 6], 0, 2, 'float32')], attributes: { axis: attr.int(0), select_last_index: attr.int(1), keepdims: attr.int(0) } },
  ] },
  ArgMax: { cases: (r): NodeCase[] => [
    { op: 'ArgMax', inputs: [floats(r, [3, 4, 5])], attributes: { axis: attr.int(1) } },
    { op: 'ArgMax', inputs: [floats(r, [3, 4])], attributes: { axis: attr.int(-1), keepdims: attr.int(0) } },
    { op: 'ArgMax', inputs: [ints(r, [4, 6], 0, 2, 'float32')], attributes: { axis: attr.int(1), select_last_index: attr.int(1) } },
    { op: 'ArgMax', inputs: [ints(r, [4, 6], 0, 2, 'float32')], attributes: { axis: attr.int(1) } },
  ] },
};

describe('each op against onnxruntime-web', () => {
  it.for(Object.keys(OPS))('%s', async (op, context) => {
    const test = OPS[op];
    const cases = test.cases(seeded(op.length * 7919 + op.charCodeAt(0)));
    if (test.ortSkip) {
      for (const c of cases) evaluateCase(c);
      context.skip(test.ortSkip);
    }
    for (const [k, c] of cases.entries()) await compareWithOrt(c, test.tolerance, `${op} case ${k}`);
  });
});

describe('ORT quirks found on the way', () => {
  // onnxruntime-web 1.30's WebGPU Slice, on float data with a negative step, starts one element late: it gives
  // x[..., 5:2:-1] for x[..., 4:1:-1]. Its CPU kernel (int64 data, above) agrees with the evaluator. Expected to
  // fail until ORT is fixed; a gradient graph for WebGPU should not use negative-step Slices meanwhile.
  it.fails('ORT WebGPU Slice with a negative step matches the ONNX semantics', async () => {
    const x = t64('float32', [2, 6], Array.from({ length: 12 }, (_, i) => i));
    await compareWithOrt({ op: 'Slice', inputs: [x, int64s(4), int64s(1), int64s(-1), int64s(-1)] });
  });
});

/** The evaluator's first output for one node. */
const run = (c: NodeCase): Tensor64 => evaluateCase(c)[0];
const values = (t: Tensor64) => Array.from(t.data);

describe('semantics checked by hand', () => {
  it('integer Div truncates toward zero; Mod takes the divisor\'s sign unless fmod=1', () => {
    const a = t64('int64', [4], [-7, 7, -7, 7]);
    const b = t64('int64', [4], [2, -2, -2, 2]);
    expect(values(run({ op: 'Div', inputs: [a, b] }))).toEqual([-3, -3, 3, 3]);
    expect(values(run({ op: 'Mod', inputs: [a, b] }))).toEqual([1, -1, -1, 1]);
    expect(values(run({ op: 'Mod', inputs: [a, b], attributes: { fmod: attr.int(1) } }))).toEqual([-1, 1, -1, 1]);
    expect(values(run({ op: 'Div', inputs: [f32([1], [-7]), f32([1], [2])] }))).toEqual([-3.5]);
  });

  it('Pow broadcasts both operands (the case ORT WebGPU cannot compile)', () => {
    const out = run({ op: 'Pow', inputs: [f32([1, 2], [1, 2]), f32([3, 1], [2, 3, 0.5])] });
    expect(out.dims).toEqual([3, 2]);
    expect(values(out)).toEqual([1, 4, 1, 8, 1, Math.SQRT2]);
  });

  it('Slice clamps INT64 sentinels, counts negative starts from the end, and walks negative steps', () => {
    const x = t64('int64', [10], Array.from({ length: 10 }, (_, i) => i));
    const slice = (...inputs: Tensor64[]) => values(run({ op: 'Slice', inputs: [x, ...inputs] }));
    expect(slice(int64s(-1), int64s(-INT64_EDGE), int64s(0), int64s(-1))).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    expect(slice(int64s(1), int64s(INT64_EDGE), int64s(0), int64s(3))).toEqual([1, 4, 7]);
    expect(slice(int64s(-100), int64s(100))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(slice(int64s(8), int64s(2), int64s(0), int64s(-2))).toEqual([8, 6, 4]);
    expect(slice(int64s(5), int64s(5))).toEqual([]);
    expect(slice(int64s(100), int64s(-100), int64s(0), int64s(-1))).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    // Before opset 10: starts/ends/axes are attributes.
    const old = run({ op: 'Slice', inputs: [x], attributes: { starts: attr.ints([2]), ends: attr.ints([-3]), axes: attr.ints([0]) }, opset: 9 });
    expect(values(old)).toEqual([2, 3, 4, 5, 6]);
  });

  it('Reshape copies a 0 from the input unless allowzero=1, and infers one −1', () => {
    const x = f32([2, 3, 4], new Array(24).fill(0));
    expect(run({ op: 'Reshape', inputs: [x, int64s(0, -1)] }).dims).toEqual([2, 12]);
    expect(run({ op: 'Reshape', inputs: [x, int64s(-1, 0, 2)] }).dims).toEqual([4, 3, 2]);
    const empty = f32([0, 3], []);
    expect(run({ op: 'Reshape', inputs: [empty, int64s(3, 0)], attributes: { allowzero: attr.int(1) } }).dims).toEqual([3, 0]);
    expect(() => run({ op: 'Reshape', inputs: [x, int64s(5, -1)] })).toThrow(PackageError);
  });

  it('Softmax normalises one axis from opset 13, flattened rows before', () => {
    const x = f32([2, 2], [0, Math.log(3), 0, 0]);
    const along = values(run({ op: 'Softmax', inputs: [x], attributes: { axis: attr.int(0) }, opset: 13 }));
    along.forEach((v, i) => expect(v).toBeCloseTo([0.5, 0.75, 0.5, 0.25][i], 14));
    // Opset 11, axis 0: the whole tensor is one row.
    const old = values(run({ op: 'Softmax', inputs: [x], attributes: { axis: attr.int(0) }, opset: 11 }));
    old.forEach((v, i) => expect(v).toBeCloseTo([1 / 6, 3 / 6, 1 / 6, 1 / 6][i], 14));
  });

  it('Reduce* read axes from an attribute or an input; no axes reduce all unless noop_with_empty_axes', () => {
    const x = f32([2, 3], [1, 2, 3, 4, 5, 6]);
    expect(values(run({ op: 'ReduceMean', inputs: [x], attributes: { axes: attr.ints([1]) }, opset: 13 }))).toEqual([2, 5]);
    expect(values(run({ op: 'ReduceMean', inputs: [x, int64s(0)] }))).toEqual([2.5, 3.5, 4.5]);
    expect(run({ op: 'ReduceSum', inputs: [x], attributes: { keepdims: attr.int(0) } }).dims).toEqual([]);
    expect(values(run({ op: 'ReduceSum', inputs: [x, int64s()], attributes: { noop_with_empty_axes: attr.int(1) } }))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(values(run({ op: 'ReduceMean', inputs: [t64('int64', [2], [3, 4])] }))).toEqual([3]);
  });

  it('Cast truncates toward zero, wraps narrow integers, and makes bools of non-zeros', () => {
    const x = f32([5], [-2.7, 2.7, 0, 0.1, 300]);
    expect(values(run({ op: 'Cast', inputs: [x], attributes: { to: attr.int(7) } }))).toEqual([-2, 2, 0, 0, 300]);
    expect(values(run({ op: 'Cast', inputs: [x], attributes: { to: attr.int(9) } }))).toEqual([1, 1, 0, 1, 1]);
    expect(values(run({ op: 'Cast', inputs: [t64('int64', [2], [300, -1])], attributes: { to: attr.int(2) } }))).toEqual([44, 255]);
    expect(run({ op: 'Cast', inputs: [x], attributes: { to: attr.int(9) } }).dataType).toBe('bool');
  });

  it('erf and Gelu agree with published values', () => {
    const table: Array<[number, number]> = [[0.5, 0.5204998778130465], [1, 0.8427007929497149], [2, 0.9953222650189527],
      [3, 0.9999779095030014], [-1.5, -0.9661051464753108], [4, 0.9999999845827421], [1e-8, 1.1283791670955126e-8]];
    for (const [x, expected] of table) expect(Math.abs(erf(x) - expected)).toBeLessThan(2e-16 * Math.max(1, Math.abs(expected) * 4));
    const gelu = values(run({ op: 'Gelu', inputs: [f32([2], [1, -1])], opset: 20 }));
    expect(gelu[0]).toBeCloseTo(0.8413447460685429, 14);
    expect(gelu[1]).toBeCloseTo(-0.15865525393145707, 14);
    const tanh = values(run({ op: 'Gelu', inputs: [f32([1], [1])], attributes: { approximate: attr.string('tanh') }, opset: 20 }));
    expect(tanh[0]).toBeCloseTo(0.5 * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * 1.044715)), 14);
  });

  it('Dropout at inference is the identity, with a mask of ones', () => {
    const x = f32([2, 2], [1, -2, 3, -4]);
    const [y, mask] = evaluateCase({ op: 'Dropout', inputs: [x, f32([], [0.5])], outputs: 2 });
    expect(values(y)).toEqual([1, -2, 3, -4]);
    expect(mask.dataType).toBe('bool');
    expect(values(mask)).toEqual([1, 1, 1, 1]);
  });

  it('Conv with SAME_UPPER and a dilation (which ORT refuses) pads the reach, odd pad at the end', () => {
    const x = f32([1, 1, 5], [1, 2, 3, 4, 5]);
    const w = f32([1, 1, 2], [1, 1]);
    const y = run({ op: 'Conv', inputs: [x, w], attributes: { auto_pad: attr.string('SAME_UPPER'), dilations: attr.ints([2]) } });
    expect(y.dims).toEqual([1, 1, 5]);
    expect(values(y)).toEqual([2, 4, 6, 8, 4]);
  });

  it('Gather with a scalar index drops the axis; negative indices count from the end', () => {
    const x = f32([3, 2], [1, 2, 3, 4, 5, 6]);
    const y = run({ op: 'Gather', inputs: [x, int64(-1)] });
    expect(y.dims).toEqual([2]);
    expect(values(y)).toEqual([5, 6]);
    expect(() => run({ op: 'Gather', inputs: [x, int64(3)] })).toThrow(PackageError);
  });
});

describe('tensor conversions', () => {
  it('int64 comes in exactly up to 2^53 and goes out saturated, so INT64_MAX/MIN survive the round trip', () => {
    const big: OnnxTensor = { name: 'b', dataType: 'int64', dims: [5], values: BigInt64Array.of(2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n, -5n, 0n) };
    const t = tensor64FromOnnx(big);
    expect(values(t).slice(2)).toEqual([2 ** 53, -5, 0]);
    expect(Array.from(onnxFromTensor64('b', t).values as BigInt64Array)).toEqual([2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n, -5n, 0n]);
  });

  it('each type goes out in its storage: bools as bytes, narrow ints saturated, floats as float32', () => {
    const data = Float64Array.of(-1.5, 0, 2.5, 1e10);
    const out = (dataType: Tensor64['dataType']) => onnxFromTensor64('t', { dataType, dims: [4], data }).values;
    expect(out('bool')).toEqual(Uint8Array.of(1, 0, 1, 1));
    expect(out('int32')).toEqual(Int32Array.of(-1, 0, 2, 2147483647));
    expect(out('uint8')).toEqual(Uint8Array.of(0, 0, 2, 255));
    expect(out('float32')).toEqual(Float32Array.of(-1.5, 0, 2.5, 1e10));
    expect(tensor64FromOnnx({ name: 'b', dataType: 'bool', dims: [2], values: Uint8Array.of(0, 7) }).data).toEqual(Float64Array.of(0, 1));
  });

  it('float16 rounds to nearest even, with subnormals, infinities and NaN', () => {
    const roundTrip = (x: number) => numberFromHalf(halfFromNumber(x));
    expect([1, -2, 65504, 2 ** -24, 2 ** -14, 0.5].map(roundTrip)).toEqual([1, -2, 65504, 2 ** -24, 2 ** -14, 0.5]);
    expect(roundTrip(1 + 2 ** -11)).toBe(1); // halfway: to even
    expect(roundTrip(1 + 3 * 2 ** -11)).toBe(1 + 2 ** -9);
    expect(roundTrip(70000)).toBe(Infinity);
    expect(roundTrip(-Infinity)).toBe(-Infinity);
    expect(roundTrip(NaN)).toBeNaN();
    expect(roundTrip(2 ** -26)).toBe(0);
    const half: OnnxTensor = { name: 'h', dataType: 'float16', dims: [2], values: Uint16Array.of(0x3c00, 0xc000) };
    expect(values(tensor64FromOnnx(half))).toEqual([1, -2]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Graphs: If with both branches and outer-scope values, needed nodes only, errors

const node = (opType: string, inputs: string[], outputs: string[], attributes: OnnxNode['attributes'] = {}): OnnxNode =>
  ({ opType, domain: '', name: `${opType}_${outputs[0]}`, inputs, outputs, attributes });
const branch = (name: string, nodes: OnnxNode[], output: string): OnnxGraph =>
  ({ name, nodes, initializers: [], inputs: [], outputs: [{ name: output, dataType: 'float32' }], valueInfo: [] });

/**
 * flag (int64) → Cast → cond; a = x·x outside; If(cond): then = a + x (both from outside), else = a nested
 * If on the same cond whose branches read `a` and the else branch's own value.
 */
function ifGraph(): OnnxGraph {
  const inner = node('If', ['cond'], ['inner_out'], {
    then_branch: { type: 'graph', value: branch('inner_then', [node('Sub', ['a', 'x'], ['it'])], 'it') },
    else_branch: { type: 'graph', value: branch('inner_else', [node('Mul', ['a', 'scaled'], ['ie'])], 'ie') },
  });
  return {
    name: 'if_graph',
    nodes: [
      node('Cast', ['flag'], ['cond'], { to: attr.int(9) }),
      node('Mul', ['x', 'x'], ['a']),
      node('If', ['cond'], ['y'], {
        then_branch: { type: 'graph', value: branch('then', [node('Add', ['a', 'x'], ['t'])], 't') },
        else_branch: { type: 'graph', value: branch('else', [node('Neg', ['x'], ['scaled']), inner, node('Identity', ['inner_out'], ['e'])], 'e') },
      }),
    ],
    initializers: [],
    inputs: [{ name: 'flag', dataType: 'int64', shape: [] }, { name: 'x', dataType: 'float32', shape: [3] }],
    outputs: [{ name: 'y', dataType: 'float32', shape: [3] }],
    valueInfo: [],
  };
}

describe('graphs', () => {
  it('If runs the branch its condition picks; branches see outer values, nested ones too (against ORT)', async () => {
    const x = f32([3], [1, -2, 0.5]);
    for (const flag of [1, 0]) {
      const feeds = { flag: int64(flag), x };
      const expected = evaluate(ifGraph(), feeds).y;
      // then: x² + x; else (cond false, so the inner else): x² · (−x).
      expect(values(expected)).toEqual(flag ? [2, 2, 0.75] : [-1, 8, -0.125]);
      const got = await runOrt({ irVersion: 9, opsets: [{ domain: '', version: 18 }], producerName: '', producerVersion: '', metadata: {}, graph: ifGraph() }, feeds);
      expect(values(got.y)).toEqual(values(expected));
    }
  });

  it('runs only the nodes the asked outputs need, and can return any value', () => {
    const graph: OnnxGraph = {
      name: 'partial', nodes: [node('Mul', ['x', 'x'], ['a']), node('NotAnOp', ['x'], ['b']), node('Add', ['a', 'w'], ['c'])],
      initializers: [{ name: 'w', dataType: 'float32', dims: [1], values: Float32Array.of(10) }],
      inputs: [{ name: 'x', dataType: 'float32', shape: ['n'] }], outputs: [{ name: 'b', dataType: 'float32' }], valueInfo: [],
    };
    const out = evaluate(graph, { x: f32([2], [2, 3]) }, { outputs: ['a', 'c'] });
    expect(values(out.a)).toEqual([4, 9]);
    expect(values(out.c)).toEqual([14, 19]);
  });

  it('refuses an op it does not know, naming the op and the node', () => {
    const graph: OnnxGraph = {
      name: 'g', nodes: [{ ...node('FancyAttention', ['x'], ['y']), domain: 'com.microsoft', name: 'attention_7' }],
      initializers: [], inputs: [{ name: 'x', dataType: 'float32', shape: [1] }], outputs: [{ name: 'y', dataType: 'float32' }], valueInfo: [],
    };
    let error: unknown;
    try {
      evaluate(graph, { x: f32([1], [1]) });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PackageError);
    expect((error as PackageError).problem).toContain('com.microsoft.FancyAttention');
    expect((error as PackageError).where).toContain('attention_7');
  });

  it('refuses a missing feed and a feed that contradicts a declared dim', () => {
    const graph: OnnxGraph = {
      name: 'g', nodes: [node('Neg', ['x'], ['y'])], initializers: [],
      inputs: [{ name: 'x', dataType: 'float32', shape: ['n', 2] }], outputs: [{ name: 'y', dataType: 'float32' }], valueInfo: [],
    };
    expect(() => evaluate(graph, {})).toThrow(/not fed/);
    expect(() => evaluate(graph, { x: f32([2, 3], [1, 2, 3, 4, 5, 6]) })).toThrow(/declared/);
    expect(values(evaluate(graph, { x: f32([1, 2], [1, 2]) }).y)).toEqual([-1, -2]);
  });
});
