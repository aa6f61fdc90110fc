// Embedding lookup (gather of rows):
//   embeddings[n, c] = table[ids[n], c]        n < N, c < d;  ids[n] >= V gives a row of zeros
//
// Bindings (group 0), all row-major:
//   0  uniform            Params { N, d, V }
//   1  storage, read      ids        u32 [N]
//   2  storage, read      table      f32 [V, d]
//   3  storage, read_write embeddings f32 [N, d]
//
// Dispatch: one invocation per output element, 256 per workgroup; ceil(N·d / 256) workgroups folded into
// an (x, y) grid (x ≤ 65535), linear workgroup index wid.x + wid.y · nwg.x.

struct Params {
  N: u32,
  d: u32,
  V: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<f32>;
@group(0) @binding(3) var<storage, read_write> embeddings: array<f32>;

const WORKGROUP_SIZE = 256u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  if (i >= params.N * params.d) {
    return;
  }
  let n = i / params.d;
  let c = i - n * params.d;
  let id = ids[n];
  var value = 0.0;
  if (id < params.V) {
    value = table[id * params.d + c];
  }
  embeddings[i] = value;
}
