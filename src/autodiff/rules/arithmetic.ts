/**
 * Gradients of the broadcasting arithmetic: Add, Sub, Mul, Div, Pow, Neg and the variadic Sum.
 *
 * Each operand's gradient is computed at the output's (broadcast) shape and then summed down to the operand's
 * own shape (Emitter.unbroadcast): an operand repeated along an axis receives the sum over that axis.
 */
import { onnxTypeNumber as castTo } from './emitter.ts';
import type { Rule } from './rule.ts';

/** y = a + b:  da = dy,  db = dy. */
const add: Rule = (g) => [0, 1].map((i) => (g.wants(i) ? g.unbroadcastTo(i, g.dY, g.shapeOut(), i ? 'dB' : 'dA') : undefined));

/** y = a − b:  da = dy,  db = −dy. */
const sub: Rule = (g) => [
  g.wants(0) ? g.unbroadcastTo(0, g.dY, g.shapeOut(), 'dA') : undefined,
  g.wants(1) ? g.emit.op('Neg', [g.unbroadcastTo(1, g.dY, g.shapeOut())], {}, 'dB') : undefined,
];

/** y = a · b:  da = dy · b,  db = dy · a. */
const mul: Rule = (g) => [
  g.wants(0) ? g.unbroadcastTo(0, g.emit.op('Mul', [g.dY, g.input(1)], {}, 'dY_b'), g.shapeOut(), 'dA') : undefined,
  g.wants(1) ? g.unbroadcastTo(1, g.emit.op('Mul', [g.dY, g.input(0)], {}, 'dY_a'), g.shapeOut(), 'dB') : undefined,
];

/** y = a / b:  da = dy / b,  db = −dy · y / b. */
const div: Rule = (g) => {
  const e = g.emit;
  const dA = g.wants(0) ? g.unbroadcastTo(0, e.op('Div', [g.dY, g.input(1)], {}, 'dY_over_b'), g.shapeOut(), 'dA') : undefined;
  let dB: string | undefined;
  if (g.wants(1)) {
    const dyY = e.op('Mul', [g.dY, g.output()], {}, 'dY_y');
    dB = e.op('Neg', [g.unbroadcastTo(1, e.op('Div', [dyY, g.input(1)], {}, 'dY_y_over_b'), g.shapeOut())], {}, 'dB');
  }
  return [dA, dB];
};

/** y = −x:  dx = −dy. */
const neg: Rule = (g) => [g.emit.op('Neg', [g.dY], {}, 'dX')];

/** y = x₁ + x₂ + …:  dxᵢ = dy (unbroadcast). */
const sum: Rule = (g) => g.node.inputs.map((_, i) => (g.wants(i) ? g.unbroadcastTo(i, g.dY, g.shapeOut(), `dX${i}`) : undefined));

/**
 * y = a ^ b:  da = dy · b · a^(b−1),  db = dy · y · ln a (0 where a = 0, as PyTorch: the limit for b > 0).
 * A constant scalar b is folded: b = 2 (torch's x.pow(2) in a LayerNorm) gives da = dy · 2a, b = 1 gives dy,
 * b = 0.5 gives dy · 0.5 / y.
 */
const pow: Rule = (g) => {
  const e = g.emit;
  const [a, b, y] = [g.input(0), g.input(1), g.output()];
  let dA: string | undefined;
  if (g.wants(0)) {
    const constant = g.constantIn(1);
    let local: string; // ∂y/∂a at the output's shape (or a's)
    if (constant && constant.length === 1) {
      const beta = constant[0];
      if (beta === 1) local = '';
      else if (beta === 2) local = e.op('Mul', [a, g.scalar(2)], {}, 'two_a');
      else if (beta === 0.5) local = e.op('Div', [g.scalar(0.5), y], {}, 'half_over_y');
      else local = e.op('Mul', [e.op('Pow', [a, g.scalar(beta - 1)], {}, 'a_pow_bm1'), g.scalar(beta)], {}, 'b_a_pow_bm1');
    } else {
      const bFloat = g.typeOf(b).dataType === g.dataType ? b : e.op('Cast', [b], { to: castTo(g.dataType) }, 'b_float');
      const bm1 = e.op('Sub', [bFloat, g.scalar(1)], {}, 'b_minus_1');
      local = e.op('Mul', [bFloat, e.op('Pow', [a, bm1], {}, 'a_pow_bm1')], {}, 'b_a_pow_bm1');
    }
    dA = g.unbroadcastTo(0, local ? e.op('Mul', [g.dY, local], {}, 'dY_local') : g.dY, g.shapeOut(), 'dA');
  }
  let dB: string | undefined;
  if (g.wants(1)) {
    const zero = g.scalar(0);
    const logA = e.op('Where', [e.op('Equal', [a, zero], {}, 'a_is_0'), zero, e.op('Log', [a], {}, 'log_a')], {}, 'log_a_or_0');
    dB = g.unbroadcastTo(1, e.op('Mul', [e.op('Mul', [g.dY, y], {}, 'dY_y'), logA], {}, 'dY_y_log_a'), g.shapeOut(), 'dB');
  }
  return [dA, dB];
};

export const arithmeticRules: Record<string, Rule> = { Add: add, Sub: sub, Mul: mul, Div: div, Neg: neg, Sum: sum, Pow: pow };
