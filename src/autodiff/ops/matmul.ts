/**
 * Products that contract an axis: MatMul, Gemm and Einsum.
 *
 * ONNX semantics: MatMul is numpy's matmul — a 1-D first operand is a row [1, K] and a 1-D second one a
 * column [K, 1], the added axis dropped from the result; the batch dims (all but the last two) broadcast.
 * Gemm is Y = alpha·A'·B' + beta·C with A' = Aᵀ if transA, B' = Bᵀ if transB, and C broadcast onto [M, N].
 * Einsum takes an equation of single letters (explicit "ij,jk->ik" or implicit "ij,jk", whose output is
 * the letters seen once, in alphabetical order); the ellipsis "..." is not handled here.
 */
import type { OnnxNode } from '../../formats/onnxModel.ts';
import type { Tensor64 } from '../values.ts';
import {
  attrFloat, attrInt, attrString, broadcastIndex, broadcastShapes, mapBroadcast, opError, required, sizeOf, tensor,
  type OpEvaluator,
} from './tensor.ts';

/** The dims of MatMul(a, b). */
export function matmulDims(aDims: readonly number[], bDims: readonly number[], node: OnnxNode): number[] {
  if (aDims.length === 0 || bDims.length === 0) throw opError(node, 'MatMul of a scalar');
  const a = aDims.length === 1 ? [1, aDims[0]] : [...aDims];
  const b = bDims.length === 1 ? [bDims[0], 1] : [...bDims];
  const [m, k] = a.slice(-2);
  const [kb, n] = b.slice(-2);
  if (k !== kb) throw opError(node, `MatMul of [${aDims.join(', ')}] by [${bDims.join(', ')}]: inner dims ${k} and ${kb} differ`);
  const batch = broadcastShapes([a.slice(0, -2), b.slice(0, -2)], node);
  return [...batch, ...(aDims.length === 1 ? [] : [m]), ...(bDims.length === 1 ? [] : [n])];
}

const matMul: OpEvaluator = (inputs, node) => {
  const aIn = required(inputs, 0, node);
  const bIn = required(inputs, 1, node);
  const dims = matmulDims(aIn.dims, bIn.dims, node);
  const aDims = aIn.dims.length === 1 ? [1, aIn.dims[0]] : aIn.dims;
  const bDims = bIn.dims.length === 1 ? [bIn.dims[0], 1] : bIn.dims;
  const [m, k] = aDims.slice(-2);
  const n = bDims[bDims.length - 1];
  const batch = broadcastShapes([aDims.slice(0, -2), bDims.slice(0, -2)], node);
  // Which matrix of a and of b each batch entry uses.
  const aBatch = broadcastIndex(aDims.slice(0, -2), batch);
  const bBatch = broadcastIndex(bDims.slice(0, -2), batch);
  const out = tensor(aIn.dataType, dims);
  for (let p = 0; p < sizeOf(batch); p++) {
    const aBase = aBatch[p] * m * k;
    const bBase = bBatch[p] * k * n;
    const outBase = p * m * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let t = 0; t < k; t++) sum += aIn.data[aBase + i * k + t] * bIn.data[bBase + t * n + j];
        out.data[outBase + i * n + j] = sum;
      }
    }
  }
  return [out];
};

/** Gemm's [M, N] and contraction length K, from A's and B's dims and the transposes. */
export function gemmDims(node: OnnxNode, aDims: readonly number[], bDims: readonly number[]): { m: number; k: number; n: number } {
  if (aDims.length !== 2 || bDims.length !== 2) throw opError(node, 'Gemm needs 2-D A and B');
  const transA = attrInt(node, 'transA', 0) !== 0;
  const transB = attrInt(node, 'transB', 0) !== 0;
  const [m, k] = transA ? [aDims[1], aDims[0]] : [aDims[0], aDims[1]];
  const [kb, n] = transB ? [bDims[1], bDims[0]] : [bDims[0], bDims[1]];
  if (k !== kb) throw opError(node, `Gemm inner dims ${k} and ${kb} differ`);
  return { m, k, n };
}

