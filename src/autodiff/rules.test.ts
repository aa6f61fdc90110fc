/**
 * Every gradient rule on its own, against central finite differences in float64 (the reference evaluator runs
 * the forward graph at x ± h·eᵢ, h = 1e-6, for a random linear functional of the outputs as the loss): several
 * shapes per op, broadcasting cases and each attribute variant. Then the conventions finite differences cannot
 * see (ties of Max/ReduceMax, Relu at 0), and the refusals: an op without a rule, and variants a rule refuses.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { OnnxNode } from '../formats/onnxModel.ts';
import { PackageError } from '../errors.ts';
import type { Tensor64 } from './values.ts';
import { evaluate } from './evaluate.ts';
import { checkGradients, modelOf, node, randomSource, staticValues, tensor, uniform } from './testing/finiteDifferences.ts';
import { RULES } from './rules/index.ts';
import { buildVjp, gradientName } from './vjp.ts';

const random = randomSource(2024);
/** Random float64 inputs in [low, high). */
const x = (dims: number[], low = -1, high = 1): Tensor64 => uniform(random, dims, low, high);
/** Random values of magnitude in [0.2, 1) with a random sign: away from the kinks at 0. */
const awayFromZero = (dims: number[]): Tensor64 => {
  const t = uniform(random, dims, 0.2, 1);
  t.data.forEach((v, i) => { t.data[i] = random() < 0.5 ? -v : v; });
  return t;
};
const ints = (values: number[], dims = [values.length]): Tensor64 => tensor('int64', dims, values);
const bools = (dims: number[]): Tensor64 => ({ dataType: 'bool', dims, data: Float64Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => (random() < 0.5 ? 1 : 0)) });

interface Case {
  variant: string;
  nodes: OnnxNode[];
  inputs: Record<string, Tensor64>;
  constants?: Record<string, Tensor64>;
  /** Default: the last node's outputs. */
  outputs?: string[];
  /** Default: every float input. */
  wrt?: string[];
  opset?: number;
  tolerance?: number;
}

const one = (opType: string, inputs: string[], attributes: Parameters<typeof node>[3] = {}, outputs = ['y']) => [node(opType, inputs, outputs, attributes)];

