// The step status written by gradNorm.wgsl and read by the optimizers (16 bytes):
//   offset 0  sumSquares: f32   Σ over all gradients of g²
//   offset 4  norm:       f32   sqrt(sumSquares)
//   offset 8  clipScale:  f32   min(1, clip / (norm + 1e-6)); 1 when clip = 0 or when skip = 1
//   offset 12 skip:       u32   1: the loss, the norm or some gradient element is not finite — the
//                               optimizers then write nothing; 0 otherwise
// Included by string concatenation in front of the kernels that need it; declares no bindings.

struct StepStatus {
  sumSquares: f32,
  norm: f32,
  clipScale: f32,
  skip: u32,
}

// Non-finite test on the bits (exponent all ones: ±Inf or NaN). Comparisons are not used: WGSL lets an
// implementation assume that floats are finite, which may fold `x != x` away.
fn isNonFiniteBits(bits: u32) -> bool {
  return (bits & 0x7f800000u) == 0x7f800000u;
}

fn isNonFinite(x: f32) -> bool {
  return isNonFiniteBits(bitcast<u32>(x));
}
