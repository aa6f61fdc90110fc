// AdaLink up-projection plus the residual (docs/ENGINE.md §4):
//   adapted[n, c] = E[n, c] + Σ_j H[n, j] · Wup[j, c]                   n < N, c < d, j < r
//
// Bindings (group 0), all row-major:
//   0  uniform             Params { N, d, r }
//   1  storage, read       E        f32 [N, d]
//   2  storage, read       H        f32 [N, r]   (after dropout, from adalinkDown)
//   3  storage, read       Wup      f32 [r, d]
//   4  storage, read_write adapted  f32 [N, d]   (a buffer other than E)
//
// Dispatch: 16×16 invocations per workgroup, each computes one adapted[n, c] of a 16×16 output tile; the
// j dimension is walked in steps of 16 through tiles of H and Wup held in workgroup memory.
// Grid (ceil(d/16), y, z): x = column tile; row tile = wid.y + wid.z · nwg.y (y ≤ 65535), ceil(N/16) tiles.

struct Params {
  N: u32,
  d: u32,
  r: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> E: array<f32>;
@group(0) @binding(2) var<storage, read> H: array<f32>;
@group(0) @binding(3) var<storage, read> Wup: array<f32>;
@group(0) @binding(4) var<storage, read_write> adapted: array<f32>;

const TILE = 16u;

var<workgroup> tileH: array<array<f32, 16>, 16>;  // [row in tile][j in tile]
var<workgroup> tileW: array<array<f32, 16>, 16>;  // [j in tile][column in tile]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_id) lid: vec3u) {
  let N = params.N;
  let d = params.d;
  let r = params.r;
  let rowTile = wid.y + wid.z * nwg.y;
  if (rowTile * TILE >= N) {
    return;  // whole workgroup: uniform
  }
  let n = rowTile * TILE + lid.y;  // output row of this invocation
  let c = wid.x * TILE + lid.x;    // output column of this invocation

  var acc = 0.0;
  for (var j0 = 0u; j0 < r; j0 += TILE) {
    // Invocation (x, y) loads H[row y of tile, j0 + x] and Wup[j0 + y, column x of tile].
    var h = 0.0;
    if (n < N && j0 + lid.x < r) {
      h = H[n * r + j0 + lid.x];
    }
    var w = 0.0;
    if (j0 + lid.y < r && c < d) {
      w = Wup[(j0 + lid.y) * d + c];
    }
    tileH[lid.y][lid.x] = h;
    tileW[lid.y][lid.x] = w;
    workgroupBarrier();
    for (var j = 0u; j < TILE; j++) {
      acc += tileH[lid.y][j] * tileW[j][lid.x];
    }
    workgroupBarrier();
  }

  if (n < N && c < d) {
    let i = n * d + c;
    adapted[i] = E[i] + acc;
  }
}
