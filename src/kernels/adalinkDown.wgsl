// AdaLink down-projection with dropout (docs/ENGINE.md §3–4):
//   H[n, j] = keep(n, j) / (1 − p) · Σ_k E[n, k] · Wdown[k, j]          n < N, j < r, k < d
//   keep(n, j) = randU32(key, n·r + j) >= threshold,  threshold = ceil(p · 2^32)  (0: all kept)
// `scale` is 1/(1 − p) rounded to f32; the sum runs over k ascending (f32 fma). Needs random.wgsl and
// tiledMatmul.wgsl (A = E, B = Wdown) in front, as adalinkDown.ts puts them.
// With SPLIT (k slices, when the tile has `ks`): slice s sums k ∈ [s·kSlice, min(d, (s+1)·kSlice)) and
// writes the plain sum to out[s, n, j]; sumPartialsDropout.wgsl then adds the S slices in order and applies
// the dropout into H. Without: kSlice = d, one slice, and the dropout is applied here.
//
// Bindings (group 0), all row-major:
//   0  uniform             Params { N, d, r, key, threshold, scale, kSlice, colTiles }
//   1  storage, read       E      f32 [N, d]
//   2  storage, read       Wdown  f32 [d, r]
//   3  storage, read_write out    f32 [N, r] = H, or with SPLIT the partials f32 [S, N, r]
//
// Dispatch: THREADS = WG_X·WG_Y invocations per workgroup, each computes TM × TN outputs of a BM × BN tile
// (tiledMatmul.wgsl; the shape is tiledMatmul.ts's chooseTile('adalinkDown', N, r, d)).
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
@group(0) @binding(1) var<storage, read> E: array<f32>;
@group(0) @binding(2) var<storage, read> Wdown: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

fn loadA(n: u32, k: u32) -> f32 {
  return E[n * params.d + k];
}

fn loadB(k: u32, j: u32) -> f32 {
  return Wdown[k * params.r + j];
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
    for (var jj = 0u; jj < TN / 4u; jj++) {
      let j = tileCol(n0, lid % WG_X, jj);
      for (var c = 0u; c < 4u; c++) {
        if (n < N && j + c < r) {
          let idx = n * r + j + c;
          if (SPLIT) {
            out[s * N * r + idx] = acc[i][jj][c];
          } else {
            var h = 0.0;
            if (dropoutKeep(params.key, params.threshold, idx)) {
              h = acc[i][jj][c] * params.scale;
            }
            out[idx] = h;
          }
        }
      }
    }
  }
}
