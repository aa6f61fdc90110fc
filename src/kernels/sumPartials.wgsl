// Deterministic second pass of the chunked reductions:
//   sums[i] = Σ_{q = 0 … Q−1} partials[q · M + i]          i < M, q ascending (a fixed order)
// Q = 0 writes zeros.
//
// Bindings (group 0):
//   0  uniform             Params { M, Q }
//   1  storage, read       partials  f32 [Q, M]
//   2  storage, read_write sums      f32 [M]
//
// Dispatch: one invocation per output element, 256 per workgroup; ceil(M / 256) workgroups folded into an
// (x, y) grid (x ≤ 65535), linear workgroup index wid.x + wid.y · nwg.x.

struct Params {
  M: u32,
  Q: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> sums: array<f32>;

const WORKGROUP_SIZE = 256u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  if (i >= params.M) {
    return;
  }
  var sum = 0.0;
  for (var q = 0u; q < params.Q; q++) {
    sum += partials[q * params.M + i];
  }
  sums[i] = sum;
}
