// AdamW, PyTorch's rule (docs/ENGINE.md §5), one invocation per element i < count:
//   if status.skip ≠ 0: write nothing (parameters and moments keep their values)
//   g = grad[i] · status.clipScale
//   p ← p − lr·wd·p
//   m ← β1·m + (1−β1)·g
//   v ← β2·v + (1−β2)·g²
//   p ← p − lr · (m / bc1) / (sqrt(v / bc2) + ε)          bc1 = 1 − β1^t, bc2 = 1 − β2^t
// lr (already scheduled: lr_t), β1, 1−β1, β2, 1−β2, ε, wd, bc1 and bc2 are computed on the CPU in float64.
// Needs stepStatus.wgsl in front.
//
// Bindings (group 0):
//   0  uniform             Params { count, lr, beta1, oneMinusBeta1, beta2, oneMinusBeta2, eps,
//                                   weightDecay, biasCorrection1, biasCorrection2 }
//   1  storage, read       status  StepStatus   (from gradNorm)
//   2  storage, read       grad    f32 [count]
//   3  storage, read_write param   f32 [count]
//   4  storage, read_write m       f32 [count]  (first moment, starts at 0)
//   5  storage, read_write v       f32 [count]  (second moment, starts at 0)
//
// Dispatch: 256 invocations per workgroup, ceil(count / 256) workgroups folded into (x, y) (x ≤ 65535),
// linear workgroup index wid.x + wid.y · nwg.x.

struct Params {
  count: u32,
  lr: f32,
  beta1: f32,
  oneMinusBeta1: f32,
  beta2: f32,
  oneMinusBeta2: f32,
  eps: f32,
  weightDecay: f32,
  biasCorrection1: f32,
  biasCorrection2: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> status: StepStatus;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> param: array<f32>;
@group(0) @binding(4) var<storage, read_write> m: array<f32>;
@group(0) @binding(5) var<storage, read_write> v: array<f32>;

const WORKGROUP_SIZE = 256u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  if (i >= params.count || status.skip != 0u) {
    return;
  }
  let g = grad[i] * status.clipScale;
  var p = param[i];
  p = p - params.lr * params.weightDecay * p;
  let mNew = params.beta1 * m[i] + params.oneMinusBeta1 * g;
  let vNew = params.beta2 * v[i] + params.oneMinusBeta2 * g * g;
  p = p - params.lr * (mNew / params.biasCorrection1) / (sqrt(vNew / params.biasCorrection2) + params.eps);
  m[i] = mNew;
  v[i] = vNew;
  param[i] = p;
}
