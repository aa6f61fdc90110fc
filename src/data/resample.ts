/**
 * Pillow's antialiased resize of an 8-bit RGB image, bit for bit: the bytes of
 * `Image.resize((outWidth, outHeight), resample=filter, reducing_gap=None)`, which is what a Hugging Face
 * image processor calls (the image pipeline is described in docs/IMAGES.md).
 *
 * A port of Pillow's src/libImaging/Resample.c (the 8-bits-per-channel path; checked against Pillow 9.4 by
 * src/data/resample.test.ts). The image is resized by two separable passes, horizontal then vertical, each
 * rounding to bytes. One pass, for output position i of an axis of input size n and output size m:
 *
 *   scale = n / m,  fs = max(scale, 1),  support = filterSupport · fs,  center = (i + 0.5) · scale
 *   j ∈ [xmin, xmax),  xmin = max(0, trunc(center − support + 0.5)),  xmax = min(n, trunc(center + support + 0.5))
 *   w_j = filter((j − center + 0.5) · (1 / fs)) / Σ_j filter(...)                (float64, Pillow's order of operations)
 *   k_j = round-half-away-from-zero(w_j · 2^22)                                    (int32, PRECISION_BITS 22)
 *   out_i = clamp((2^21 + Σ_j in_j · k_j) >> 22, 0, 255)                          (int32, per channel)
 *
 * The vertical pass's source rows are found first and the horizontal pass runs only on them; a pass whose
 * size does not change is skipped, and when neither changes the result is a copy (as Image.resize does).
 * Pillow's NEAREST takes another code path and is not here.
 */

export type ResampleFilter = 'box' | 'bilinear' | 'hamming' | 'bicubic' | 'lanczos';

export const RESAMPLE_FILTERS: readonly ResampleFilter[] = ['box', 'bilinear', 'hamming', 'bicubic', 'lanczos'];

/** 32 − 8 − 2: 8 bits for the result and 2 for overshoot of the negative lobes, in a C int. */
const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

// Pillow writes `0.54f + 0.46f * cos(x)`: float literals, promoted to double.
const HAMMING_A = Math.fround(0.54);
const HAMMING_B = Math.fround(0.46);

function boxFilter(x: number): number {
  return x > -0.5 && x <= 0.5 ? 1.0 : 0.0;
}

