/**
 * A BART-like self-attention block written node by node as torch.onnx exports it (opset 18), for the
 * specialise tests: the dims read with Shape → Gather → Unsqueeze → Concat → Reshape, the padding mask made
 * with Cast/Sub/Cast/Where (masked_fill with finfo.min), the causal mask from Range/Add/Reshape/Less,
 * ConstantOfShape and Where, a Slice of the shape to INT64_MAX, and the residual behind an If on a bool
 * input (as the merged decoder's use_cache_branch). Then a LayerNormalization.
 *
 *   hidden [batch, seq, D] float32, attention_mask [batch, seq] int64, use_residual [] bool → out [batch, seq, D]
 */
import type { OnnxAttribute, OnnxDataType, OnnxGraph, OnnxModel, OnnxNode, OnnxTensor } from '../../formats/onnxModel.ts';
import { seeded } from './ortReference.ts';

export const D = 8;
export const HEADS = 2;
const FLOAT_MIN = -3.4028234663852886e38;
const INT64_MAX = 2n ** 63n - 1n;

const ints = (value: number[]): OnnxAttribute => ({ type: 'ints', value });
const int = (value: number): OnnxAttribute => ({ type: 'int', value });

function node(opType: string, inputs: string[], outputs: string[], attributes: Record<string, OnnxAttribute> = {}): OnnxNode {
  return { opType, domain: '', name: `/attn/${opType}_${outputs[0]}`, inputs, outputs, attributes };
}

function int64Tensor(name: string, values: bigint[], dims = [values.length]): OnnxTensor {
  return { name, dataType: 'int64', dims, values: BigInt64Array.from(values) };
}

function floatTensor(name: string, dims: number[], values: number[]): OnnxTensor {
  return { name, dataType: 'float32', dims, values: Float32Array.from(values) };
}

/** A Constant node as torch.onnx writes them (value tensor attribute). */
function constant(name: string, t: Omit<OnnxTensor, 'name'>): OnnxNode {
  return node('Constant', [], [name], { value: { type: 'tensor', value: { ...t, name } } });
}

function weights(seed: number): OnnxTensor[] {
  const random = seeded(seed);
  const matrix = (name: string) => floatTensor(name, [D, D], Array.from({ length: D * D }, () => (random() - 0.5) / 2));
  const vector = (name: string, around = 0) => floatTensor(name, [D], Array.from({ length: D }, () => around + (random() - 0.5) / 4));
  return [matrix('q.weight'), vector('q.bias'), matrix('k.weight'), vector('k.bias'), matrix('v.weight'), vector('v.bias'),
    matrix('o.weight'), vector('o.bias'), vector('ln.weight', 1), vector('ln.bias')];
}

/** Q, K or V: x·W + b, then [b, t, H, D/H] → [b, H, t, D/H]. */
function projection(which: 'q' | 'k' | 'v'): OnnxNode[] {
  return [
    node('MatMul', ['hidden', `${which}.weight`], [`${which}_mm`]),
    node('Add', [`${which}_mm`, `${which}.bias`], [`${which}_proj`]),
    node('Reshape', [`${which}_proj`, 'heads_shape'], [`${which}_heads`]),
    node('Transpose', [`${which}_heads`], [`${which}_t`], { perm: ints([0, 2, 1, 3]) }),
  ];
}