const CASES: Record<string, Case[]> = {
  Add: [
    { variant: 'same shape', nodes: one('Add', ['a', 'b']), inputs: { a: x([2, 3]), b: x([2, 3]) } },
    { variant: 'broadcast [2,3,4] + [4]', nodes: one('Add', ['a', 'b']), inputs: { a: x([2, 3, 4]), b: x([4]) } },
    { variant: 'broadcast [2,1,4] + [3,1]', nodes: one('Add', ['a', 'b']), inputs: { a: x([2, 1, 4]), b: x([3, 1]) } },
    { variant: 'scalar + [3]', nodes: one('Add', ['a', 'b']), inputs: { a: x([]), b: x([3]) } },
    { variant: 'constant operand', nodes: one('Add', ['a', 'c']), inputs: { a: x([2, 3]) }, constants: { c: x([3]) } },
  ],
  Sub: [
    { variant: 'same shape', nodes: one('Sub', ['a', 'b']), inputs: { a: x([2, 3]), b: x([2, 3]) } },
    { variant: 'broadcast [3,1] − [1,4]', nodes: one('Sub', ['a', 'b']), inputs: { a: x([3, 1]), b: x([1, 4]) } },
  ],
  Mul: [
    { variant: 'same shape', nodes: one('Mul', ['a', 'b']), inputs: { a: x([2, 3]), b: x([2, 3]) } },
    { variant: 'broadcast [2,3,4] · [3,1]', nodes: one('Mul', ['a', 'b']), inputs: { a: x([2, 3, 4]), b: x([3, 1]) } },
    { variant: 'x · x', nodes: one('Mul', ['a', 'a']), inputs: { a: x([5]) } },
  ],
  Div: [
    { variant: 'same shape', nodes: one('Div', ['a', 'b']), inputs: { a: x([2, 3]), b: x([2, 3], 0.5, 2) } },
    { variant: 'broadcast [4] / [2,4]', nodes: one('Div', ['a', 'b']), inputs: { a: x([4]), b: x([2, 4], 0.5, 2) } },
    { variant: 'by a constant scalar', nodes: one('Div', ['a', 'c']), inputs: { a: x([2, 3]) }, constants: { c: tensor('float64', [], [4]) } },
  ],
  Neg: [{ variant: '[2,3]', nodes: one('Neg', ['a']), inputs: { a: x([2, 3]) } }],
  Pow: [
    { variant: 'constant exponent 2', nodes: one('Pow', ['a', 'c']), inputs: { a: x([2, 3]) }, constants: { c: tensor('float64', [], [2]) } },
    { variant: 'constant exponent 3', nodes: one('Pow', ['a', 'c']), inputs: { a: x([2, 3]) }, constants: { c: tensor('float64', [], [3]) } },
    { variant: 'constant exponent 0.5', nodes: one('Pow', ['a', 'c']), inputs: { a: x([4], 0.5, 2) }, constants: { c: tensor('float64', [], [0.5]) } },
    { variant: 'constant exponent 1', nodes: one('Pow', ['a', 'c']), inputs: { a: x([4]) }, constants: { c: tensor('float64', [], [1]) } },
    { variant: 'constant exponent vector', nodes: one('Pow', ['a', 'c']), inputs: { a: x([2, 3], 0.5, 2) }, constants: { c: tensor('float64', [3], [1.5, -1, 2.5]) } },
    { variant: 'integer exponent', nodes: one('Pow', ['a', 'c']), inputs: { a: x([2, 3]) }, constants: { c: ints([2, 3, 1]) } },
    { variant: 'active base and exponent, broadcast', nodes: one('Pow', ['a', 'b']), inputs: { a: x([2, 3], 0.5, 2), b: x([3], -1.5, 1.5) } },
  ],
  Sqrt: [{ variant: '[2,3]', nodes: one('Sqrt', ['a']), inputs: { a: x([2, 3], 0.2, 2) } }],
  Reciprocal: [{ variant: '[2,3]', nodes: one('Reciprocal', ['a']), inputs: { a: awayFromZero([2, 3]) } }],
  Exp: [{ variant: '[2,3]', nodes: one('Exp', ['a']), inputs: { a: x([2, 3]) } }],
  Log: [{ variant: '[2,3]', nodes: one('Log', ['a']), inputs: { a: x([2, 3], 0.2, 3) } }],
  Tanh: [{ variant: '[2,3]', nodes: one('Tanh', ['a']), inputs: { a: x([2, 3], -2, 2) } }],
  Erf: [{ variant: '[2,3]', nodes: one('Erf', ['a']), inputs: { a: x([2, 3], -2, 2) } }],
  Sigmoid: [{ variant: '[2,3]', nodes: one('Sigmoid', ['a']), inputs: { a: x([2, 3], -3, 3) } }],
  Relu: [{ variant: '[3,4]', nodes: one('Relu', ['a']), inputs: { a: awayFromZero([3, 4]) } }],
  Abs: [{ variant: '[3,4]', nodes: one('Abs', ['a']), inputs: { a: awayFromZero([3, 4]) } }],
  Softmax: [
    { variant: 'axis −1', nodes: one('Softmax', ['a'], { axis: -1 }), inputs: { a: x([2, 3, 4], -2, 2) } },
    { variant: 'axis 1', nodes: one('Softmax', ['a'], { axis: 1 }), inputs: { a: x([2, 3, 4], -2, 2) } },
    { variant: 'default axis (−1), 2-D', nodes: one('Softmax', ['a']), inputs: { a: x([3, 5], -2, 2) } },
  ],
  LogSoftmax: [
    { variant: 'axis −1', nodes: one('LogSoftmax', ['a'], { axis: -1 }), inputs: { a: x([2, 3, 4], -2, 2) } },
    { variant: 'axis 0', nodes: one('LogSoftmax', ['a'], { axis: 0 }), inputs: { a: x([3, 4], -2, 2) } },
  ],
  LayerNormalization: [
    { variant: 'axis −1, scale and bias active', nodes: one('LayerNormalization', ['a', 's', 'b'], { axis: -1 }), inputs: { a: x([2, 3, 5]), s: x([5]), b: x([5]) } },
    { variant: 'axis 1 over [3,4], epsilon 1e-3', nodes: one('LayerNormalization', ['a', 's', 'b'], { axis: 1, epsilon: { float: 1e-3 } }), inputs: { a: x([2, 3, 4]), s: x([3, 4]), b: x([3, 4]) } },
    { variant: 'no bias', nodes: one('LayerNormalization', ['a', 's'], { axis: -1 }), inputs: { a: x([4, 6]), s: x([6]) } },
    { variant: 'scale and bias constant (weights)', nodes: one('LayerNormalization', ['a', 's', 'b']), inputs: { a: x([2, 3, 5]) }, constants: { s: x([5]), b: x([5]) } },
    { variant: 'with Mean and InvStdDev outputs', nodes: one('LayerNormalization', ['a', 's', 'b'], { axis: -1 }, ['y', 'mean', 'inv_std']), outputs: ['y'], inputs: { a: x([3, 5]), s: x([5]), b: x([5]) } },
  ],
  Gelu: [
    { variant: 'approximate none', nodes: one('Gelu', ['a']), inputs: { a: x([3, 4], -3, 3) }, opset: 20 },
    { variant: 'approximate tanh', nodes: one('Gelu', ['a'], { approximate: 'tanh' }), inputs: { a: x([3, 4], -3, 3) }, opset: 20 },
  ],
  ReduceMean: [
    { variant: 'axes [1], keepdims', nodes: one('ReduceMean', ['a', 'axes']), inputs: { a: x([2, 3, 4]) }, constants: { axes: ints([1]) } },
    { variant: 'axes [0, −1], keepdims 0', nodes: one('ReduceMean', ['a', 'axes'], { keepdims: 0 }), inputs: { a: x([2, 3, 4]) }, constants: { axes: ints([0, -1]) } },
    { variant: 'all axes', nodes: one('ReduceMean', ['a'], { keepdims: 0 }), inputs: { a: x([2, 3]) } },
    { variant: 'axes attribute (opset 17)', nodes: one('ReduceMean', ['a'], { axes: [2] }), inputs: { a: x([2, 3, 4]) }, opset: 17 },
  ],
  ReduceSum: [
    { variant: 'axes [1], keepdims', nodes: one('ReduceSum', ['a', 'axes']), inputs: { a: x([2, 3, 4]) }, constants: { axes: ints([1]) } },
    { variant: 'axes [−1], keepdims 0', nodes: one('ReduceSum', ['a', 'axes'], { keepdims: 0 }), inputs: { a: x([2, 3, 4]) }, constants: { axes: ints([-1]) } },
    { variant: 'all axes', nodes: one('ReduceSum', ['a'], { keepdims: 0 }), inputs: { a: x([2, 3]) } },
    { variant: 'empty axes, noop_with_empty_axes', nodes: one('ReduceSum', ['a'], { noop_with_empty_axes: 1 }), inputs: { a: x([2, 3]) } },
  ],
  ReduceSumSquare: [
    { variant: 'axes [1] (opset 18 input)', nodes: one('ReduceSumSquare', ['a', 'axes'], { keepdims: 0 }), inputs: { a: x([2, 3, 4]) }, constants: { axes: ints([1]) } },
    { variant: 'axes attribute (opset 17)', nodes: one('ReduceSumSquare', ['a'], { axes: [0, 2] }), inputs: { a: x([2, 3, 4]) }, opset: 17 },
  ],
  ReduceMax: [
    { variant: 'axes [1], keepdims', nodes: one('ReduceMax', ['a', 'axes']), inputs: { a: x([2, 3, 4]) }, constants: { axes: ints([1]) } },
    { variant: 'axes [−1], keepdims 0', nodes: one('ReduceMax', ['a', 'axes'], { keepdims: 0 }), inputs: { a: x([2, 3, 4]) }, constants: { axes: ints([-1]) } },
    { variant: 'all axes', nodes: one('ReduceMax', ['a'], { keepdims: 0 }), inputs: { a: x([3, 4]) } },
  ],
  ReduceMin: [
    { variant: 'axes [0]', nodes: one('ReduceMin', ['a', 'axes'], { keepdims: 0 }), inputs: { a: x([3, 4]) }, constants: { axes: ints([0]) } },
  ],
  Max: [
    { variant: 'two operands, broadcast', nodes: one('Max', ['a', 'b']), inputs: { a: x([2, 3]), b: x([3]) } },
    { variant: 'three operands, one constant', nodes: one('Max', ['a', 'b', 'c']), inputs: { a: x([2, 3]), b: x([2, 1]) }, constants: { c: x([3]) } },
    { variant: 'one operand', nodes: one('Max', ['a']), inputs: { a: x([4]) } },
  ],
  Min: [
    { variant: 'two operands, broadcast', nodes: one('Min', ['a', 'b']), inputs: { a: x([2, 3]), b: x([2, 1]) } },
  ],
  Clip: [
    { variant: 'min and max constant', nodes: one('Clip', ['a', 'lo', 'hi']), inputs: { a: x([3, 4], -2, 2) }, constants: { lo: tensor('float64', [], [-0.5]), hi: tensor('float64', [], [0.7]) } },
    { variant: 'min only', nodes: one('Clip', ['a', 'lo']), inputs: { a: x([3, 4], -2, 2) }, constants: { lo: tensor('float64', [], [0.1]) } },
    { variant: 'max only (min omitted)', nodes: one('Clip', ['a', '', 'hi']), inputs: { a: x([3, 4], -2, 2) }, constants: { hi: tensor('float64', [], [0.1]) } },
    { variant: 'min and max active', nodes: one('Clip', ['a', 'lo', 'hi']), inputs: { a: x([3, 4], -2, 2), lo: tensor('float64', [], [-0.55]), hi: tensor('float64', [], [0.65]) } },
    { variant: 'no bounds', nodes: one('Clip', ['a']), inputs: { a: x([3]) } },
  ],
  Sum: [
    { variant: 'three operands, broadcast', nodes: one('Sum', ['a', 'b', 'c']), inputs: { a: x([2, 3]), b: x([3]), c: x([2, 1]) } },
    { variant: 'one operand twice', nodes: one('Sum', ['a', 'a']), inputs: { a: x([3]) } },
  ],
  Where: [
    { variant: 'broadcast condition and branches', nodes: one('Where', ['c', 'a', 'b']), inputs: { a: x([2, 3, 4]), b: x([4]) }, constants: { c: bools([2, 1, 4]) } },
    { variant: 'one branch constant', nodes: one('Where', ['c', 'a', 'k']), inputs: { a: x([3, 4]) }, constants: { c: bools([3, 4]), k: tensor('float64', [], [-30]) } },
  ],
  Cast: [
    { variant: 'float64 → float32 → float64', nodes: [node('Cast', ['a'], ['f'], { to: 1 }), node('Cast', ['f'], ['y'], { to: 11 })], inputs: { a: x([2, 3]) } },
    { variant: 'to int64 stops the gradient', nodes: [node('Cast', ['a'], ['i'], { to: 7 }), node('Cast', ['i'], ['f'], { to: 11 }), node('Add', ['f', 'a'], ['y'])], inputs: { a: x([2, 3], 0.1, 0.9) } },
  ],
  Identity: [{ variant: '[2,3]', nodes: one('Identity', ['a']), inputs: { a: x([2, 3]) } }],
  Dropout: [
    { variant: 'inference (no training_mode)', nodes: one('Dropout', ['a']), inputs: { a: x([2, 3]) } },
    { variant: 'ratio and training_mode false', nodes: one('Dropout', ['a', 'r', 't'], {}, ['y', 'mask']), outputs: ['y'], inputs: { a: x([2, 3]) }, constants: { r: tensor('float64', [], [0.1]), t: tensor('bool', [], [0]) } },
  ],
  Reshape: [
    { variant: '[2,3,4] → [6,4]', nodes: one('Reshape', ['a', 'shape']), inputs: { a: x([2, 3, 4]) }, constants: { shape: ints([6, 4]) } },
    { variant: '[2,3,4] → [4,0,−1] (copied and inferred dims)', nodes: one('Reshape', ['a', 'shape']), inputs: { a: x([2, 3, 4]) }, constants: { shape: ints([4, 0, -1]) } },
  ],
  Flatten: [
    { variant: 'axis 2', nodes: one('Flatten', ['a'], { axis: 2 }), inputs: { a: x([2, 3, 2, 2]) } },
    { variant: 'axis 0', nodes: one('Flatten', ['a'], { axis: 0 }), inputs: { a: x([2, 3]) } },
  ],
  Squeeze: [
    { variant: 'axes [1, −1]', nodes: one('Squeeze', ['a', 'axes']), inputs: { a: x([2, 1, 3, 1]) }, constants: { axes: ints([1, -1]) } },
    { variant: 'all ones', nodes: one('Squeeze', ['a']), inputs: { a: x([1, 3, 1]) } },
  ],
  Unsqueeze: [{ variant: 'axes [0, 3]', nodes: one('Unsqueeze', ['a', 'axes']), inputs: { a: x([2, 3]) }, constants: { axes: ints([0, 3]) } }],
  Transpose: [
    { variant: 'perm [1, 2, 0]', nodes: one('Transpose', ['a'], { perm: [1, 2, 0] }), inputs: { a: x([2, 3, 4]) } },
    { variant: 'default (reversed)', nodes: one('Transpose', ['a']), inputs: { a: x([2, 3, 4]) } },
  ],
  Expand: [
    { variant: '[3,1] → [2,3,4]', nodes: one('Expand', ['a', 'shape']), inputs: { a: x([3, 1]) }, constants: { shape: ints([2, 3, 4]) } },
    { variant: '[2,3] with shape [3,1,1] (broadcast both ways)', nodes: one('Expand', ['a', 'shape']), inputs: { a: x([1, 3]) }, constants: { shape: ints([2, 1, 1]) } },
  ],
  Tile: [{ variant: 'repeats [2, 1, 3]', nodes: one('Tile', ['a', 'r']), inputs: { a: x([2, 3, 2]) }, constants: { r: ints([2, 1, 3]) } }],
  Concat: [
    { variant: 'axis 1, a constant part', nodes: one('Concat', ['a', 'k', 'b'], { axis: 1 }), inputs: { a: x([2, 2, 3]), b: x([2, 3, 3]) }, constants: { k: x([2, 1, 3]) } },
    { variant: 'axis −1', nodes: one('Concat', ['a', 'b'], { axis: -1 }), inputs: { a: x([2, 2]), b: x([2, 3]) } },
    { variant: 'one input used twice', nodes: one('Concat', ['a', 'a'], { axis: 0 }), inputs: { a: x([2, 3]) } },
  ],
  Split: [
    { variant: 'axis 1, sizes [1, 2]', nodes: one('Split', ['a', 'sizes'], { axis: 1 }, ['y1', 'y2']), inputs: { a: x([2, 3, 2]) }, constants: { sizes: ints([1, 2]) } },
    { variant: 'num_outputs 3, one part unused', nodes: one('Split', ['a'], { axis: 0, num_outputs: 3 }, ['y1', 'y2', 'y3']), outputs: ['y1', 'y3'], inputs: { a: x([6, 2]) } },
  ],
  Slice: [
    { variant: 'unit steps, negative start', nodes: one('Slice', ['a', 's', 'e']), inputs: { a: x([4, 5]) }, constants: { s: ints([1, -3]), e: ints([3, 5]) } },
    { variant: 'axes subset, end past the dim', nodes: one('Slice', ['a', 's', 'e', 'ax']), inputs: { a: x([2, 3, 4]) }, constants: { s: ints([1]), e: ints([2 ** 62]), ax: ints([-1]) } },
    { variant: 'step 2', nodes: one('Slice', ['a', 's', 'e', 'ax', 'st']), inputs: { a: x([3, 7]) }, constants: { s: ints([1]), e: ints([7]), ax: ints([1]), st: ints([2]) } },
    { variant: 'step −1 (reversal) and a unit step', nodes: one('Slice', ['a', 's', 'e', 'ax', 'st']), inputs: { a: x([3, 5]) }, constants: { s: ints([-1, 1]), e: ints([-(2 ** 62), 3]), ax: ints([1, 0]), st: ints([-1, 1]) } },
    { variant: 'step −2', nodes: one('Slice', ['a', 's', 'e', 'ax', 'st']), inputs: { a: x([2, 6]) }, constants: { s: ints([4]), e: ints([0]), ax: ints([1]), st: ints([-2]) } },
  ],
  Gather: [
    { variant: 'axis 0, repeated indices [2,3]', nodes: one('Gather', ['a', 'i']), inputs: { a: x([4, 3]) }, constants: { i: ints([0, 2, 2, 3, 0, 0], [2, 3]) } },
    { variant: 'axis 1, scalar index', nodes: one('Gather', ['a', 'i'], { axis: 1 }), inputs: { a: x([2, 4, 3]) }, constants: { i: ints([2], []) } },
    { variant: 'axis −1, negative indices', nodes: one('Gather', ['a', 'i'], { axis: -1 }), inputs: { a: x([2, 5]) }, constants: { i: ints([-1, 0, -1]) } },
    { variant: 'indices a graph input (int64)', nodes: one('Gather', ['a', 'i'], { axis: 1 }), inputs: { a: x([2, 4, 3]), i: ints([3, -4, 1, 3], [2, 2]) } },
  ],
  GatherElements: [
    { variant: 'axis −1, one index per row', nodes: one('GatherElements', ['a', 'i'], { axis: -1 }), inputs: { a: x([2, 3, 5]) }, constants: { i: ints([0, 4, 2, 2, 1, -1], [2, 3, 1]) } },
    { variant: 'axis 1, repeated indices', nodes: one('GatherElements', ['a', 'i'], { axis: 1 }), inputs: { a: x([2, 3, 2]) }, constants: { i: ints([0, 1, 0, 0, 2, 2, 1, 1, 0, 2, 2, 2, 1, 0], [2, 7, 1]) } },
    { variant: 'indices shorter than data on other axes', nodes: one('GatherElements', ['a', 'i'], { axis: 0 }), inputs: { a: x([3, 4]) }, constants: { i: ints([2, 0, 0, 1, 1, 2], [2, 3]) } },
    { variant: 'indices a graph input', nodes: one('GatherElements', ['a', 'i'], { axis: -1 }), inputs: { a: x([2, 4]), i: ints([3, 3, 0, -2], [2, 2]) } },
  ],
  Pad: [
    { variant: 'constant pads', nodes: one('Pad', ['a', 'p']), inputs: { a: x([2, 3]) }, constants: { p: ints([1, 0, 0, 2]) } },
    { variant: 'negative pads (crop)', nodes: one('Pad', ['a', 'p']), inputs: { a: x([3, 4]) }, constants: { p: ints([-1, 2, 0, -2]) } },
    { variant: 'axes input (opset 18)', nodes: one('Pad', ['a', 'p', '', 'ax']), inputs: { a: x([2, 3, 2]) }, constants: { p: ints([1, 2]), ax: ints([-2]) } },
    { variant: 'constant_value active', nodes: one('Pad', ['a', 'p', 'v']), inputs: { a: x([2, 2]), v: tensor('float64', [], [0.3]) }, constants: { p: ints([0, 1, 1, 0]) } },
  ],
  CumSum: [
    { variant: 'axis 1', nodes: one('CumSum', ['a', 'axis']), inputs: { a: x([2, 4]) }, constants: { axis: ints([1], []) } },
    { variant: 'exclusive', nodes: one('CumSum', ['a', 'axis'], { exclusive: 1 }), inputs: { a: x([5]) }, constants: { axis: ints([0], []) } },
    { variant: 'reverse', nodes: one('CumSum', ['a', 'axis'], { reverse: 1 }), inputs: { a: x([2, 4]) }, constants: { axis: ints([-1], []) } },
    { variant: 'exclusive and reverse', nodes: one('CumSum', ['a', 'axis'], { exclusive: 1, reverse: 1 }), inputs: { a: x([3, 2]) }, constants: { axis: ints([0], []) } },
  ],
  MatMul: [
    { variant: '[2,3] · [3,4]', nodes: one('MatMul', ['a', 'b']), inputs: { a: x([2, 3]), b: x([3, 4]) } },
    { variant: '[2,2,3] · [3,4] (a shared weight)', nodes: one('MatMul', ['a', 'b']), inputs: { a: x([2, 2, 3]), b: x([3, 4]) } },
    { variant: '[2,1,3,4] · [3,4,2] (broadcast batch)', nodes: one('MatMul', ['a', 'b']), inputs: { a: x([2, 1, 3, 4]), b: x([3, 4, 2]) } },
    { variant: '[3,4] · [2,4,2] (left operand broadcast)', nodes: one('MatMul', ['a', 'b']), inputs: { a: x([3, 4]), b: x([2, 4, 2]) } },
    { variant: '1-D · 2-D', nodes: one('MatMul', ['a', 'b']), inputs: { a: x([3]), b: x([3, 4]) } },
    { variant: '2-D · 1-D', nodes: one('MatMul', ['a', 'b']), inputs: { a: x([2, 3]), b: x([3]) } },
    { variant: '1-D · 1-D', nodes: one('MatMul', ['a', 'b']), inputs: { a: x([4]), b: x([4]) } },
    { variant: '1-D · 3-D', nodes: one('MatMul', ['a', 'b']), inputs: { a: x([3]), b: x([2, 3, 4]) } },
    { variant: 'constant weight', nodes: one('MatMul', ['a', 'w']), inputs: { a: x([2, 3]) }, constants: { w: x([3, 2]) } },
  ],
  Gemm: [
    { variant: 'plain with bias [N]', nodes: one('Gemm', ['a', 'b', 'c']), inputs: { a: x([2, 3]), b: x([3, 4]), c: x([4]) } },
    { variant: 'transA', nodes: one('Gemm', ['a', 'b', 'c'], { transA: 1 }), inputs: { a: x([3, 2]), b: x([3, 4]), c: x([2, 1]) } },
    { variant: 'transB', nodes: one('Gemm', ['a', 'b'], { transB: 1 }), inputs: { a: x([2, 3]), b: x([4, 3]) } },
    { variant: 'transA, transB, alpha, beta, scalar bias', nodes: one('Gemm', ['a', 'b', 'c'], { transA: 1, transB: 1, alpha: { float: 0.5 }, beta: { float: 2 } }), inputs: { a: x([3, 2]), b: x([4, 3]), c: x([]) } },
    { variant: 'bias [M, N], alpha', nodes: one('Gemm', ['a', 'b', 'c'], { alpha: { float: -1.5 } }), inputs: { a: x([2, 3]), b: x([3, 4]), c: x([2, 4]) } },
  ],
};

