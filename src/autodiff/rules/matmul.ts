/**
 * Gradients of the matrix products: MatMul (numpy semantics: batched, broadcasting batch axes, 1-D operands
 * promoted to a row or a column and the added axis dropped after) and Gemm (alpha, beta, transA, transB, a bias
 * C broadcast to [M, N]).
 *
 *   Y = A · B           dA = dY · Bᵀ,   dB = Aᵀ · dY       (then summed over the batch axes an operand lacked)
 */
import { broadcastShapes, sameShape } from './emitter.ts';
import type { Rule } from './rule.ts';

/** MatMul of any ranks. */
const matmul: Rule = (g) => {
  const e = g.emit;
  const [shapeA, shapeB, shapeY] = [g.shapeIn(0), g.shapeIn(1), g.shapeOut()];
  // Promote 1-D operands as MatMul does: a vector on the left is a row [1, K], on the right a column [K, 1].
  const a2 = shapeA.length === 1 ? [1, shapeA[0]] : shapeA;
  const b2 = shapeB.length === 1 ? [shapeB[0], 1] : shapeB;
  const [M, K, N] = [a2[a2.length - 2], a2[a2.length - 1], b2[b2.length - 1]];
  const batch = broadcastShapes(a2.slice(0, -2), b2.slice(0, -2));
  const y2 = [...batch, M, N];
  const promote = (x: string, from: number[], to: number[], label: string) => (sameShape(from, to) ? x : e.reshape(x, to, label));
  const dY = promote(g.dY, shapeY, y2, 'dY2');
  const A = promote(g.input(0), shapeA, a2, 'A2');
  const B = promote(g.input(1), shapeB, b2, 'B2');

  let dA: string | undefined;
  if (g.wants(0)) {
    const full = e.op('MatMul', [dY, e.transposeLast2(B, b2.length, 'Bt')], {}, 'dY_Bt'); // [...batch, M, K]
    dA = promote(e.unbroadcast(full, [...batch, M, K], a2, 'dA2'), a2, shapeA, 'dA');
  }
  let dB: string | undefined;
  if (g.wants(1)) {
    const batchOfA = a2.slice(0, -2);
    if (b2.length === 2 && batch.length > 0 && sameShape(batchOfA, batch)) {
      // A weight shared by the whole batch (a linear layer): one [K, P·M]·[P·M, N] product instead of P and a sum.
      const rows = batch.reduce((p, d) => p * d, 1) * M;
      const flatA = e.reshape(A, [rows, K], 'A_rows');
      const flatDY = e.reshape(dY, [rows, N], 'dY_rows');
      dB = promote(e.op('MatMul', [e.transposeLast2(flatA, 2, 'At'), flatDY], {}, 'At_dY'), b2, shapeB, 'dB');
    } else {
      const full = e.op('MatMul', [e.transposeLast2(A, a2.length, 'At'), dY], {}, 'At_dY'); // [...batch, K, N]
      dB = promote(e.unbroadcast(full, [...batch, K, N], b2, 'dB2'), b2, shapeB, 'dB');
    }
  }
  return [dA, dB];
};

/**
 * Y = alpha · op(A) · op(B) + beta · C, op = transpose when transA/transB. The gradients are Gemms again:
 *   dA = alpha · dY · op(B)ᵀ        (transA: its transpose, alpha · op(B) · dYᵀ)
 *   dB = alpha · op(A)ᵀ · dY        (transB: its transpose, alpha · dYᵀ · op(A))
 *   dC = beta · dY summed to C's shape.
 */
const gemm: Rule = (g) => {
  const e = g.emit;
  const alpha = g.float('alpha', 1);
  const beta = g.float('beta', 1);
  const transA = g.int('transA', 0);
  const transB = g.int('transB', 0);
  const [A, B, dY] = [g.input(0), g.input(1), g.dY];
  const gemmOf = (x: string, y: string, tx: number, ty: number, label: string) =>
    e.op('Gemm', [x, y], { alpha: { float: alpha }, transA: tx, transB: ty }, label);
  const dA = g.wants(0) ? (transA ? gemmOf(B, dY, transB, 1, 'dA') : gemmOf(dY, B, 0, 1 - transB, 'dA')) : undefined;
  const dB = g.wants(1) ? (transB ? gemmOf(dY, A, 1, transA, 'dB') : gemmOf(A, dY, 1 - transA, 0, 'dB')) : undefined;
  let dC: string | undefined;
  if (g.has(2) && g.wants(2)) {
    const scaled = beta === 1 ? dY : e.op('Mul', [dY, g.scalar(beta)], {}, 'beta_dY');
    dC = g.unbroadcastTo(2, scaled, g.shapeOut(), 'dC');
  }
  return [dA, dB, dC];
};

export const matmulRules: Record<string, Rule> = { MatMul: matmul, Gemm: gemm };