export function bartBlockGraph(): OnnxGraph {
  const nodes: OnnxNode[] = [
    // Dims: batch and seq as scalars and as [1]-vectors; D from a Slice of the shape to INT64_MAX.
    node('Shape', ['hidden'], ['hidden_shape']),
    constant('zero', { dataType: 'int64', dims: [], values: BigInt64Array.of(0n) }),
    constant('one', { dataType: 'int64', dims: [], values: BigInt64Array.of(1n) }),
    node('Gather', ['hidden_shape', 'zero'], ['batch'], { axis: int(0) }),
    node('Gather', ['hidden_shape', 'one'], ['seq'], { axis: int(0) }),
    constant('axes0', { dataType: 'int64', dims: [1], values: BigInt64Array.of(0n) }),
    node('Unsqueeze', ['batch', 'axes0'], ['batch_1']),
    node('Unsqueeze', ['seq', 'axes0'], ['seq_1']),
    node('Slice', ['hidden_shape', 'minus_one', 'int64_max'], ['d_model_1']),
    node('Concat', ['batch_1', 'seq_1', 'heads', 'head_dim'], ['heads_shape'], { axis: int(0) }),
    ...projection('q'), ...projection('k'), ...projection('v'),
    node('Mul', ['q_t', 'scaling'], ['q_scaled']),
    node('Transpose', ['k_t'], ['k_tt'], { perm: ints([0, 1, 3, 2]) }),
    node('MatMul', ['q_scaled', 'k_tt'], ['scores']),

    // Padding mask: mask[:, None, None, :].expand(b, 1, t, t); (1 − m) masked_fill(finfo.min).
    node('Unsqueeze', ['attention_mask', 'axes12'], ['mask_4d']),
    node('Concat', ['batch_1', 'one_1', 'seq_1', 'seq_1'], ['mask_shape'], { axis: int(0) }),
    node('Expand', ['mask_4d', 'mask_shape'], ['mask_expanded']),
    node('Cast', ['mask_expanded'], ['mask_float'], { to: int(1) }),
    node('Sub', ['one_float', 'mask_float'], ['inverted']),
    node('Cast', ['inverted'], ['inverted_bool'], { to: int(9) }),
    node('Where', ['inverted_bool', 'float_min', 'inverted'], ['padding_mask']),

    // Causal mask: full((t, t), min); cond = arange(t) < (arange(t) + 1).view(t, 1); masked_fill(cond, 0).
    node('Concat', ['seq_1', 'seq_1'], ['square_shape'], { axis: int(0) }),
    node('ConstantOfShape', ['square_shape'], ['full_min'], { value: { type: 'tensor', value: floatTensor('v', [1], [FLOAT_MIN]) } }),
    node('Range', ['zero', 'seq', 'one'], ['arange']),
    node('Add', ['arange', 'one'], ['arange_1']),
    node('Concat', ['seq_1', 'one_1'], ['column_shape'], { axis: int(0) }),
    node('Reshape', ['arange_1', 'column_shape'], ['arange_column']),
    node('Less', ['arange', 'arange_column'], ['causal_keep']),
    node('Where', ['causal_keep', 'zero_float', 'full_min'], ['causal']),
    node('Unsqueeze', ['causal', 'axes01'], ['causal_4d']),
    node('Expand', ['causal_4d', 'mask_shape'], ['causal_expanded']),
    node('Add', ['padding_mask', 'causal_expanded'], ['mask']),

    node('Add', ['scores', 'mask'], ['masked_scores']),
    node('Softmax', ['masked_scores'], ['probs'], { axis: int(-1) }),
    node('MatMul', ['probs', 'v_t'], ['context_heads']),
    node('Transpose', ['context_heads'], ['context_t'], { perm: ints([0, 2, 1, 3]) }),
    node('Concat', ['batch_1', 'seq_1', 'd_model_1'], ['context_shape'], { axis: int(0) }),
    node('Reshape', ['context_t', 'context_shape'], ['context']),
    node('MatMul', ['context', 'o.weight'], ['o_mm']),
    node('Add', ['o_mm', 'o.bias'], ['attended']),

    // Residual behind an If on a bool input; the then branch reads two outer values.
    node('If', ['use_residual'], ['residual'], {
      then_branch: { type: 'graph', value: branchGraph('with_residual', [node('Add', ['attended', 'hidden'], ['sum_in_branch'])], 'sum_in_branch') },
      else_branch: { type: 'graph', value: branchGraph('without_residual', [node('Identity', ['attended'], ['attended_in_branch'])], 'attended_in_branch') },
    }),
    node('LayerNormalization', ['residual', 'ln.weight', 'ln.bias'], ['out'], { axis: int(-1), epsilon: { type: 'float', value: 1e-5 } }),
  ];
  return {
    name: 'bart_attention_block',
    nodes,
    initializers: [
      ...weights(11),
      int64Tensor('heads', [BigInt(HEADS)]), int64Tensor('head_dim', [BigInt(D / HEADS)]),
      int64Tensor('minus_one', [-1n]), int64Tensor('int64_max', [INT64_MAX]),
      int64Tensor('axes12', [1n, 2n]), int64Tensor('axes01', [0n, 1n]), int64Tensor('one_1', [1n]),
      floatTensor('scaling', [], [1 / Math.sqrt(D / HEADS)]), floatTensor('one_float', [], [1]),
      floatTensor('zero_float', [], [0]), floatTensor('float_min', [], [FLOAT_MIN]),
    ],
    inputs: [
      { name: 'hidden', dataType: 'float32', shape: ['batch_size', 'sequence_length', D] },
      { name: 'attention_mask', dataType: 'int64', shape: ['batch_size', 'sequence_length'] },
      { name: 'use_residual', dataType: 'bool', shape: [] },
    ],
    outputs: [{ name: 'out', dataType: 'float32', shape: ['batch_size', 'sequence_length', D] }],
    valueInfo: [
      { name: 'scores', dataType: 'float32', shape: ['batch_size', HEADS, 'sequence_length', 'sequence_length'] },
      { name: 'probs', dataType: 'float32', shape: ['batch_size', HEADS, 'sequence_length', 'sequence_length'] },
      { name: 'residual', dataType: 'float32', shape: ['batch_size', 'sequence_length', D] },
    ],
  };
}

function branchGraph(name: string, nodes: OnnxNode[], output: string, dataType: OnnxDataType = 'float32'): OnnxGraph {
  return { name, nodes, initializers: [], inputs: [], outputs: [{ name: output, dataType }], valueInfo: [] };
}

export function bartBlockModel(): OnnxModel {
  return { irVersion: 9, opsets: [{ domain: '', version: 18 }], producerName: 'pytorch', producerVersion: 'test', metadata: {}, graph: bartBlockGraph() };
}