const worst: Record<string, number> = {};

describe.each(Object.keys(CASES))('%s', (op) => {
  it.each(CASES[op].map((c) => [c.variant, c] as const))('%s', (_, c) => {
    const model = modelOf({ nodes: c.nodes, inputs: c.inputs, constants: c.constants, outputs: c.outputs ?? c.nodes[c.nodes.length - 1].outputs, opset: c.opset });
    const wrt = c.wrt ?? Object.keys(c.inputs).filter((name) => c.inputs[name].dataType === 'float64');
    const check = checkGradients(model, c.inputs, wrt);
    worst[op] = Math.max(worst[op] ?? 0, check.worst);
    expect(check.worst).toBeLessThan(c.tolerance ?? 1e-6);
  });
});

/**
 * Ops that need no rule: their outputs are integer or bool (shape arithmetic, masks), or they have no float input
 * a gradient could reach (constants). buildVjp never asks for a rule for them.
 */
const NO_GRADIENT = new Set(['Shape', 'Size', 'Range', 'Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'Not', 'And', 'Or',
  'Constant', 'ConstantOfShape']);

describe('Florence-2 base and large (testing/florence-ops.json, tools/make_tiny_hub_florence.py)', () => {
  const lists = JSON.parse(readFileSync(new URL('./testing/florence-ops.json', import.meta.url), 'utf8')) as
    Record<string, Record<string, { ops: Record<string, number> }>>;
  const ops = [...new Set(Object.values(lists).flatMap((graphs) => Object.values(graphs).flatMap((g) => Object.keys(g.ops))))].sort();

  it('lists the encoder and decoder of both sizes at opsets 14 and 17', () => {
    expect(Object.keys(lists).sort()).toEqual(['base/opset14', 'base/opset17', 'large/opset14', 'large/opset17']);
    expect(ops).toContain('LayerNormalization');
    expect(ops).toContain('ReduceMean');
  });

  it.each(ops)('%s has a rule with finite-difference cases above, or needs none', (op) => {
    if (NO_GRADIENT.has(op)) {
      expect(RULES.has(op)).toBe(false);
    } else {
      expect(RULES.has(op)).toBe(true);
      expect(CASES[op]?.length ?? 0).toBeGreaterThan(0);
    }
  });
});

