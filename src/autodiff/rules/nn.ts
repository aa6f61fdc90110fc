/**
 * Gradients of the neural-network ops a transformer is made of: Softmax, LogSoftmax (opset 13+: over one axis),
 * LayerNormalization (opset 17) and Gelu (opset 20, both approximations). Each is written with plain ops
 * (no fused gradient kernels), so the backward graph runs wherever the forward ops run.
 */
import { product } from './emitter.ts';
import type { NodeGradient, Rule } from './rule.ts';

/** y = softmax(x) along axis:  dx = y ⊙ (dy − Σ_axis dy ⊙ y). */
const softmax: Rule = (g) => {
  const e = g.emit;
  const axis = g.axis(g.int('axis', -1), g.shapeOut().length);
  const y = g.output();
  const dyY = e.op('Mul', [g.dY, y], {}, 'dY_y');
  const inner = e.reduceSum(dyY, [axis], true, 'sum_dY_y');
  return [e.op('Mul', [y, e.op('Sub', [g.dY, inner], {}, 'dY_minus_sum')], {}, 'dX')];
};

/** y = log softmax(x) along axis:  dx = dy − eʸ ⊙ Σ_axis dy. */
const logSoftmax: Rule = (g) => {
  const e = g.emit;
  const axis = g.axis(g.int('axis', -1), g.shapeOut().length);
  const total = e.reduceSum(g.dY, [axis], true, 'sum_dY');
  const probabilities = e.op('Exp', [g.output()], {}, 'p');
  return [e.op('Sub', [g.dY, e.op('Mul', [probabilities, total], {}, 'p_sum_dY')], {}, 'dX')];
};

/** The mean over the normalised axes, keeping them: a ReduceSum times 1/n. */
function meanOver(g: NodeGradient, x: string, axes: number[], n: number, label: string): string {
  return g.emit.op('Mul', [g.emit.reduceSum(x, axes, true, `sum_${label}`), g.scalar(1 / n)], {}, label);
}

/**
 * y = x̂ ⊙ γ + β over the axes [axis, rank), x̂ = (x − μ) · r, r = 1/√(var + ε):
 *   dβ = Σ dy,   dγ = Σ dy ⊙ x̂    (over the leading axes),
 *   dx = r · (ĝ − mean(ĝ) − x̂ ⊙ mean(ĝ ⊙ x̂)),  ĝ = dy ⊙ γ.
 * μ and r come from the node's Mean and InvStdDev outputs when it has them, else are recomputed with
 * ReduceSum/Sqrt/Reciprocal. Gradients flowing into Mean or InvStdDev themselves are refused.
 */
const layerNormalization: Rule = (g) => {
  const e = g.emit;
  if (g.dOutputs[1] !== undefined || g.dOutputs[2] !== undefined) {
    g.refuse('through its Mean or InvStdDev outputs', 'Use only output Y downstream, or decompose the normalisation into standard ops.');
  }
  const shape = g.shapeIn(0);
  const axis = g.axis(g.int('axis', -1), shape.length);
  const axes = Array.from({ length: shape.length - axis }, (_, i) => axis + i);
  const n = product(shape.slice(axis));
  const x = g.input(0);
  let mean = g.node.outputs[1] ?? '';
  let invStd = g.node.outputs[2] ?? '';
  if (!mean || !invStd) {
    mean = meanOver(g, x, axes, n, 'mean');
    const centred = e.op('Sub', [x, mean], {}, 'centred');
    const variance = meanOver(g, e.op('Mul', [centred, centred], {}, 'centred2'), axes, n, 'var');
    const std = e.op('Sqrt', [e.op('Add', [variance, g.scalar(g.float('epsilon', 1e-5))], {}, 'var_eps')], {}, 'std');
    invStd = e.op('Reciprocal', [std], {}, 'inv_std');
  }
  const xHat = e.op('Mul', [e.op('Sub', [x, mean], {}, 'x_minus_mean'), invStd], {}, 'x_hat');
  const dBias = g.has(2) && g.wants(2) ? g.unbroadcastTo(2, g.dY, shape, 'dBias') : undefined;
  const dScale = g.wants(1) ? g.unbroadcastTo(1, e.op('Mul', [g.dY, xHat], {}, 'dY_x_hat'), shape, 'dScale') : undefined;
  let dX: string | undefined;
  if (g.wants(0)) {
    const gHat = e.op('Mul', [g.dY, g.input(1)], {}, 'g_hat');
    const meanG = meanOver(g, gHat, axes, n, 'mean_g');
    const meanGX = meanOver(g, e.op('Mul', [gHat, xHat], {}, 'g_x_hat'), axes, n, 'mean_g_x_hat');
    const inner = e.op('Sub', [e.op('Sub', [gHat, meanG], {}, 'g_centred'), e.op('Mul', [xHat, meanGX], {}, 'x_hat_mean_g_x_hat')], {}, 'inner');
    dX = e.op('Mul', [inner, invStd], {}, 'dX');
  }
  return [dX, dScale, dBias];
};

