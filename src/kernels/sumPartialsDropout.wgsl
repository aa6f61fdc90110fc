// Second pass of the k-sliced adalinkDown / adalinkHiddenGrad (SPLIT): adds the S slices' plain sums in
// ascending s (a fixed order: the same bits every run), then applies what the one-slice kernels apply:
//   out[i] = (useValid = 0 or valid[i / r] ≠ 0) and keep(i) ? scale · Σ_{s = 0 … S−1} partials[s · M + i] : 0
//   i < M = N·r,  keep(i) = randU32(key, i) >= threshold (0: all kept),  scale = 1/(1 − p) rounded to f32
// Masked rows and dropped elements are exact zeros (selected, so NaNs of padded rows cannot leak).
// Needs random.wgsl in front.
//
// Bindings (group 0):
//   0  uniform             Params { M, S, r, key, threshold, scale, useValid }
//   1  storage, read       partials  f32 [S, M]
//   2  storage, read       valid     u32 [N]   (adalinkHiddenGrad; any buffer when useValid = 0)
//   3  storage, read_write out       f32 [M]   (H or dH)
//
// Dispatch: one invocation per output element, 256 per workgroup; ceil(M / 256) workgroups folded into an
// (x, y) grid (x ≤ 65535), linear workgroup index wid.x + wid.y · nwg.x.

struct Params {
  M: u32,
  S: u32,
  r: u32,
  key: u32,
  threshold: u32,
  scale: f32,
  useValid: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read> valid: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= params.M) {
    return;
  }
  var sum = 0.0;
  for (var s = 0u; s < params.S; s++) {
    sum += partials[s * params.M + i];
  }
  var v = 0.0;
  if ((params.useValid == 0u || valid[i / params.r] != 0u) && dropoutKeep(params.key, params.threshold, i)) {
    v = sum * params.scale;
  }
  out[i] = v;
}
