// Adafactor (Shazeer & Stern; no momentum, no parameter scaling, no relative step), docs/ENGINE.md §5,
// for one matrix parameter P (R×C) with gradient g (R×C) and factored second moments row (R), col (C):
//   s = status.clipScale, ĝ = s·g, g2 = ĝ² + 1e-30
//   row[i] ← β2t·row[i] + (1−β2t) · mean_c g2[i, c]                                   pass rowFactor
//   col[c] ← β2t·col[c] + (1−β2t) · mean_i g2[i, c]                                   pass colFactor
//   meanRow = mean_i row[i]                                                           pass rowMean
//   u[i, c] = ĝ[i, c] / sqrt(row[i]·col[c] / meanRow)
//           = ĝ[i, c] · inverseSqrt(row[i] / meanRow) · inverseSqrt(col[c])   (no underflow of row·col)
//   Σu² in blocks of 4096 elements                                                    pass updateSquares
//   denom = max(1, rms(u) / 1.0),  rms(u) = sqrt(Σu² / (R·C))                          pass updateRms
//   P[i, c] ← P[i, c] − lr·u[i, c]/denom − lr·wd·P[i, c]   (u recomputed)              pass applyUpdate
// β2t = 1 − t^(−0.8) and 1 − β2t are computed on the CPU in float64. If status.skip ≠ 0 no pass writes
// row, col or P (the scratch values are then meaningless). Needs stepStatus.wgsl in front.
//
// Bindings (group 0), shared by all six entry points, all row-major:
//   0  uniform             Params { R, C, beta2t, oneMinusBeta2t, lr, weightDecay, numPartials }
//   1  storage, read       status   StepStatus  (from gradNorm)
//   2  storage, read       grad     f32 [R, C]
//   3  storage, read_write param    f32 [R, C]
//   4  storage, read_write row      f32 [R]   (zeros before step 1)
//   5  storage, read_write col      f32 [C]   (zeros before step 1)
//   6  storage, read_write scratch  f32 [4 + numPartials]: meanRow, Σu², denom, unused, partials[]
//
// Dispatches, in this order, 256 invocations per workgroup; "folded" = linear workgroup index
// wid.x + wid.y · nwg.x over an (x ≤ 65535, y) grid:
//   rowFactor      R workgroups (folded), one per row: strided sums then a fixed-order tree
//   colFactor      ceil(C/16) workgroups of 16×16: x = column in tile, y = one of 16 row lanes
//   rowMean        1 workgroup
//   updateSquares  numPartials = ceil(R·C/4096) workgroups (folded)
//   updateRms      1 workgroup
//   applyUpdate    ceil(R·C/256) workgroups (folded), one invocation per element

struct Params {
  R: u32,
  C: u32,
  beta2t: f32,
  oneMinusBeta2t: f32,
  lr: f32,
  weightDecay: f32,
  numPartials: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> status: StepStatus;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> param: array<f32>;
@group(0) @binding(4) var<storage, read_write> row: array<f32>;
@group(0) @binding(5) var<storage, read_write> col: array<f32>;
@group(0) @binding(6) var<storage, read_write> scratch: array<f32>;

const WORKGROUP_SIZE = 256u;
const BLOCK = 4096u;
const EPS1 = 1e-30;            // added to ĝ² (ENGINE.md: g2 = g² + 1e-30)
const CLIP_THRESHOLD = 1.0;    // u ← u / max(1, rms(u) / 1.0)
const MEAN_ROW = 0u;           // scratch slots
const SUM_U2 = 1u;
const DENOM = 2u;
const PARTIALS = 4u;

var<workgroup> red: array<f32, 256>;

// Fixed-order tree sum of red[0..256) into red[0].
fn reduceWorkgroup(lid: u32) {
  workgroupBarrier();
  for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      red[lid] += red[lid + stride];
    }
    workgroupBarrier();
  }
}

fn clippedGrad(i: u32) -> f32 {
  return grad[i] * status.clipScale;
}

fn update(i: u32, c: u32, rFactor: f32) -> f32 {
  return clippedGrad(i) * rFactor * inverseSqrt(col[c]);
}

