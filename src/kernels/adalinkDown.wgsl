// AdaLink down-projection with dropout (docs/ENGINE.md §3–4):
//   H[n, j] = keep(n, j) / (1 − p) · Σ_k E[n, k] · Wdown[k, j]          n < N, j < r, k < d
//   keep(n, j) = randU32(key, n·r + j) >= threshold,  threshold = ceil(p · 2^32)  (0: all kept)
// `scale` is 1/(1 − p) rounded to f32. Needs random.wgsl in front.
//
// Bindings (group 0), all row-major:
//   0  uniform             Params { N, d, r, key, threshold, scale }
//   1  storage, read       E      f32 [N, d]
//   2  storage, read       Wdown  f32 [d, r]
//   3  storage, read_write H      f32 [N, r]
//
// Dispatch: 16×16 invocations per workgroup, each computes one H[n, j] of a 16×16 output tile; the k
// dimension is walked in steps of 16 through tiles of E and Wdown held in workgroup memory.
// Grid (ceil(r/16), y, z): x = column tile; row tile = wid.y + wid.z · nwg.y (y ≤ 65535), ceil(N/16) tiles.

struct Params {
  N: u32,
  d: u32,
  r: u32,
  key: u32,
  threshold: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> E: array<f32>;
@group(0) @binding(2) var<storage, read> Wdown: array<f32>;
@group(0) @binding(3) var<storage, read_write> H: array<f32>;

const TILE = 16u;

var<workgroup> tileE: array<array<f32, 16>, 16>;  // [row in tile][k in tile]
var<workgroup> tileW: array<array<f32, 16>, 16>;  // [k in tile][column in tile]

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
  let j = wid.x * TILE + lid.x;    // output column of this invocation

  var acc = 0.0;
  for (var k0 = 0u; k0 < d; k0 += TILE) {
    // Invocation (x, y) loads E[row y of tile, k0 + x] and Wdown[k0 + y, column x of tile].
    var e = 0.0;
    if (n < N && k0 + lid.x < d) {
      e = E[n * d + k0 + lid.x];
    }
    var w = 0.0;
    if (k0 + lid.y < d && j < r) {
      w = Wdown[(k0 + lid.y) * r + j];
    }
    tileE[lid.y][lid.x] = e;
    tileW[lid.y][lid.x] = w;
    workgroupBarrier();
    for (var k = 0u; k < TILE; k++) {
      acc += tileE[lid.y][k] * tileW[k][lid.x];
    }
    workgroupBarrier();
  }

  if (n < N && j < r) {
    let i = n * r + j;
    var h = 0.0;
    if (dropoutKeep(params.key, params.threshold, i)) {
      h = acc * params.scale;
    }
    H[i] = h;
  }
}
