/**
 * Element-wise comparison of GPU (f32) results with float64 references:
 * passes iff |gpu[i] − ref[i]| ≤ tol[i] for every i (NaN never passes). On failure the error lists the
 * worst elements, with the ratio error / tolerance.
 */
export function expectClose(
  what: string,
  gpu: ArrayLike<number>,
  ref: ArrayLike<number>,
  tol: ArrayLike<number> | ((i: number) => number),
): void {
  if (gpu.length !== ref.length) throw new Error(`${what}: length ${gpu.length} ≠ reference ${ref.length}`);
  const tolAt = typeof tol === 'function' ? tol : (i: number) => tol[i];
  const bad: Array<{ i: number; gpu: number; ref: number; tol: number; ratio: number }> = [];
  let worst = 0;
  for (let i = 0; i < gpu.length; i++) {
    const t = tolAt(i);
    const err = Math.abs(gpu[i] - ref[i]);
    if (!(err <= t)) bad.push({ i, gpu: gpu[i], ref: ref[i], tol: t, ratio: err / t });
    else if (t > 0) worst = Math.max(worst, err / t);
  }
  if (process.env.KERNEL_TOLERANCE_REPORT) console.log(`tolerance used ${(worst * 100).toFixed(1)}%: ${what}`);
  if (bad.length) {
    bad.sort((a, b) => (b.ratio || Infinity) - (a.ratio || Infinity));
    const lines = bad
      .slice(0, 8)
      .map((b) => `  [${b.i}] gpu ${b.gpu} ref ${b.ref} |err| ${Math.abs(b.gpu - b.ref)} tol ${b.tol}`);
    throw new Error(`${what}: ${bad.length} of ${gpu.length} elements outside tolerance\n${lines.join('\n')}`);
  }
}

/** Passes iff the two arrays hold the same bits. */
export function expectSameBits(what: string, a: Float32Array | Uint32Array, b: Float32Array | Uint32Array): void {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  if (x.length !== y.length) throw new Error(`${what}: length ${x.length} ≠ ${y.length}`);
  for (let i = 0; i < x.length; i++) {
    if (x[i] !== y[i]) {
      throw new Error(`${what}: element ${i} differs (bits ${x[i].toString(16)} vs ${y[i].toString(16)})`);
    }
  }
}