function bilinearFilter(x: number): number {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

function hammingFilter(x: number): number {
  if (x < 0.0) x = -x;
  if (x === 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x = x * Math.PI;
  return (Math.sin(x) / x) * (HAMMING_A + HAMMING_B * Math.cos(x));
}

function bicubicFilter(x: number): number {
  // a = −0.5: ((a + 2) x − (a + 3)) x² + 1 on [0, 1), (((x − 5) x + 8) x − 4) a on [1, 2).
  if (x < 0.0) x = -x;
  if (x < 1.0) return (1.5 * x - 2.5) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * -0.5;
  return 0.0;
}

function sinc(x: number): number {
  if (x === 0.0) return 1.0;
  x = x * Math.PI;
  return Math.sin(x) / x;
}

function lanczosFilter(x: number): number {
  return -3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0;
}

const FILTERS: Record<ResampleFilter, { readonly fn: (x: number) => number; readonly support: number }> = {
  box: { fn: boxFilter, support: 0.5 },
  bilinear: { fn: bilinearFilter, support: 1.0 },
  hamming: { fn: hammingFilter, support: 1.0 },
  bicubic: { fn: bicubicFilter, support: 2.0 },
  lanczos: { fn: lanczosFilter, support: 3.0 },
};

/** One axis's coefficients: output i reads inputs start[i] … start[i] + count[i] − 1. */
export interface AxisCoefficients<W extends Float64Array | Int32Array> {
  /** Coefficients per output (the stride of `weights`). */
  readonly ksize: number;
  readonly start: Int32Array;
  readonly count: Int32Array;
  /** outSize·ksize; entries past count[i] are 0. */
  readonly weights: W;
}

/**
 * Pillow's precompute_coeffs for the whole axis (box = [0, inSize]): the float64 weights, each output's summing
 * to 1. Exported for the tests (they compare it with Pillow's 32-bit-integer resize of an impulse image).
 */
export function precomputeCoefficients(inSize: number, outSize: number, filterName: ResampleFilter): AxisCoefficients<Float64Array> {
  const filter = FILTERS[filterName];
  // (double)(in1 − in0) / outSize with the floats in0 = 0, in1 = inSize (exact below 2^24).
  const scale = inSize / outSize;
  const filterscale = scale < 1.0 ? 1.0 : scale;
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const ss = 1.0 / filterscale;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = 0 + (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    const base = xx * ksize;
    let ww = 0.0;
    for (let x = 0; x < xmax; x++) {
      const w = filter.fn((x + xmin - center + 0.5) * ss);
      weights[base + x] = w;
      ww += w;
    }
    if (ww !== 0.0) for (let x = 0; x < xmax; x++) weights[base + x] /= ww;
    start[xx] = xmin;
    count[xx] = xmax;
  }
  return { ksize, start, count, weights };
}

/** Pillow's normalize_coeffs_8bpc: Q22, rounded half away from zero (C's (int) truncates). */
function normalizeCoefficients8bpc(c: AxisCoefficients<Float64Array>): AxisCoefficients<Int32Array> {
  const pre = c.weights;
  const weights = new Int32Array(pre.length);
  for (let i = 0; i < pre.length; i++) {
    const k = pre[i];
    weights[i] = k < 0 ? Math.trunc(-0.5 + k * ONE) : Math.trunc(0.5 + k * ONE);
  }
  return { ksize: c.ksize, start: c.start, count: c.count, weights };
}

/**
 * One pass's fixed-point coefficients, as the 8-bit passes use them (precompute_coeffs then
 * normalize_coeffs_8bpc). A size that does not change is a pass Pillow skips (resampleRgb does too): there,
 * identity weights, one tap of 2^22, which give each byte back. For the GPU passes
 * (src/kernels/resampleImage.ts), which always run both passes and do the same sums.
 */
export function passCoefficients8bpc(inSize: number, outSize: number, filter: ResampleFilter): AxisCoefficients<Int32Array> {
  if (inSize === outSize) {
    return { ksize: 1, start: Int32Array.from({ length: outSize }, (_, i) => i), count: new Int32Array(outSize).fill(1), weights: new Int32Array(outSize).fill(ONE) };
  }
  return normalizeCoefficients8bpc(precomputeCoefficients(inSize, outSize, filter));
}

/** Horizontal pass over source rows [rowFirst, rowFirst + rows): outWidth·rows·3 bytes. */
function horizontalPass(
  src: Uint8Array,
  width: number,
  rowFirst: number,
  rows: number,
  outWidth: number,
  c: AxisCoefficients<Int32Array>,
): Uint8Array {
  const out = new Uint8Array(outWidth * rows * 3);
  // Storing an integer in a Uint8ClampedArray clamps it to 0..255: Pillow's clip8.
  const clamped = new Uint8ClampedArray(out.buffer, out.byteOffset, out.length);
  const { ksize, start, count, weights } = c;
  const stride = width * 3;
  let o = 0;
  for (let y = 0; y < rows; y++) {
    const row = (rowFirst + y) * stride;
    for (let xx = 0; xx < outWidth; xx++) {
      let p = row + start[xx] * 3;
      let k = xx * ksize;
      const taps = count[xx];
      const kPairs = k + (taps & ~1);
      let s0 = HALF;
      let s1 = HALF;
      let s2 = HALF;
      // Two taps an iteration (~20% faster in V8). The partial sums are exact integers below 2^31.
      for (; k < kPairs; k += 2, p += 6) {
        const w = weights[k];
        const v = weights[k + 1];
        s0 = (s0 + src[p] * w + src[p + 3] * v) | 0;
        s1 = (s1 + src[p + 1] * w + src[p + 4] * v) | 0;
        s2 = (s2 + src[p + 2] * w + src[p + 5] * v) | 0;
      }
      if (taps & 1) {
        const w = weights[k];
        s0 = (s0 + src[p] * w) | 0;
        s1 = (s1 + src[p + 1] * w) | 0;
        s2 = (s2 + src[p + 2] * w) | 0;
      }
      clamped[o] = s0 >> PRECISION_BITS;
      clamped[o + 1] = s1 >> PRECISION_BITS;
      clamped[o + 2] = s2 >> PRECISION_BITS;
      o += 3;
    }
  }
  return out;
}

/**
 * Vertical pass: source rows start[i] + rowOffset … are read for output row i. The sum runs tap by tap over a
 * whole row (cache-friendly) rather than pixel by pixel as in Pillow; integer addition is exact and
 * associative, so the bytes are the same.
 */
function verticalPass(
  src: Uint8Array,
  width: number,
  rowOffset: number,
  outHeight: number,
  c: AxisCoefficients<Int32Array>,
): Uint8Array {
  const rowLength = width * 3;
  const out = new Uint8Array(rowLength * outHeight);
  const clamped = new Uint8ClampedArray(out.buffer, out.byteOffset, out.length);
  const acc = new Int32Array(rowLength);
  const { ksize, start, count, weights } = c;
  for (let yy = 0; yy < outHeight; yy++) {
    acc.fill(HALF);
    const k0 = yy * ksize;
    const taps = count[yy];
    let row = (start[yy] + rowOffset) * rowLength;
    let t = 0;
    for (; t + 1 < taps; t += 2, row += 2 * rowLength) {
      const w = weights[k0 + t];
      const v = weights[k0 + t + 1];
      const next = row + rowLength;
      for (let i = 0; i < rowLength; i++) acc[i] = (acc[i] + src[row + i] * w + src[next + i] * v) | 0;
    }
    if (t < taps) {
      const w = weights[k0 + t];
      for (let i = 0; i < rowLength; i++) acc[i] = (acc[i] + src[row + i] * w) | 0;
    }
    const o = yy * rowLength;
    for (let i = 0; i < rowLength; i++) clamped[o + i] = acc[i] >> PRECISION_BITS;
  }
  return out;
}

function checkSize(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`resampleRgb: ${name} must be a positive integer, not ${value}`);
}

/** Pillow's Image.resize((width, height), filter, reducing_gap=None) on 8-bit RGB: bit-identical bytes. */
export function resampleRgb(
  rgb: Uint8Array,
  width: number,
  height: number,
  outWidth: number,
  outHeight: number,
  filter: ResampleFilter,
): Uint8Array {
  checkSize('width', width);
  checkSize('height', height);
  checkSize('outWidth', outWidth);
  checkSize('outHeight', outHeight);
  if (!Object.prototype.hasOwnProperty.call(FILTERS, filter)) throw new RangeError(`resampleRgb: unknown filter ${String(filter)}`);
  if (rgb.length !== width * height * 3) {
    throw new RangeError(`resampleRgb: ${rgb.length} bytes for a ${width}×${height} RGB image (want ${width * height * 3})`);
  }
  // Image.resize returns a copy when the size does not change (not rgb.slice(): on a Node Buffer that is a view).
  if (outWidth === width && outHeight === height) return new Uint8Array(rgb);

  const needHorizontal = outWidth !== width;
  const needVertical = outHeight !== height;
  const horizontal = passCoefficients8bpc(width, outWidth, filter);
  const vertical = passCoefficients8bpc(height, outHeight, filter);
  // The source rows the vertical pass reads (ImagingResampleInner's ybox_first, ybox_last).
  const rowFirst = vertical.start[0];
  const rowLast = vertical.start[outHeight - 1] + vertical.count[outHeight - 1];

  let image = rgb;
  let rowOffset = 0;
  if (needHorizontal) {
    image = horizontalPass(rgb, width, rowFirst, rowLast - rowFirst, outWidth, horizontal);
    rowOffset = -rowFirst;
  }
  if (needVertical) image = verticalPass(image, outWidth, rowOffset, outHeight, vertical);
  return image;
}
