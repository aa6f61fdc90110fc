/**
 * Gradients of the reductions (ReduceSum, ReduceMean, ReduceSumSquare, ReduceMax, ReduceMin) and of CumSum.
 *
 * A reduction's gradient is its output gradient put back over the reduced axes: dy is first given the kept
 * shape (the reduced axes as 1s, a Reshape when keepdims = 0), then broadcast against x. The axes come from the
 * `axes` input (ReduceSum from opset 13, the others from 18; it must be a constant) or the attribute before.
 *
 * ReduceMax/ReduceMin at ties: the gradient is split equally among the elements equal to the extremum (as
 * torch.amax/amin do), so its sum over the reduced axes is dy whatever the ties.
 */
import { product } from './emitter.ts';
import type { NodeGradient, Rule } from './rule.ts';

interface Reduction {
  /** Reduced axes, non-negative; empty when the node reduces nothing (noop_with_empty_axes). */
  axes: number[];
  /** x's shape with the reduced axes as 1. */
  kept: number[];
  /** Number of elements reduced into each output element. */
  count: number;
  /** dy in the kept shape. */
  dY: string;
  /** y in the kept shape (for ReduceMax/Min). */
  keptOutput(): string;
}

function reduction(g: NodeGradient): Reduction {
  const shape = g.shapeIn(0);
  const fromInput = g.has(1) ? g.requireConstant(1, 'axes') : undefined;
  let axes = (fromInput ?? g.ints('axes') ?? []).map((a) => g.axis(a, shape.length));
  if (axes.length === 0) axes = g.int('noop_with_empty_axes', 0) ? [] : shape.map((_, i) => i);
  const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const keepdims = g.int('keepdims', 1) === 1;
  const toKept = (v: string, label: string) => (keepdims || axes.length === 0 ? v : g.emit.reshape(v, kept, label));
  return {
    axes, kept, count: product(axes.map((a) => shape[a])),
    dY: toKept(g.dY, 'dY_kept'),
    keptOutput: () => toKept(g.output(), 'y_kept'),
  };
}

/** y = Σ x:  dx = dy broadcast over the reduced axes. */
const reduceSum: Rule = (g) => {
  const r = reduction(g);
  return [r.axes.length ? g.emit.expand(r.dY, g.shapeIn(0), 'dX') : r.dY];
};

/** y = Σ x / n:  dx = dy / n broadcast. */
const reduceMean: Rule = (g) => {
  const r = reduction(g);
  if (r.axes.length === 0) return [r.dY];
  return [g.emit.expand(g.emit.op('Mul', [r.dY, g.scalar(1 / r.count)], {}, 'dY_over_n'), g.shapeIn(0), 'dX')];
};

/** y = Σ x²:  dx = 2x · dy. */
const reduceSumSquare: Rule = (g) => {
  const r = reduction(g);
  const e = g.emit;
  return [e.op('Mul', [e.op('Mul', [g.input(0), g.scalar(2)], {}, 'two_x'), r.dY], {}, 'dX')];
};

/** y = max x (or min):  dx = dy · [x = y] / #{x = y}. */
const reduceExtremum: Rule = (g) => {
  const r = reduction(g);
  const e = g.emit;
  if (r.axes.length === 0) return [r.dY];
  const hit = e.mask(e.op('Equal', [g.input(0), r.keptOutput()], {}, 'x_is_y'), g.dataType, 'hit');
  const ties = e.reduceSum(hit, r.axes, true, 'ties');
  return [e.op('Mul', [hit, e.op('Div', [r.dY, ties], {}, 'dY_per_tie')], {}, 'dX')];
};

/** y = cumsum(x) along axis:  dx = the same cumsum of dy in the other direction (exclusive stays exclusive). */
const cumSum: Rule = (g) => [
  g.emit.op('CumSum', [g.dY, g.input(1)], { exclusive: g.int('exclusive', 0), reverse: 1 - g.int('reverse', 0) }, 'dX'),
];

export const reductionRules: Record<string, Rule> = {
  ReduceSum: reduceSum, ReduceMean: reduceMean, ReduceSumSquare: reduceSumSquare,
  ReduceMax: reduceExtremum, ReduceMin: reduceExtremum, CumSum: cumSum,
};
