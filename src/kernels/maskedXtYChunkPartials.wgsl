// One chunk's share of a masked transposed product, Xᵀ · (valid ⊙ Y), summed over token rows n:
//   partials[q, a, b] = Σ_{n ∈ chunk q, valid[n] ≠ 0} X[n, a] · Y[n, b]          a < A, b < B
//   chunk q = rows [q·chunkRows, min(N, (q+1)·chunkRows)),  q < Q = ceil(N / chunkRows)
// Masked rows are skipped (not multiplied by 0), so a NaN in a padded row cannot leak into the sum.
// sumPartials.wgsl then adds the Q partials in ascending q: no atomics, the same result every run.
// The AdaLink backward uses it for dWup = Hᵀ·(valid ⊙ G) (X = H, Y = G) and dWdown = Eᵀ·dH (X = E, Y = dH).
//
// Bindings (group 0), all row-major:
//   0  uniform             Params { N, A, B, chunkRows }   (chunkRows a multiple of 16)
//   1  storage, read       X         f32 [N, A]
//   2  storage, read       Y         f32 [N, B]
//   3  storage, read       valid     u32 [N]   (0 masked, otherwise kept)
//   4  storage, read_write partials  f32 [Q, A, B]
//
// Dispatch: 16×16 invocations per workgroup, each computes one (a, b) of a 16×16 output tile of one chunk,
// walking the chunk's rows 16 at a time through tiles of X and Y in workgroup memory.
// Grid (ceil(B/16), ceil(A/16), Q): x = b tile, y = a tile, z = chunk.

struct Params {
  N: u32,
  A: u32,
  B: u32,
  chunkRows: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Y: array<f32>;
@group(0) @binding(3) var<storage, read> valid: array<u32>;
@group(0) @binding(4) var<storage, read_write> partials: array<f32>;

const TILE = 16u;

var<workgroup> tileX: array<array<f32, 16>, 16>;  // [row n in tile][a in tile]
var<workgroup> tileY: array<array<f32, 16>, 16>;  // [row n in tile][b in tile]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u,
        @builtin(local_invocation_id) lid: vec3u) {
  let A = params.A;
  let B = params.B;
  let q = wid.z;
  let a0 = wid.y * TILE;
  let b0 = wid.x * TILE;
  let rowBegin = q * params.chunkRows;
  let rowEnd = min(params.N, rowBegin + params.chunkRows);

  var acc = 0.0;
  for (var n0 = rowBegin; n0 < rowEnd; n0 += TILE) {
    // Invocation (x, y) loads X[n0 + y, a0 + x] and Y[n0 + y, b0 + x] (zeros outside or on masked rows).
    let n = n0 + lid.y;
    var x = 0.0;
    var y = 0.0;
    if (n < rowEnd) {
      if (valid[n] != 0u) {
        if (a0 + lid.x < A) {
          x = X[n * A + a0 + lid.x];
        }
        if (b0 + lid.x < B) {
          y = Y[n * B + b0 + lid.x];
        }
      }
    }
    tileX[lid.y][lid.x] = x;
    tileY[lid.y][lid.x] = y;
    workgroupBarrier();
    for (var k = 0u; k < TILE; k++) {
      acc += tileX[k][lid.y] * tileY[k][lid.x];
    }
    workgroupBarrier();
  }

  let a = a0 + lid.y;
  let b = b0 + lid.x;
  if (a < A && b < B) {
    partials[(q * A + a) * B + b] = acc;
  }
}
