/**
 * Float64 CPU references of the kernels, written straight from the equations of docs/ENGINE.md §3–5.
 * Inputs are the same float32 arrays the GPU gets; every sum is taken in float64. Besides the values, the
 * matmul-like references return `scale`: per output, the sum of the absolute values of the terms (after
 * masking and dropout), the natural yardstick of the float32 rounding error of that output.
 */
import { dropoutKeep } from '../random.ts';

type F32 = Float32Array;

export function refEmbeddingLookup(ids: Uint32Array, table: F32, N: number, d: number, V: number): Float64Array {
  const out = new Float64Array(N * d);
  for (let n = 0; n < N; n++) {
    if (ids[n] >= V) continue;
    for (let c = 0; c < d; c++) out[n * d + c] = table[ids[n] * d + c];
  }
  return out;
}

/** keep[n·r + j] = 1 iff randU32(key, n·r + j) ≥ p·2^32 (from the TS RNG). */
export function refDropoutMask(key: number, p: number, N: number, r: number): Uint8Array {
  const keep = new Uint8Array(N * r);
  for (let i = 0; i < N * r; i++) keep[i] = dropoutKeep(key, p, i) ? 1 : 0;
  return keep;
}

export interface WithScale {
  value: Float64Array;
  scale: Float64Array;
}

/** H[n, j] = keep(n, j)/(1 − p) · Σ_k E[n, k]·Wdown[k, j]. */
export function refAdalinkDown(E: F32, Wdown: F32, N: number, d: number, r: number, p: number, key: number): WithScale {
  const keep = refDropoutMask(key, p, N, r);
  const value = new Float64Array(N * r);
  const scale = new Float64Array(N * r);
  const s = 1 / (1 - p);
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < r; j++) {
      if (!keep[n * r + j]) continue;
      let acc = 0;
      let abs = 0;
      for (let k = 0; k < d; k++) {
        const t = E[n * d + k] * Wdown[k * r + j];
        acc += t;
        abs += Math.abs(t);
      }
      value[n * r + j] = acc * s;
      scale[n * r + j] = abs * s;
    }
  }
  return { value, scale };
}

/** adapted[n, c] = E[n, c] + Σ_j H[n, j]·Wup[j, c]. */
export function refAdalinkUp(E: F32, H: F32, Wup: F32, N: number, d: number, r: number): WithScale {
  const value = new Float64Array(N * d);
  const scale = new Float64Array(N * d);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < d; c++) {
      let acc = E[n * d + c];
      let abs = Math.abs(acc);
      for (let j = 0; j < r; j++) {
        const t = H[n * r + j] * Wup[j * d + c];
        acc += t;
        abs += Math.abs(t);
      }
      value[n * d + c] = acc;
      scale[n * d + c] = abs;
    }
  }
  return { value, scale };
}

export interface BackwardInputs {
  E: F32;
  G: F32;
  valid: Uint32Array;
  H: F32;
  Wup: F32;
  N: number;
  d: number;
  r: number;
  p: number;
  key: number;
}

export interface BackwardReference {
  dWup: WithScale;
  dH: WithScale;
  /** scale of dWdown also carries dH's own rounding: Σ_n |E[n, k]|·dH.scale[n, j]. */
  dWdown: WithScale;
}

/**
 * dWup = Hᵀ·(valid ⊙ G); dH = valid ⊙ keep ⊙ (G·Wupᵀ)/(1 − p); dWdown = Eᵀ·dH.
 * Masked rows contribute nothing (skipped, as in the kernels).
 */
