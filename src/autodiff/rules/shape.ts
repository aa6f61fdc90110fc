/**
 * Gradients of the ops that move elements without changing them: Reshape, Flatten, Squeeze, Unsqueeze,
 * Transpose, Expand, Tile, Concat, Split. Each gradient moves dy back: a reshape to x's static shape, the
 * inverse permutation, a sum over the repeats, a slice per concatenated input, a concat of the split parts.
 */
import type { Rule } from './rule.ts';

/** Reshape, Flatten, Squeeze, Unsqueeze: the same elements in another shape,  dx = reshape(dy, shape(x)). */
const reshape: Rule = (g) => [g.emit.reshape(g.dY, g.shapeIn(0), 'dX')];

/** y = transpose(x, perm):  dx = transpose(dy, perm⁻¹). */
const transpose: Rule = (g) => {
  const rank = g.shapeIn(0).length;
  const perm = g.ints('perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
  const inverse: number[] = new Array(rank);
  perm.forEach((p, i) => { inverse[p] = i; });
  return [g.emit.op('Transpose', [g.dY], { perm: inverse }, 'dX')];
};

/** y = expand(x, shape), a broadcast:  dx = dy summed over the broadcast axes. */
const expand: Rule = (g) => [g.unbroadcastTo(0, g.dY, g.shapeOut(), 'dX')];

/** y = tile(x, r):  dx = Σ over the r copies, i.e. dy seen as [r₀, s₀, r₁, s₁, …] summed over the r axes. */
const tile: Rule = (g) => {
  const e = g.emit;
  const [shape, out] = [g.shapeIn(0), g.shapeOut()];
  const repeats = shape.map((s, i) => (s === 0 ? 1 : out[i] / s));
  const split = shape.flatMap((s, i) => [repeats[i], s]);
  const copies = e.reshape(g.dY, split, 'dY_copies');
  const summed = e.reduceSum(copies, shape.map((_, i) => 2 * i), false, 'dX');
  return [summed === copies ? e.reshape(copies, shape, 'dX') : summed];
};

/** y = concat(x₁, x₂, …; axis):  dxᵢ = dy[…, offsetᵢ : offsetᵢ + lenᵢ, …] (a Slice each). */
const concat: Rule = (g) => {
  const e = g.emit;
  const rank = g.shapeOut().length;
  const axis = g.axis(g.int('axis', 0), rank);
  let offset = 0;
  return g.node.inputs.map((_, i) => {
    const length = g.shapeIn(i)[axis];
    const start = offset;
    offset += length;
    if (!g.wants(i)) return undefined;
    return e.op('Slice', [g.dY, e.ints([start]), e.ints([start + length]), e.ints([axis])], {}, `dX${i}`);
  });
};

/** (y₁, y₂, …) = split(x; axis):  dx = concat(dy₁, dy₂, …), zeros for a part no gradient reaches. */
const split: Rule = (g) => {
  const e = g.emit;
  const axis = g.axis(g.int('axis', 0), g.shapeIn(0).length);
  const parts = g.node.outputs.map((name, k) => g.dOutputs[k] ?? e.zeros(g.typeOf(name).shape, g.dataType, `zeros_dY${k}`));
  return [parts.length === 1 ? parts[0] : e.op('Concat', parts, { axis }, 'dX')];
};

export const shapeRules: Record<string, Rule> = {
  Reshape: reshape, Flatten: reshape, Squeeze: reshape, Unsqueeze: reshape,
  Transpose: transpose, Expand: expand, Tile: tile, Concat: concat, Split: split,
};
