// Pillow's vertical resampling pass on 8-bit RGB, bit for bit, then the processor's normalisation into the
// vision graph's pixel_values (src/data/resample.ts, src/data/images.ts, docs/IMAGES.md):
//   v[y][x][c]  = clamp((2^21 + Σ_{t < count[y]} tmp[start[y] + t − rowFirst][x][c] · k[y·ksize + t]) >> 22, 0, 255)
//   out[offset + c·S·S + y·S + x] = table[c·256 + v[y][x][c]]        (table: (v / 255 − mean[c]) / std[c])
// for y < S (outHeight), x < S (outWidth), c < 3. The table is computed on the CPU as normalisedPixels does,
// so the floats equal the CPU path's. A pass whose size does not change gets identity weights.
//
// Bindings (group 0):
//   0  uniform               Params { outWidth, outHeight, rowFirst, ksize, offset }
//   1  storage, read         tmp      u32 [rows·outWidth·3]   the horizontal pass's bytes (resampleRows.wgsl)
//   2  storage, read         bounds   i32 [2·outHeight]   start (a source row), count of output row y
//   3  storage, read         weights  i32 [outHeight·ksize]
//   4  storage, read         table    f32 [3·256]
//   5  storage, read_write   out      f32 [≥ offset + 3·outHeight·outWidth]   CHW planes of one image
//
// Dispatch: (ceil(outWidth / 64), outHeight) workgroups of 64; one invocation per output pixel.

struct Params {
  outWidth: u32,
  outHeight: u32,
  rowFirst: u32,
  ksize: u32,
  offset: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> tmp: array<u32>;
@group(0) @binding(2) var<storage, read> bounds: array<i32>;
@group(0) @binding(3) var<storage, read> weights: array<i32>;
@group(0) @binding(4) var<storage, read> table: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

const HALF = 2097152i; // 2^21: Pillow's rounding term

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let x = gid.x;
  let y = gid.y;
  if (x >= params.outWidth || y >= params.outHeight) {
    return;
  }
  let start = u32(bounds[2u * y]) - params.rowFirst;
  let count = u32(bounds[2u * y + 1u]);
  let rowLength = params.outWidth * 3u;
  var p = start * rowLength + x * 3u;
  var s = vec3i(HALF, HALF, HALF);
  for (var t = 0u; t < count; t++) {
    let k = weights[y * params.ksize + t];
    s += vec3i(i32(tmp[p]), i32(tmp[p + 1u]), i32(tmp[p + 2u])) * k;
    p += rowLength;
  }
  let v = vec3u(clamp(s >> vec3u(22u), vec3i(0i), vec3i(255i)));
  let plane = params.outWidth * params.outHeight;
  let o = params.offset + y * params.outWidth + x;
  out[o] = table[v.x];
  out[o + plane] = table[256u + v.y];
  out[o + 2u * plane] = table[512u + v.z];
}
