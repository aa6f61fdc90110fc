// Deterministic counter-based randomness, bit-identical to src/kernels/random.ts and the Python twin
// (docs/ENGINE.md §3). All arithmetic is on u32, i.e. mod 2^32 (WGSL u32 multiplication wraps).
//
//   hash32(x):      x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16
//   randU32(key, i) = hash32(key ^ hash32(i))
//   dropoutKeep(key, threshold, i) = randU32(key, i) >= threshold, threshold = ceil(p · 2^32)
//     (threshold 0 means p = 0: everything is kept and no hash is computed)
//
// Included by string concatenation in front of the kernels that need it; declares no bindings.

fn hash32(x0: u32) -> u32 {
  var x = x0;
  x ^= x >> 16u;
  x *= 0x7feb352du;
  x ^= x >> 15u;
  x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

fn randU32(key: u32, i: u32) -> u32 {
  return hash32(key ^ hash32(i));
}

fn dropoutKeep(key: u32, threshold: u32, i: u32) -> bool {
  return threshold == 0u || randU32(key, i) >= threshold;
}