export function refAdalinkBackward(x: BackwardInputs): BackwardReference {
  const { E, G, valid, H, Wup, N, d, r, p, key } = x;
  const keep = refDropoutMask(key, p, N, r);
  const s = 1 / (1 - p);

  const dWup = { value: new Float64Array(r * d), scale: new Float64Array(r * d) };
  const dH = { value: new Float64Array(N * r), scale: new Float64Array(N * r) };
  const dWdown = { value: new Float64Array(d * r), scale: new Float64Array(d * r) };
  for (let n = 0; n < N; n++) {
    if (!valid[n]) continue;
    for (let j = 0; j < r; j++) {
      const h = H[n * r + j];
      for (let c = 0; c < d; c++) {
        const t = h * G[n * d + c];
        dWup.value[j * d + c] += t;
        dWup.scale[j * d + c] += Math.abs(t);
      }
      if (!keep[n * r + j]) continue;
      let acc = 0;
      let abs = 0;
      for (let c = 0; c < d; c++) {
        const t = G[n * d + c] * Wup[j * d + c];
        acc += t;
        abs += Math.abs(t);
      }
      dH.value[n * r + j] = acc * s;
      dH.scale[n * r + j] = abs * s;
    }
  }
  for (let n = 0; n < N; n++) {
    if (!valid[n]) continue;
    for (let k = 0; k < d; k++) {
      const e = E[n * d + k];
      for (let j = 0; j < r; j++) {
        dWdown.value[k * r + j] += e * dH.value[n * r + j];
        dWdown.scale[k * r + j] += Math.abs(e) * dH.scale[n * r + j];
      }
    }
  }
  return { dWup, dH, dWdown };
}

const isFiniteF64 = (x: number) => Number.isFinite(x);

export interface RefStatus {
  sumSquares: number;
  norm: number;
  clipScale: number;
  skip: boolean;
}

/**
 * The step status: sumSquares = Σ g² over all gradients, norm = sqrt, clipScale = min(1, clip/(norm+1e-6))
 * (1 when clip = 0 or skipping), skip = loss or some gradient element non-finite, or the float32 norm
 * overflowing (sumSquares ≥ the largest float32).
 */
export function refGradNorm(grads: readonly F32[], loss: number, clip: number): RefStatus {
  let sumSquares = 0;
  let nonFinite = !isFiniteF64(loss);
  for (const g of grads) {
    for (let i = 0; i < g.length; i++) {
      if (!isFiniteF64(g[i])) nonFinite = true;
      sumSquares += g[i] * g[i];
    }
  }
  const norm = Math.sqrt(sumSquares);
  const skip = nonFinite || !(sumSquares < 3.4028234663852886e38);
  const clipScale = skip || clip === 0 ? 1 : Math.min(1, clip / (norm + 1e-6));
  return { sumSquares, norm, clipScale, skip };
}

