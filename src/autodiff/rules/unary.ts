/**
 * Gradients of the elementwise functions of one tensor: dx = dy · f′(x), with f′ written from the output y
 * where that is cheaper (exp, tanh, sigmoid, sqrt, reciprocal) and from x otherwise.
 */
import type { NodeGradient, Rule } from './rule.ts';

/** dx = dy · local, one node per factor. */
function times(g: NodeGradient, local: string): string[] {
  return [g.emit.op('Mul', [g.dY, local], {}, 'dX')];
}

/** sign(x) = [x > 0] − [x < 0] (0 at 0), from comparisons: WebGPU has no Sign kernel. */
function sign(g: NodeGradient, x: string): string {
  const e = g.emit;
  const zero = g.scalar(0);
  const positive = e.mask(e.op('Greater', [x, zero], {}, 'x_gt_0'), g.dataType, 'positive');
  const negative = e.mask(e.op('Less', [x, zero], {}, 'x_lt_0'), g.dataType, 'negative');
  return e.op('Sub', [positive, negative], {}, 'sign');
}

/** y = √x:  dx = dy · 0.5 / y. */
const sqrt: Rule = (g) => [g.emit.op('Div', [g.emit.op('Mul', [g.dY, g.scalar(0.5)], {}, 'half_dY'), g.output()], {}, 'dX')];

/** y = 1/x:  dx = −dy · y². */
const reciprocal: Rule = (g) => {
  const e = g.emit;
  const ySquared = e.op('Mul', [g.output(), g.output()], {}, 'y2');
  return [e.op('Neg', [e.op('Mul', [g.dY, ySquared], {}, 'dY_y2')], {}, 'dX')];
};

/** y = eˣ:  dx = dy · y. */
const exp: Rule = (g) => times(g, g.output());

/** y = ln x:  dx = dy / x. */
const log: Rule = (g) => [g.emit.op('Div', [g.dY, g.input(0)], {}, 'dX')];

/** y = tanh x:  dx = dy · (1 − y²). */
const tanh: Rule = (g) => {
  const e = g.emit;
  return times(g, e.op('Sub', [g.scalar(1), e.op('Mul', [g.output(), g.output()], {}, 'y2')], {}, 'one_minus_y2'));
};

/** y = σ(x):  dx = dy · y · (1 − y). */
const sigmoid: Rule = (g) => {
  const e = g.emit;
  const y = g.output();
  return times(g, e.op('Mul', [y, e.op('Sub', [g.scalar(1), y], {}, 'one_minus_y')], {}, 'y_one_minus_y'));
};

/** y = erf x:  dx = dy · 2/√π · e^(−x²). */
const erf: Rule = (g) => {
  const e = g.emit;
  const x = g.input(0);
  const minusX2 = e.op('Neg', [e.op('Mul', [x, x], {}, 'x2')], {}, 'minus_x2');
  return times(g, e.op('Mul', [e.op('Exp', [minusX2], {}, 'exp_minus_x2'), g.scalar(2 / Math.sqrt(Math.PI))], {}, 'derf'));
};

/** y = max(x, 0):  dx = dy where x > 0, else 0 (0 at x = 0, as PyTorch). */
const relu: Rule = (g) => {
  const e = g.emit;
  return [e.op('Where', [e.op('Greater', [g.input(0), g.scalar(0)], {}, 'x_gt_0'), g.dY, g.scalar(0)], {}, 'dX')];
};

/** y = |x|:  dx = dy · sign(x) (0 at x = 0, as PyTorch). */
const abs: Rule = (g) => times(g, sign(g, g.input(0)));

export const unaryRules: Record<string, Rule> = {
  Sqrt: sqrt, Reciprocal: reciprocal, Exp: exp, Log: log, Tanh: tanh, Sigmoid: sigmoid, Erf: erf, Relu: relu, Abs: abs,
};