@compute @workgroup_size(256)
fn rowFactor(@builtin(workgroup_id) wid: vec3u,
             @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
  let i = wid.x + wid.y * nwg.x;
  if (i >= params.R) {
    return;  // whole workgroup: uniform
  }
  var acc = 0.0;
  for (var c = lid; c < params.C; c += WORKGROUP_SIZE) {
    let g = clippedGrad(i * params.C + c);
    acc += g * g + EPS1;
  }
  red[lid] = acc;
  reduceWorkgroup(lid);
  if (lid == 0u && status.skip == 0u) {
    row[i] = params.beta2t * row[i] + params.oneMinusBeta2t * (red[0] / f32(params.C));
  }
}

@compute @workgroup_size(16, 16)
fn colFactor(@builtin(workgroup_id) wid: vec3u,
             @builtin(local_invocation_id) lid: vec3u) {
  let c = wid.x * 16u + lid.x;
  let lane = lid.y;
  var acc = 0.0;
  if (c < params.C) {
    for (var i = lane; i < params.R; i += 16u) {
      let g = clippedGrad(i * params.C + c);
      acc += g * g + EPS1;
    }
  }
  red[lane * 16u + lid.x] = acc;
  workgroupBarrier();
  for (var stride = 8u; stride > 0u; stride >>= 1u) {
    if (lane < stride) {
      red[lane * 16u + lid.x] += red[(lane + stride) * 16u + lid.x];
    }
    workgroupBarrier();
  }
  if (lane == 0u && c < params.C && status.skip == 0u) {
    col[c] = params.beta2t * col[c] + params.oneMinusBeta2t * (red[lid.x] / f32(params.R));
  }
}

@compute @workgroup_size(256)
fn rowMean(@builtin(local_invocation_index) lid: u32) {
  var acc = 0.0;
  for (var i = lid; i < params.R; i += WORKGROUP_SIZE) {
    acc += row[i];
  }
  red[lid] = acc;
  reduceWorkgroup(lid);
  if (lid == 0u) {
    scratch[MEAN_ROW] = red[0] / f32(params.R);
  }
}

@compute @workgroup_size(256)
fn updateSquares(@builtin(workgroup_id) wid: vec3u,
                 @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_index) lid: u32) {
  let block = wid.x + wid.y * nwg.x;
  let total = params.R * params.C;
  let begin = block * BLOCK;
  if (begin >= total) {
    return;  // whole workgroup: uniform
  }
  let end = min(total, begin + BLOCK);
  let meanRow = scratch[MEAN_ROW];
  var acc = 0.0;
  for (var e = begin + lid; e < end; e += WORKGROUP_SIZE) {
    let i = e / params.C;
    let c = e - i * params.C;
    let u = update(e, c, inverseSqrt(row[i] / meanRow));
    acc += u * u;
  }
  red[lid] = acc;
  reduceWorkgroup(lid);
  if (lid == 0u) {
    scratch[PARTIALS + block] = red[0];
  }
}

@compute @workgroup_size(256)
fn updateRms(@builtin(local_invocation_index) lid: u32) {
  var acc = 0.0;
  for (var w = lid; w < params.numPartials; w += WORKGROUP_SIZE) {
    acc += scratch[PARTIALS + w];
  }
  red[lid] = acc;
  reduceWorkgroup(lid);
  if (lid == 0u) {
    let sumU2 = red[0];
    let rms = sqrt(sumU2 / f32(params.R * params.C));
    scratch[SUM_U2] = sumU2;
    scratch[DENOM] = max(1.0, rms / CLIP_THRESHOLD);
  }
}

@compute @workgroup_size(256)
fn applyUpdate(@builtin(workgroup_id) wid: vec3u,
               @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
  let e = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  if (e >= params.R * params.C || status.skip != 0u) {
    return;
  }
  let i = e / params.C;
  let c = e - i * params.C;
  let u = update(e, c, inverseSqrt(row[i] / scratch[MEAN_ROW])) / scratch[DENOM];
  let p = param[e];
  param[e] = p - params.lr * u - params.lr * params.weightDecay * p;
}