export interface AdamwOptions {
  lr: number;
  step: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** AdamW state in float64, plus `mAbs` (the m recursion on |g|: the yardstick of m's rounding). */
export interface AdamwState {
  p: Float64Array;
  m: Float64Array;
  v: Float64Array;
  mAbs: Float64Array;
  /** Σ over steps of lr·(mAbs/bc1)/(sqrt(v/bc2)+ε) + lr·wd·|p| (the yardstick of p's accumulated rounding). */
  updAbs: Float64Array;
}

export function newAdamwState(p: F32): AdamwState {
  const n = p.length;
  return {
    p: Float64Array.from(p),
    m: new Float64Array(n),
    v: new Float64Array(n),
    mAbs: new Float64Array(n),
    updAbs: new Float64Array(n),
  };
}

/** One AdamW step (PyTorch's rule, ENGINE.md §5) with g ← g·clipScale; skip changes nothing. */
export function refAdamwStep(state: AdamwState, grad: F32, clipScale: number, skip: boolean, o: AdamwOptions): void {
  if (skip) return;
  const bc1 = 1 - Math.pow(o.beta1, o.step);
  const bc2 = 1 - Math.pow(o.beta2, o.step);
  for (let i = 0; i < grad.length; i++) {
    const g = grad[i] * clipScale;
    let p = state.p[i];
    p = p - o.lr * o.weightDecay * p;
    state.m[i] = o.beta1 * state.m[i] + (1 - o.beta1) * g;
    state.mAbs[i] = o.beta1 * state.mAbs[i] + (1 - o.beta1) * Math.abs(g);
    state.v[i] = o.beta2 * state.v[i] + (1 - o.beta2) * g * g;
    const denom = Math.sqrt(state.v[i] / bc2) + o.eps;
    state.p[i] = p - (o.lr * (state.m[i] / bc1)) / denom;
    // Yardstick: the update's size had m no cancellation (m's rounding is relative to mAbs, not |m|).
    state.updAbs[i] += o.lr * (state.mAbs[i] / bc1 / denom + o.weightDecay * Math.abs(p));
  }
}

export interface AdafactorOptions {
  lr: number;
  step: number;
  weightDecay: number;
}

export interface AdafactorState {
  p: Float64Array;
  row: Float64Array;
  col: Float64Array;
  /** Σ over steps of lr·(|u|/denom + wd·|p|) (the yardstick of p's accumulated rounding). */
  updAbs: Float64Array;
}

export function newAdafactorState(p: F32, R: number, C: number): AdafactorState {
  return { p: Float64Array.from(p), row: new Float64Array(R), col: new Float64Array(C), updAbs: new Float64Array(R * C) };
}

/**
 * One Adafactor step (ENGINE.md §5) of an R×C matrix with g ← g·clipScale; skip changes nothing.
 * β2t = 1 − t^(−0.8); g2 = g² + 1e-30; row, col EMAs of the means of g2; v = row ⊗ col / mean(row);
 * u = g/sqrt(v); u ← u / max(1, rms(u)); p ← p − lr·u − lr·wd·p.
 */
export function refAdafactorStep(
  state: AdafactorState,
  grad: F32,
  R: number,
  C: number,
  clipScale: number,
  skip: boolean,
  o: AdafactorOptions,
): void {
  if (skip) return;
  const beta2t = 1 - Math.pow(o.step, -0.8);
  const g = Float64Array.from(grad, (x) => x * clipScale);
  for (let i = 0; i < R; i++) {
    let acc = 0;
    for (let c = 0; c < C; c++) acc += g[i * C + c] ** 2 + 1e-30;
    state.row[i] = beta2t * state.row[i] + (1 - beta2t) * (acc / C);
  }
  for (let c = 0; c < C; c++) {
    let acc = 0;
    for (let i = 0; i < R; i++) acc += g[i * C + c] ** 2 + 1e-30;
    state.col[c] = beta2t * state.col[c] + (1 - beta2t) * (acc / R);
  }
  const meanRow = state.row.reduce((a, b) => a + b, 0) / R;
  const u = new Float64Array(R * C);
  let sumU2 = 0;
  for (let i = 0; i < R; i++) {
    for (let c = 0; c < C; c++) {
      const v = (state.row[i] * state.col[c]) / meanRow;
      u[i * C + c] = g[i * C + c] / Math.sqrt(v);
      sumU2 += u[i * C + c] ** 2;
    }
  }
  const denom = Math.max(1, Math.sqrt(sumU2 / (R * C)) / 1.0);
  for (let e = 0; e < R * C; e++) {
    const p = state.p[e];
    state.p[e] = p - o.lr * (u[e] / denom) - o.lr * o.weightDecay * p;
    state.updAbs[e] += o.lr * (Math.abs(u[e]) / denom + o.weightDecay * Math.abs(p));
  }
}

/** scaleRange: x with x[offset + i] = fround(fround(scale) · x[offset + i]) for i < count (one f32 product, exact in float64 before rounding). */
export function refScaleRange(x: F32, offset: number, count: number, scale: number): Float64Array {
  const out = Float64Array.from(x);
  for (let i = offset; i < offset + count; i++) out[i] = Math.fround(Math.fround(scale) * x[i]);
  return out;
}
