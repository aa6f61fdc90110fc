// One chunk's share of a masked transposed product, Xᵀ · (valid ⊙ Y), summed over token rows n:
//   partials[q·S + s, a, b] = Σ_{n ∈ slice s of chunk q, valid[n] ≠ 0} X[n, a] · Y[n, b]     a < A, b < B
//   chunk q = rows [q·chunkRows, min(N, (q+1)·chunkRows)),  q < Q = ceil(N / chunkRows)
//   slice s of it = rows [q·chunkRows + s·sliceRows, min(end of chunk q, q·chunkRows + (s+1)·sliceRows)),
//   s < S (S = 1, sliceRows = chunkRows unless the tile has `ks`; an empty slice gives zeros)
// Masked rows are skipped (both factors selected as 0, not multiplied by 0), so a NaN in a padded row
// cannot leak into the sum; within a chunk the sum runs over n ascending (f32 fma).
// sumPartials.wgsl then adds the Q·S partials in ascending order: no atomics, the same result every run.
// The AdaLink backward uses it for dWup = Hᵀ·(valid ⊙ G) (X = H, Y = G) and dWdown = Eᵀ·dH (X = E, Y = dH).
// Needs tiledMatmul.wgsl (A = Xᵀ, B = Y, k = n) in front, as adalinkBackward.ts puts it.
//
// Bindings (group 0), all row-major:
//   0  uniform             Params { N, A, B, chunkRows, sliceRows, S }
//   1  storage, read       X         f32 [N, A]
//   2  storage, read       Y         f32 [N, B]
//   3  storage, read       valid     u32 [N]   (0 masked, otherwise kept)
//   4  storage, read_write partials  f32 [Q·S, A, B]
//
// Dispatch: THREADS = WG_X·WG_Y invocations per workgroup, each computes TM × TN outputs of a BM × BN tile
// of one slice's partial (tiledMatmul.wgsl; the shape is tiledMatmul.ts's chooseTile(…, A, B, chunkRows)).
// Grid (ceil(B/BN), ceil(A/BM), Q·S): x = b tile, y = a tile, z = q·S + s.

struct Params {
  N: u32,
  A: u32,
  B: u32,
  chunkRows: u32,
  sliceRows: u32,
  S: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Y: array<f32>;
@group(0) @binding(3) var<storage, read> valid: array<u32>;
@group(0) @binding(4) var<storage, read_write> partials: array<f32>;

fn loadA(a: u32, n: u32) -> f32 {
  return select(0.0, X[n * params.A + a], valid[n] != 0u);
}

fn loadB(n: u32, b: u32) -> f32 {
  return select(0.0, Y[n * params.B + b], valid[n] != 0u);
}

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wid: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let A = params.A;
  let B = params.B;
  let p = wid.z;  // partial q·S + s
  let a0 = wid.y * BM;
  let b0 = wid.x * BN;
  let chunkBegin = (p / params.S) * params.chunkRows;
  let rowBegin = chunkBegin + (p % params.S) * params.sliceRows;
  let rowEnd = min(min(params.N, chunkBegin + params.chunkRows), rowBegin + params.sliceRows);
  var acc = matmulTile(a0, b0, A, B, rowBegin, rowEnd, lid);

  for (var i = 0u; i < TM; i++) {
    let a = tileRow(a0, lid / WG_X, i);
    for (var jj = 0u; jj < TN / 4u; jj++) {
      let b = tileCol(b0, lid % WG_X, jj);
      for (var c = 0u; c < 4u; c++) {
        if (a < A && b + c < B) {
          partials[(p * A + a) * B + b + c] = acc[i][jj][c];
        }
      }
    }
  }
}
