// AdaLink up-projection plus the residual (docs/ENGINE.md §4):
//   adapted[n, c] = E[n, c] + Σ_j H[n, j] · Wup[j, c]                   n < N, c < d, j < r
// The sum runs over j ascending (f32 fma), then E is added. Needs tiledMatmul.wgsl (A = H, B = Wup) in
// front and one of the two residual helpers of adalinkUp.ts (vec4 when d % 4 = 0, else scalar), which also
// declare ElemE, the element type through which E and adapted are bound (f32 or vec4f).
//
// Bindings (group 0), all row-major:
//   0  uniform             Params { N, d, r }
//   1  storage, read       E        f32 [N, d]   (as ElemE)
//   2  storage, read       H        f32 [N, r]   (after dropout, from adalinkDown)
//   3  storage, read       Wup      f32 [r, d]
//   4  storage, read_write adapted  f32 [N, d]   (as ElemE; a buffer other than E)
//
// Dispatch: THREADS = WG_X·WG_Y invocations per workgroup, each computes TM × TN outputs of a BM × BN tile
// of adapted (tiledMatmul.wgsl; the shape is tiledMatmul.ts's chooseTile('adalinkUp', N, d, r)).
// Grid (ceil(d/BN), y, z): x = column tile; row tile = wid.y + wid.z · nwg.y (y ≤ 65535), ceil(N/BM) tiles.

struct Params {
  N: u32,
  d: u32,
  r: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> E: array<ElemE>;
@group(0) @binding(2) var<storage, read> H: array<f32>;
@group(0) @binding(3) var<storage, read> Wup: array<f32>;
@group(0) @binding(4) var<storage, read_write> adapted: array<ElemE>;

fn loadA(n: u32, j: u32) -> f32 {
  return H[n * params.r + j];
}

fn loadB(j: u32, c: u32) -> f32 {
  return Wup[j * params.d + c];
}

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let N = params.N;
  let d = params.d;
  let m0 = (wid.y + wid.z * nwg.y) * BM;
  if (m0 >= N) {
    return;  // whole workgroup: uniform
  }
  let n0 = wid.x * BN;
  var acc = matmulTile(m0, n0, N, d, 0u, params.r, lid);

  for (var i = 0u; i < TM; i++) {
    let n = tileRow(m0, lid / WG_X, i);
    for (var jj = 0u; jj < TN / 4u; jj++) {
      let c = tileCol(n0, lid % WG_X, jj);
      if (n < N && c < d) {
        addResidual(n, c, acc[i][jj]);
      }
    }
  }
}