/**
 * Gelu (approximate = "none"):  y = x Φ(x),  dx = dy · (Φ(x) + x φ(x)),  Φ(x) = ½(1 + erf(x/√2)), φ(x) = e^(−x²/2)/√(2π).
 * Gelu (approximate = "tanh"):  y = ½x(1 + t), t = tanh(c(x + 0.044715x³)), c = √(2/π),
 *   dx = dy · (½(1 + t) + ½x(1 − t²) · c(1 + 3·0.044715x²)).
 */
const gelu: Rule = (g) => {
  const e = g.emit;
  const x = g.input(0);
  const x2 = e.op('Mul', [x, x], {}, 'x2');
  const approximate = g.string('approximate', 'none');
  let local: string;
  if (approximate === 'none') {
    const erf = e.op('Erf', [e.op('Mul', [x, g.scalar(Math.SQRT1_2)], {}, 'x_over_sqrt2')], {}, 'erf');
    const cdf = e.op('Mul', [e.op('Add', [erf, g.scalar(1)], {}, 'one_plus_erf'), g.scalar(0.5)], {}, 'cdf');
    const gaussian = e.op('Exp', [e.op('Mul', [x2, g.scalar(-0.5)], {}, 'minus_half_x2')], {}, 'exp_minus_half_x2');
    const pdf = e.op('Mul', [gaussian, g.scalar(1 / Math.sqrt(2 * Math.PI))], {}, 'pdf');
    local = e.op('Add', [cdf, e.op('Mul', [x, pdf], {}, 'x_pdf')], {}, 'dgelu');
  } else if (approximate === 'tanh') {
    const c = Math.sqrt(2 / Math.PI);
    const k = 0.044715;
    const inner = e.op('Mul', [e.op('Add', [x, e.op('Mul', [x2, e.op('Mul', [x, g.scalar(k)], {}, 'kx')], {}, 'kx3')], {}, 'x_plus_kx3'), g.scalar(c)], {}, 'u');
    const t = e.op('Tanh', [inner], {}, 't');
    const half = e.op('Mul', [e.op('Add', [t, g.scalar(1)], {}, 'one_plus_t'), g.scalar(0.5)], {}, 'half_one_plus_t');
    const sech2 = e.op('Sub', [g.scalar(1), e.op('Mul', [t, t], {}, 't2')], {}, 'one_minus_t2');
    const du = e.op('Mul', [e.op('Add', [e.op('Mul', [x2, g.scalar(3 * k)], {}, 'three_k_x2'), g.scalar(1)], {}, 'one_plus_3kx2'), g.scalar(0.5 * c)], {}, 'half_du');
    local = e.op('Add', [half, e.op('Mul', [e.op('Mul', [x, sech2], {}, 'x_sech2'), du], {}, 'x_sech2_du')], {}, 'dgelu');
  } else {
    return g.refuse(`with approximate = "${approximate}"`, 'Gelu has "none" and "tanh" only.');
  }
  return [e.op('Mul', [g.dY, local], {}, 'dX')];
};

export const nnRules: Record<string, Rule> = { Softmax: softmax, LogSoftmax: logSoftmax, LayerNormalization: layerNormalization, Gelu: gelu };
