// Gradient of the AdaLink hidden state (docs/ENGINE.md §4):
//   dH[n, j] = valid[n] · keep(n, j) / (1 − p) · Σ_c G[n, c] · Wup[j, c]     n < N, j < r, c < d
//   keep(n, j) = randU32(key, n·r + j) >= threshold (the forward's dropout mask, recomputed; 0: all kept)
// Masked rows and dropped elements are written as exact zeros (selected, not multiplied, so a NaN in a
// padded row of G cannot leak). `scale` is 1/(1 − p) rounded to f32; the sum runs over c ascending (f32
// fma). Needs random.wgsl and tiledMatmul.wgsl (A = G, B = Wupᵀ) in front, as adalinkBackward.ts puts them.
// With SPLIT (k slices, when the tile has `ks`): slice s sums c ∈ [s·kSlice, min(d, (s+1)·kSlice)) and
// writes the plain sum to out[s, n, j]; sumPartialsDropout.wgsl then adds the S slices in order and applies
// valid, the mask and the scale into dH (selecting, so NaNs of padded rows stay out). Without: kSlice = d.
//
// Bindings (group 0), all row-major:
//   0  uniform             Params { N, d, r, key, threshold, scale, kSlice, colTiles }
//   1  storage, read       G      f32 [N, d]   (dL/dẼ)
//   2  storage, read       Wup    f32 [r, d]
//   3  storage, read       valid  u32 [N]
//   4  storage, read_write out    f32 [N, r] = dH, or with SPLIT the partials f32 [S, N, r]
//
// Dispatch: THREADS = WG_X·WG_Y invocations per workgroup, each computes TM × TN outputs of a BM × BN tile
// (tiledMatmul.wgsl; the shape is tiledMatmul.ts's chooseTile('adalinkHiddenGrad', N, r, d)).
// Grid (colTiles · S, y, z), colTiles = ceil(r/BN): column tile = wid.x % colTiles, slice s = wid.x / colTiles;
// row tile = wid.y + wid.z · nwg.y (y ≤ 65535), ceil(N/BM) tiles.

struct Params {
  N: u32,
  d: u32,
  r: u32,
  key: u32,
  threshold: u32,
  scale: f32,
  kSlice: u32,
  colTiles: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> Wup: array<f32>;
@group(0) @binding(3) var<storage, read> valid: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn loadA(n: u32, c: u32) -> f32 {
  return G[n * params.d + c];
}

fn loadB(c: u32, j: u32) -> f32 {
  return Wup[j * params.d + c];
}

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let N = params.N;
  let r = params.r;
  let m0 = (wid.y + wid.z * nwg.y) * BM;
  if (m0 >= N) {
    return;  // whole workgroup: uniform
  }
  let n0 = (wid.x % params.colTiles) * BN;
  let s = wid.x / params.colTiles;
  let kBegin = s * params.kSlice;
  var acc = matmulTile(m0, n0, N, r, kBegin, min(params.d, kBegin + params.kSlice), lid);

  for (var i = 0u; i < TM; i++) {
    let n = tileRow(m0, lid / WG_X, i);
    if (n >= N) {
      continue;
    }
    let rowValid = SPLIT || valid[n] != 0u;
    for (var jj = 0u; jj < TN / 4u; jj++) {
      let j = tileCol(n0, lid % WG_X, jj);
      for (var c = 0u; c < 4u; c++) {
        if (j + c < r) {
          let idx = n * r + j + c;
          if (SPLIT) {
            out[s * N * r + idx] = acc[i][jj][c];
          } else {
            var g = 0.0;
            if (rowValid && dropoutKeep(params.key, params.threshold, idx)) {
              g = acc[i][jj][c] * params.scale;
            }
            out[idx] = g;
          }
        }
      }
    }
  }
}
