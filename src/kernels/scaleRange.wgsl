// A range of a buffer scaled in place:
//   x[offset + i] = scale · x[offset + i]        i < count
//
// Why: a batch trained in parts (micro-batches) gets each part's dL/dẼ from its own vjp run, each the
// gradient of that part's mean loss; scaling part k by (its loss tokens) / (the batch's loss tokens) turns
// them into the gradient of the whole batch's mean loss before the AdaLink backward (docs/ENGINE.md §4).
//
// Bindings (group 0):
//   0  uniform             Params { offset, count, scale }
//   1  storage, read_write x  f32 [≥ offset + count]
//
// Dispatch: one invocation per element, 256 per workgroup; ceil(count / 256) workgroups folded into an
// (x, y) grid (x ≤ 65535), linear workgroup index wid.x + wid.y · nwg.x.

struct Params {
  offset: u32,
  count: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;

const WORKGROUP_SIZE = 256u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  if (i >= params.count) {
    return;
  }
  x[params.offset + i] = params.scale * x[params.offset + i];
}
