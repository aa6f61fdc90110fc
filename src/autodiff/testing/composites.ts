/**
 * Composite test graphs for the autodiff, written as torch.onnx exports them (opset 18):
 *
 * - `attentionBlock`: a BART-like layer. x [B, T, D] goes through a LayerNorm decomposed as torch exports it
 *   without LayerNormalization (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add), attention over the
 *   concatenation of that and a memory [B, S, D] (heads split by Reshape/Transpose, scores scaled, an additive
 *   padding mask built from an int64 mask through Cast/Sub/Mul, Softmax), an output projection, the residual,
 *   a LayerNormalization op, a feed-forward with the exact Gelu as exported (Div, Erf, Add, Mul, Mul) and a
 *   second residual. x is read by three nodes (ReduceMean, Sub, the residual Add).
 *   Two more inputs test activity: `picked` reaches the output only through ArgMax → Gather of a table (an
 *   integer path: no gradient, no error), `stray` reaches no output (its gradient is zeros).
 */
import type { OnnxDataType, OnnxNode } from '../../formats/onnxModel.ts';
import type { Tensor64 } from '../values.ts';
import { node, type TestGraph, uniform } from './finiteDifferences.ts';

export interface AttentionDims {
  batch: number;
  /** Query tokens T. */
  tokens: number;
  /** Memory tokens S. */
  memory: number;
  width: number;
  heads: number;
  ffn: number;
}

export const SMALL_ATTENTION: AttentionDims = { batch: 2, tokens: 3, memory: 2, width: 8, heads: 2, ffn: 12 };

const FLOAT32_LOWEST = -3.4028234663852886e38;