const gemm: OpEvaluator = (inputs, node) => {
  const a = required(inputs, 0, node);
  const b = required(inputs, 1, node);
  const c = inputs[2];
  const alpha = attrFloat(node, 'alpha', 1);
  const beta = attrFloat(node, 'beta', 1);
  const transA = attrInt(node, 'transA', 0) !== 0;
  const transB = attrInt(node, 'transB', 0) !== 0;
  const { m, k, n } = gemmDims(node, a.dims, b.dims);
  const aAt = (i: number, t: number) => (transA ? a.data[t * m + i] : a.data[i * k + t]);
  const bAt = (t: number, j: number) => (transB ? b.data[j * k + t] : b.data[t * n + j]);
  const product = tensor(a.dataType, [m, n]);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let t = 0; t < k; t++) sum += aAt(i, t) * bAt(t, j);
      product.data[i * n + j] = alpha * sum;
    }
  }
  if (!c) return [product];
  const bias = mapBroadcast([product, c], a.dataType, node, (p, x) => p + beta * x);
  if (bias.dims.length !== 2 || bias.dims[0] !== m || bias.dims[1] !== n) throw opError(node, `Gemm's C does not broadcast onto [${m}, ${n}]`);
  return [bias];
};

// ---------------------------------------------------------------------------------------------------------
// Einsum

/** An equation's operand letters and output letters. */
export function parseEinsum(node: OnnxNode, operands: number): { terms: string[]; output: string } {
  const equation = attrString(node, 'equation', '').replace(/\s+/g, '');
  if (equation.includes('.')) throw opError(node, `Einsum "${equation}": the ellipsis is not supported by this evaluator`);
  const [left, right] = equation.split('->');
  const terms = left.split(',');
  if (terms.length !== operands) throw opError(node, `Einsum "${equation}" names ${terms.length} operands, the node has ${operands}`);
  if (right !== undefined) return { terms, output: right };
  const counts = new Map<string, number>();
  for (const letter of terms.join('')) counts.set(letter, (counts.get(letter) ?? 0) + 1);
  return { terms, output: [...counts].filter(([, c]) => c === 1).map(([l]) => l).sort().join('') };
}

/** Each letter's extent, checked against every operand that has it. */
export function einsumExtents(node: OnnxNode, terms: string[], dims: ReadonlyArray<readonly number[]>): Map<string, number> {
  const extents = new Map<string, number>();
  terms.forEach((term, o) => {
    if (term.length !== dims[o].length) throw opError(node, `Einsum term "${term}" for an operand of rank ${dims[o].length}`);
    [...term].forEach((letter, k) => {
      const known = extents.get(letter);
      if (known !== undefined && known !== dims[o][k]) throw opError(node, `Einsum letter ${letter} is ${known} and ${dims[o][k]}`);
      extents.set(letter, dims[o][k]);
    });
  });
  return extents;
}

const einsum: OpEvaluator = (inputs, node) => {
  const operands = inputs.filter((t): t is Tensor64 => t !== undefined);
  const { terms, output } = parseEinsum(node, operands.length);
  const extents = einsumExtents(node, terms, operands.map((t) => t.dims));
  const letters = [...output, ...[...extents.keys()].filter((l) => !output.includes(l))];
  const outDims = [...output].map((l) => {
    const e = extents.get(l);
    if (e === undefined) throw opError(node, `Einsum output letter ${l} is in no operand`);
    return e;
  });
  const out = tensor(operands[0].dataType, outDims);
  const loopDims = letters.map((l) => extents.get(l) as number);
  // For each operand, the stride each loop letter moves it by.
  const strides = operands.map((t, o) => {
    const own = t.dims.map((_, k) => t.dims.slice(k + 1).reduce((a, b) => a * b, 1));
    return letters.map((l) => [...terms[o]].reduce((s, letter, k) => (letter === l ? s + own[k] : s), 0));
  });
  const outStrides = letters.map((_, k) => (k < output.length ? outDims.slice(k + 1).reduce((a, b) => a * b, 1) : 0));
  const counter = new Array<number>(letters.length).fill(0);
  const total = sizeOf(loopDims);
  for (let step = 0; step < total; step++) {
    let product = 1;
    for (let o = 0; o < operands.length; o++) {
      let at = 0;
      for (let k = 0; k < letters.length; k++) at += counter[k] * strides[o][k];
      product *= operands[o].data[at];
    }
    let outAt = 0;
    for (let k = 0; k < output.length; k++) outAt += counter[k] * outStrides[k];
    out.data[outAt] += product;
    for (let k = letters.length - 1; k >= 0; k--) {
      if (++counter[k] < loopDims[k]) break;
      counter[k] = 0;
    }
  }
  return [out];
};

export const matmulOps: Record<string, OpEvaluator> = { MatMul: matMul, Gemm: gemm, Einsum: einsum };
