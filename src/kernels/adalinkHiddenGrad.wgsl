// Gradient of the AdaLink hidden state (docs/ENGINE.md §4):
//   dH[n, j] = valid[n] · keep(n, j) / (1 − p) · Σ_c G[n, c] · Wup[j, c]     n < N, j < r, c < d
//   keep(n, j) = randU32(key, n·r + j) >= threshold (the forward's dropout mask, recomputed; 0: all kept)
// Masked rows and dropped elements are written as exact zeros (selected, not multiplied, so a NaN in a
// padded row of G cannot leak). `scale` is 1/(1 − p) rounded to f32. Needs random.wgsl in front.
//
// Bindings (group 0), all row-major:
//   0  uniform             Params { N, d, r, key, threshold, scale }
//   1  storage, read       G      f32 [N, d]   (dL/dẼ)
//   2  storage, read       Wup    f32 [r, d]
//   3  storage, read       valid  u32 [N]
//   4  storage, read_write dH     f32 [N, r]
//
// Dispatch: 16×16 invocations per workgroup, each computes one dH[n, j] of a 16×16 output tile, walking
// c in steps of 16 through tiles of G and Wupᵀ in workgroup memory.
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
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> Wup: array<f32>;
@group(0) @binding(3) var<storage, read> valid: array<u32>;
@group(0) @binding(4) var<storage, read_write> dH: array<f32>;

const TILE = 16u;

var<workgroup> tileG: array<array<f32, 16>, 16>;  // [row in tile][c in tile]
var<workgroup> tileW: array<array<f32, 16>, 16>;  // [c in tile][column j in tile]  (= Wupᵀ)

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
  let j0 = wid.x * TILE;
  let j = j0 + lid.x;              // output column of this invocation

  var acc = 0.0;
  for (var c0 = 0u; c0 < d; c0 += TILE) {
    // Invocation (x, y) loads G[row y of tile, c0 + x] and Wup[j0 + y, c0 + x] (contiguous in x), the
    // latter stored transposed.
    var g = 0.0;
    if (n < N && c0 + lid.x < d) {
      g = G[n * d + c0 + lid.x];
    }
    var w = 0.0;
    if (j0 + lid.y < r && c0 + lid.x < d) {
      w = Wup[(j0 + lid.y) * d + c0 + lid.x];
    }
    tileG[lid.y][lid.x] = g;
    tileW[lid.x][lid.y] = w;
    workgroupBarrier();
    for (var c = 0u; c < TILE; c++) {
      acc += tileG[lid.y][c] * tileW[c][lid.x];
    }
    workgroupBarrier();
  }

  if (n < N && j < r) {
    let i = n * r + j;
    var g = 0.0;
    if (valid[n] != 0u && dropoutKeep(params.key, params.threshold, i)) {
      g = acc * params.scale;
    }
    dH[i] = g;
  }
}