/** The block's graph, its feeds (random, from `random`) and its weights, in `dataType`. */
export function attentionBlock(random: () => number, dims: AttentionDims = SMALL_ATTENTION, dataType: OnnxDataType = 'float64'): TestGraph {
  const { batch: B, tokens: T, memory: S, width: D, heads: H, ffn: F } = dims;
  const dh = D / H;
  const K = T + S;
  const f = (d: number[], low = -1, high = 1): Tensor64 => {
    const t = uniform(random, d, low, high, dataType);
    if (dataType === 'float32') t.data.forEach((v, i) => { t.data[i] = Math.fround(v); });
    return t;
  };
  const scalar = (v: number): Tensor64 => ({ dataType, dims: [], data: Float64Array.of(v) });
  const i64 = (values: number[]): Tensor64 => ({ dataType: 'int64', dims: [values.length], data: Float64Array.from(values) });
  const w = (rows: number, cols: number) => f([rows, cols], -1 / Math.sqrt(rows), 1 / Math.sqrt(rows));

  // One padded position per row but the first, in the memory part; every row keeps some keys.
  const mask = Float64Array.from({ length: B * K }, (_, i) => (i % K === K - 1 && i >= K ? 0 : 1));
  const n = (op: string, inputs: string[], output: string, attributes: Parameters<typeof node>[3] = {}): OnnxNode => node(op, inputs, [output], attributes);
  const nodes: OnnxNode[] = [
    // LayerNorm as torch exports it without LayerNormalization.
    n('ReduceMean', ['x', 'axis_last'], 'ln1/mean'),
    n('Sub', ['x', 'ln1/mean'], 'ln1/centred'),
    n('Pow', ['ln1/centred', 'two'], 'ln1/squared'),
    n('ReduceMean', ['ln1/squared', 'axis_last'], 'ln1/var'),
    n('Add', ['ln1/var', 'eps'], 'ln1/var_eps'),
    n('Sqrt', ['ln1/var_eps'], 'ln1/std'),
    n('Div', ['ln1/centred', 'ln1/std'], 'ln1/normed'),
    n('Mul', ['ln1/normed', 'ln1/g'], 'ln1/scaled'),
    n('Add', ['ln1/scaled', 'ln1/b'], 'h'),
    // Keys and values over [h; memory].
    n('Concat', ['h', 'memory'], 'kv_in', { axis: 1 }),
    n('MatMul', ['h', 'wq'], 'q0'), n('Add', ['q0', 'bq'], 'q'),
    n('MatMul', ['kv_in', 'wk'], 'k0'), n('Add', ['k0', 'bk'], 'k'),
    n('MatMul', ['kv_in', 'wv'], 'v0'), n('Add', ['v0', 'bv'], 'v'),
    n('Reshape', ['q', 'q_heads_shape'], 'q4'), n('Transpose', ['q4'], 'qh', { perm: [0, 2, 1, 3] }),
    n('Reshape', ['k', 'kv_heads_shape'], 'k4'), n('Transpose', ['k4'], 'khT', { perm: [0, 2, 3, 1] }),
    n('Reshape', ['v', 'kv_heads_shape'], 'v4'), n('Transpose', ['v4'], 'vh', { perm: [0, 2, 1, 3] }),
    n('MatMul', ['qh', 'khT'], 'scores0'),
    n('Mul', ['scores0', 'scale'], 'scores1'),
    // The additive mask: (1 − mask) · lowest, from int64 (an integer path into a float constant).
    n('Cast', ['mask'], 'mask_f', { to: dataType === 'float32' ? 1 : 11 }),
    n('Sub', ['one', 'mask_f'], 'masked'),
    n('Mul', ['masked', 'lowest'], 'mask_add0'),
    n('Unsqueeze', ['mask_add0', 'axes_1_2'], 'mask_add'),
    n('Add', ['scores1', 'mask_add'], 'scores'),
    n('Softmax', ['scores'], 'attention', { axis: -1 }),
    n('MatMul', ['attention', 'vh'], 'context4'),
    n('Transpose', ['context4'], 'context_t', { perm: [0, 2, 1, 3] }),
    n('Reshape', ['context_t', 'merged_shape'], 'context'),
    n('MatMul', ['context', 'wo'], 'o0'), n('Add', ['o0', 'bo'], 'o'),
    n('Add', ['x', 'o'], 'r1'),
    // LayerNormalization, then the feed-forward with Gelu as exported.
    node('LayerNormalization', ['r1', 'ln2/g', 'ln2/b'], ['h2'], { axis: -1, epsilon: { float: 1e-5 } }),
    n('MatMul', ['h2', 'w1'], 'f0'), n('Add', ['f0', 'c1'], 'f1'),
    n('Div', ['f1', 'sqrt2'], 'gelu/scaled'), n('Erf', ['gelu/scaled'], 'gelu/erf'), n('Add', ['gelu/erf', 'one'], 'gelu/one_plus'),
    n('Mul', ['f1', 'gelu/one_plus'], 'gelu/prod'), n('Mul', ['gelu/prod', 'half'], 'gelu'),
    n('MatMul', ['gelu', 'w2'], 'f2'), n('Add', ['f2', 'c2'], 'f'),
    n('Add', ['r1', 'f'], 'y0'),
    // An integer path from `picked`: ArgMax → Gather of a table → added. No gradient flows through it.
    n('ArgMax', ['picked'], 'picked_index', { axis: -1, keepdims: 0 }),
    n('Gather', ['table', 'picked_index'], 'picked_row'),
    n('Reshape', ['picked_row', 'row_shape'], 'picked_row3'),
    n('Add', ['y0', 'picked_row3'], 'y'),
    // `stray` reaches no output.
    n('Mul', ['stray', 'two'], 'stray_twice'),
  ];
  return {
    nodes,
    inputs: {
      x: f([B, T, D]),
      memory: f([B, S, D]),
      mask: { dataType: 'int64', dims: [B, K], data: mask },
      picked: f([B, 4]),
      stray: f([3]),
    },
    constants: {
      axis_last: i64([-1]), axes_1_2: i64([1, 2]), two: scalar(2), eps: scalar(1e-5), one: scalar(1), half: scalar(0.5),
      sqrt2: scalar(Math.SQRT2), scale: scalar(1 / Math.sqrt(dh)), lowest: scalar(FLOAT32_LOWEST),
      'ln1/g': f([D], 0.5, 1.5), 'ln1/b': f([D], -0.2, 0.2), 'ln2/g': f([D], 0.5, 1.5), 'ln2/b': f([D], -0.2, 0.2),
      wq: w(D, D), bq: f([D], -0.1, 0.1), wk: w(D, D), bk: f([D], -0.1, 0.1), wv: w(D, D), bv: f([D], -0.1, 0.1),
      wo: w(D, D), bo: f([D], -0.1, 0.1), w1: w(D, F), c1: f([F], -0.1, 0.1), w2: w(F, D), c2: f([D], -0.1, 0.1),
      q_heads_shape: i64([B, T, H, dh]), kv_heads_shape: i64([B, K, H, dh]), merged_shape: i64([B, T, D]),
      table: f([4, D]), row_shape: i64([B, 1, D]),
    },
    outputs: ['y'],
  };
}