afterAll(() => {
  const sorted = Object.entries(worst).sort((a, b) => b[1] - a[1]);
  console.log(`rules: worst relative error per op (${sorted.length} ops):\n${sorted.map(([op, e]) => `  ${op} ${e.toExponential(1)}`).join('\n')}`);
});

/** Evaluates grad_a of `loss = Σ w ⊙ y` for a one-node graph, for the conventions at kinks and ties. */
function gradientAt(nodes: OnnxNode[], inputs: Record<string, Tensor64>, weights: Tensor64, constants: Record<string, Tensor64> = {}): number[] {
  const model = modelOf({
    nodes: [...nodes, node('Mul', ['y', 'w'], ['wy']), node('ReduceSum', ['wy'], ['loss'], { keepdims: 0 })],
    inputs, constants: { ...constants, w: weights }, outputs: ['loss'],
  });
  const vjp = buildVjp(model, staticValues(model, inputs), { loss: 'loss', wrt: ['a'] });
  return Array.from(evaluate(vjp.graph, inputs, { opset: 18 })[gradientName('a')].data);
}

describe('conventions at ties and kinks', () => {
  it('ReduceMax splits the gradient equally among tied maxima', () => {
    const a = tensor('float64', [2, 3], [1, 5, 5, 2, 2, 2]);
    const got = gradientAt(one('ReduceMax', ['a', 'axes'], { keepdims: 0 }), { a }, tensor('float64', [2], [6, 3]), { axes: ints([1]) });
    expect(got).toEqual([0, 3, 3, 1, 1, 1]);
  });
  it('Max splits the gradient equally among tied operands', () => {
    const b = tensor('float64', [3], [1, 0, 3]);
    const got = gradientAt(one('Max', ['a', 'b', 'c']), { a: tensor('float64', [3], [1, 2, 3]) }, tensor('float64', [3], [6, 6, 6]), { b, c: tensor('float64', [3], [1, 2, 0]) });
    expect(got).toEqual([2, 3, 3]);
  });
  it('Relu and Abs have gradient 0 at 0; Clip passes it at the bounds', () => {
    const a = tensor('float64', [3], [0, 1, -1]);
    expect(gradientAt(one('Relu', ['a']), { a }, tensor('float64', [3], [1, 1, 1]))).toEqual([0, 1, 0]);
    expect(gradientAt(one('Abs', ['a']), { a }, tensor('float64', [3], [1, 1, 1]))).toEqual([0, 1, -1]);
    const bounds = { lo: tensor('float64', [], [-1]), hi: tensor('float64', [], [0]) };
    expect(gradientAt(one('Clip', ['a', 'lo', 'hi']), { a }, tensor('float64', [3], [1, 1, 1]), bounds)).toEqual([1, 0, 1]);
  });
});

