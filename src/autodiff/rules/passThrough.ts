/**
 * Gradients of the ops that pass values through unchanged: Identity, Dropout at inference, and Cast between
 * float types (the gradient is cast back). A Cast to an integer or bool type stops the gradient: its output is
 * never active, so no rule is called for it.
 */
import { isFloat, onnxTypeNumber } from './emitter.ts';
import type { Rule } from './rule.ts';

/** y = x:  dx = dy. */
const identity: Rule = (g) => [g.dY];

/** y = dropout(x) at inference (training_mode absent or a constant false):  dx = dy. */
const dropout: Rule = (g) => {
  const training = g.has(2) ? g.constantIn(2) : [0];
  if (!training || training[0] !== 0) {
    g.refuse('in training mode', 'Export the graph for inference (Dropout is the identity there) or set training_mode to a constant false.');
  }
  return [g.dY];
};

/** y = cast(x) between float types:  dx = cast(dy) back to x's type. */
const cast: Rule = (g) => {
  const from = g.typeOf(g.input(0)).dataType;
  if (!isFloat(from)) return [undefined];
  return [from === g.dataType ? g.dY : g.emit.op('Cast', [g.dY], { to: onnxTypeNumber(from) }, 'dX')];
};

export const passThroughRules: Record<string, Rule> = { Identity: identity, Dropout: dropout, Cast: cast };
