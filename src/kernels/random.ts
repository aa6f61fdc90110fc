/**
 * Deterministic counter-based randomness (docs/ENGINE.md §3), bit-identical to `random.wgsl` and to the
 * Python twin (tools/adalink/random.py). Every integer is a u32: inputs are taken mod 2^32, products use
 * Math.imul, results are made unsigned with `>>> 0`. `uniform` and `normal` are float64.
 */

/** hash32(x): x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16 (mod 2^32). */
export function hash32(x: number): number {
  x = x >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  return x;
}

/** streamKey(seed, stream) = hash32(hash32(seed) ^ stream). */
export function streamKey(seed: number, stream: number): number {
  return hash32((hash32(seed) ^ (stream >>> 0)) >>> 0);
}

/** randU32(key, i) = hash32(key ^ hash32(i)). */
export function randU32(key: number, i: number): number {
  return hash32(((key >>> 0) ^ hash32(i)) >>> 0);
}

const TWO_POW_32 = 4294967296;

/** uniform(key, i) = (randU32(key, i) + 0.5) / 2^32, in (0, 1). */
export function uniform(key: number, i: number): number {
  return (randU32(key, i) + 0.5) / TWO_POW_32;
}

/** normal(key, i) = sqrt(−2 ln uniform(key, 2i)) · cos(2π · uniform(key, 2i+1)) (Box–Muller). */
export function normal(key: number, i: number): number {
  return Math.sqrt(-2 * Math.log(uniform(key, 2 * i))) * Math.cos(2 * Math.PI * uniform(key, 2 * i + 1));
}

/** Streams of ENGINE.md §3. */
export const STREAM_WDOWN_IMAGE = 1;
export const STREAM_WDOWN_TEXT = 2;
export const STREAM_DATA_ORDER = 0x1000;
export const STREAM_DROPOUT = 0x20000000;

export type Modality = 'image' | 'text';

/**
 * Key of the dropout mask of `step` and modality: streamKey(seed, 0x20000000 + 2·step + m), m = 0 image,
 * 1 text (ENGINE.md §3; `step` is whatever step index the engine and tools/reference_train.py agree on).
 */
export function dropoutKey(seed: number, step: number, modality: Modality): number {
  return streamKey(seed, STREAM_DROPOUT + 2 * step + (modality === 'image' ? 0 : 1));
}

/**
 * The u32 threshold of dropout probability p: element i is kept iff randU32(key, i) >= p · 2^32, which for
 * an integer randU32 is randU32 >= ceil(p · 2^32). p = 0 gives 0 (all kept). Requires 0 ≤ p < 1.
 */
export function dropoutThreshold(p: number): number {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout probability must be in [0, 1), got ${p}`);
  return Math.min(Math.ceil(p * TWO_POW_32), 0xffffffff);
}

/** Whether dropout keeps element i (= n·r + j of H): randU32(key, i) >= p · 2^32. */
export function dropoutKeep(key: number, p: number, i: number): boolean {
  return p === 0 || randU32(key, i) >= p * TWO_POW_32;
}

/**
 * Initial Wdown of a modality (d×r, row-major, element (k, j) at k·r + j):
 * normal(streamKey(seed, 1 | 2), k·r + j) / sqrt(d), rounded to float32.
 */
export function initialWdown(seed: number, modality: Modality, d: number, r: number): Float32Array {
  const key = streamKey(seed, modality === 'image' ? STREAM_WDOWN_IMAGE : STREAM_WDOWN_TEXT);
  const out = new Float32Array(d * r);
  const s = Math.sqrt(d);
  for (let i = 0; i < d * r; i++) out[i] = normal(key, i) / s;
  return out;
}
