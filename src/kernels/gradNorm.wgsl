// Global gradient norm, clipping factor and non-finite guard (docs/ENGINE.md §5), in two deterministic
// passes (no atomics; every sum has a fixed order, so the status is the same every run).
//
// Pass 1, `sumSquaresPartials`, dispatched once per gradient buffer:
//   partials[partialOffset + w] = { Σ_{i ∈ block w} grad[i]², any grad[i] of block w non-finite }
//   block w = elements [w·4096, min(count, (w+1)·4096)); ceil(count / 4096) blocks
// Pass 2, `finish`, one workgroup:
//   sumSquares = Σ_w partials[w].sumSquares (w < numPartials);  norm = sqrt(sumSquares)
//   skip = any partial non-finite, or norm non-finite, or loss[lossIndex] non-finite  (bit tests)
//   clipScale = 1 if skip or clip = 0, else min(1, clip / (norm + 1e-6))
//   status = { sumSquares, norm, clipScale, skip }
// Needs stepStatus.wgsl in front.
//
// Bindings (group 0):
//   0  uniform             Params { count, partialOffset, numPartials, lossIndex, clip }
//   1  storage, read       grad      f32 [count]           (pass 1)
//   2  storage, read_write partials  Partial [numPartials]  (both passes)
//   3  storage, read       loss      u32 [≥ lossIndex + 1]  (pass 2; the loss's f32 bits)
//   4  storage, read_write status    StepStatus             (pass 2)
//
// Dispatch: 256 invocations per workgroup. Pass 1: ceil(count / 4096) workgroups folded into (x, y),
// linear index wid.x + wid.y · nwg.x; each invocation sums 16 elements strided by 256, then a fixed-order
// tree sum in workgroup memory. Pass 2: one workgroup (strided sums over the partials, then a tree).

struct Params {
  count: u32,
  partialOffset: u32,
  numPartials: u32,
  lossIndex: u32,
  clip: f32,
}

struct Partial {
  sumSquares: f32,
  nonFinite: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<Partial>;
@group(0) @binding(3) var<storage, read> loss: array<u32>;
@group(0) @binding(4) var<storage, read_write> status: StepStatus;

const WORKGROUP_SIZE = 256u;
const BLOCK = 4096u;

var<workgroup> sums: array<f32, 256>;
var<workgroup> flags: array<u32, 256>;

// Fixed-order tree reduction of sums[] and flags[] into element 0.
fn reduceWorkgroup(lid: u32) {
  workgroupBarrier();
  for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      sums[lid] += sums[lid + stride];
      flags[lid] |= flags[lid + stride];
    }
    workgroupBarrier();
  }
}

@compute @workgroup_size(256)
fn sumSquaresPartials(@builtin(workgroup_id) wid: vec3u,
                      @builtin(num_workgroups) nwg: vec3u,
                      @builtin(local_invocation_index) lid: u32) {
  let block = wid.x + wid.y * nwg.x;
  let begin = block * BLOCK;
  if (begin >= params.count) {
    return;  // whole workgroup: uniform
  }
  let end = min(params.count, begin + BLOCK);
  var acc = 0.0;
  var bad = 0u;
  for (var i = begin + lid; i < end; i += WORKGROUP_SIZE) {
    let g = grad[i];
    acc += g * g;
    bad |= select(0u, 1u, isNonFinite(g));
  }
  sums[lid] = acc;
  flags[lid] = bad;
  reduceWorkgroup(lid);
  if (lid == 0u) {
    partials[params.partialOffset + block] = Partial(sums[0], flags[0]);
  }
}

@compute @workgroup_size(256)
fn finish(@builtin(local_invocation_index) lid: u32) {
  var acc = 0.0;
  var bad = 0u;
  for (var w = lid; w < params.numPartials; w += WORKGROUP_SIZE) {
    let part = partials[w];
    acc += part.sumSquares;
    bad |= part.nonFinite;
  }
  sums[lid] = acc;
  flags[lid] = bad;
  reduceWorkgroup(lid);
  if (lid == 0u) {
    let sumSquares = sums[0];
    let norm = sqrt(sumSquares);
    let skip = flags[0] != 0u || isNonFinite(norm) || isNonFiniteBits(loss[params.lossIndex]);
    var clipScale = 1.0;
    if (!skip && params.clip > 0.0) {
      clipScale = min(1.0, params.clip / (norm + 1e-6));
    }
    status = StepStatus(sumSquares, norm, clipScale, select(0u, 1u, skip));
  }
}
