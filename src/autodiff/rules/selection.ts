/**
 * Gradients of the ops that pick elements: Where, elementwise Max/Min, Clip. The gradient goes to what was
 * picked; where several operands tie for a Max or Min it is split equally among them (PyTorch does the same for
 * torch.maximum/minimum of two tensors), so the sum over the operands is dy either way.
 */
import type { Rule } from './rule.ts';

/** y = c ? a : b:  da = dy where c, db = dy where not c (each unbroadcast). The condition gets none. */
const where: Rule = (g) => {
  const e = g.emit;
  const [c, zero] = [g.input(0), g.scalar(0)];
  return [
    undefined,
    g.wants(1) ? g.unbroadcastTo(1, e.op('Where', [c, g.dY, zero], {}, 'dY_where_c'), g.shapeOut(), 'dA') : undefined,
    g.wants(2) ? g.unbroadcastTo(2, e.op('Where', [c, zero, g.dY], {}, 'dY_where_not_c'), g.shapeOut(), 'dB') : undefined,
  ];
};

/** y = max(x₁, x₂, …) (or min):  dxᵢ = dy · [xᵢ = y] / #{j: xⱼ = y}. */
const extremum: Rule = (g) => {
  const e = g.emit;
  const inputs = g.node.inputs;
  if (inputs.length === 1) return [g.dY];
  const y = g.output();
  const hits = inputs.map((x, i) => e.mask(e.op('Equal', [x, y], {}, `x${i}_is_y`), g.dataType, `hit${i}`));
  let count = hits[0];
  for (const hit of hits.slice(1)) count = e.op('Add', [count, hit], {}, 'ties');
  const share = e.op('Div', [g.dY, count], {}, 'dY_per_tie');
  return inputs.map((_, i) => (g.wants(i) ? g.unbroadcastTo(i, e.op('Mul', [share, hits[i]], {}, `dY_x${i}`), g.shapeOut(), `dX${i}`) : undefined));
};

/**
 * y = clip(x, lo, hi):  dx = dy where lo ≤ x ≤ hi (both ends inclusive, as torch.clamp), else 0;
 * dlo = Σ dy where x < lo, dhi = Σ dy where x > hi (lo and hi are scalars).
 */
const clip: Rule = (g) => {
  const e = g.emit;
  const x = g.input(0);
  const zero = g.scalar(0);
  const below = g.has(1) ? e.op('Less', [x, g.input(1)], {}, 'x_lt_lo') : undefined;
  const above = g.has(2) ? e.op('Greater', [x, g.input(2)], {}, 'x_gt_hi') : undefined;
  let dX: string | undefined;
  if (g.wants(0)) {
    dX = g.dY;
    if (below) dX = e.op('Where', [below, zero, dX], {}, 'dY_not_below');
    if (above) dX = e.op('Where', [above, zero, dX], {}, 'dY_not_above');
  }
  const clipped = (mask: string | undefined, i: number, label: string) =>
    g.wants(i) && mask ? g.unbroadcastTo(i, e.op('Where', [mask, g.dY, zero], {}, `dY_${label}`), g.shapeOut(), `d${label}`) : undefined;
  return [dX, clipped(below, 1, 'lo'), clipped(above, 2, 'hi')];
};

export const selectionRules: Record<string, Rule> = { Where: where, Max: extremum, Min: extremum, Clip: clip };