describe('refusals', () => {
  const refusal = (nodes: OnnxNode[], inputs: Record<string, Tensor64>, constants: Record<string, Tensor64> = {}, opset = 18) => {
    const model = modelOf({ nodes, inputs, constants, outputs: ['loss'], opset });
    try {
      buildVjp(model, staticValues(model, inputs), { loss: 'loss', wrt: ['a'] });
    } catch (e) {
      return e as Error;
    }
    throw new Error('buildVjp did not refuse');
  };
  const sumTo = (name: string) => node('ReduceSum', [name], ['loss'], { keepdims: 0 });

  it('an op without a rule on the active path: a PackageError naming op and node', () => {
    const e = refusal([node('Sin', ['a'], ['s'], {}, 'the_sine'), sumTo('s')], { a: x([3]) });
    expect(e).toBeInstanceOf(PackageError);
    expect(e.message).toContain('no gradient rule for Sin (node the_sine)');
  });
  it('an op of another domain', () => {
    const model = modelOf({ nodes: [node('Identity', ['a'], ['s']), sumTo('s')], inputs: { a: x([3]) }, outputs: ['loss'] });
    model.graph.nodes[0] = { ...model.graph.nodes[0], opType: 'FastGelu', domain: 'com.microsoft', name: 'fused' };
    const values = new Map([['a', { dataType: 'float64' as const, shape: [3] }], ['s', { dataType: 'float64' as const, shape: [3] }], ['loss', { dataType: 'float64' as const, shape: [] }]]);
    expect(() => buildVjp(model, values, { loss: 'loss', wrt: ['a'] })).toThrow('no gradient rule for com.microsoft.FastGelu (node fused)');
  });
  it('Dropout in training mode, Pad in reflect mode', () => {
    expect(refusal([node('Dropout', ['a', 'r', 't'], ['s']), sumTo('s')], { a: x([3]) }, { r: tensor('float64', [], [0]), t: tensor('bool', [], [1]) }).message)
      .toContain('no gradient for Dropout in training mode');
    // The evaluator has no reflect padding: the model and its value table are written by hand.
    const model = modelOf({ nodes: [node('Pad', ['a', 'p'], ['s']), sumTo('s')], inputs: { a: x([3]) }, constants: { p: ints([1, 1]) }, outputs: ['loss'] });
    const values = staticValues(model, { a: x([3]) }); // padded with zeros: the same shapes
    model.graph.nodes[0].attributes.mode = { type: 'string', value: 'reflect' };
    expect(() => buildVjp(model, values, { loss: 'loss', wrt: ['a'] })).toThrow('no gradient for Pad in mode "reflect"');
  });
  it('a loss that is not a scalar, a wrt that is not an input, an integer wrt, a repeated wrt, an old opset', () => {
    const feeds = { v: x([3]), a: x([]), i: ints([1]) };
    const model = modelOf({ nodes: [node('Neg', ['v'], ['loss'])], inputs: feeds, outputs: ['loss'] });
    const values = staticValues(model, feeds);
    expect(() => buildVjp(model, values, { loss: 'loss', wrt: ['v'] })).toThrow('not a float scalar');
    expect(() => buildVjp(model, values, { loss: 'a', wrt: ['nope'] })).toThrow('is not an input or initializer');
    expect(() => buildVjp(model, values, { loss: 'a', wrt: ['i'] })).toThrow('only float inputs have gradients');
    expect(() => buildVjp(model, values, { loss: 'a', wrt: ['a', 'a'] })).toThrow('asked for twice');
    expect(() => buildVjp({ ...model, opsets: [{ domain: '', version: 12 }] }, values, { loss: 'a', wrt: ['a'] })).toThrow('opset 13 or later');
  });
});
