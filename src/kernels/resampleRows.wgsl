// Pillow's horizontal resampling pass on 8-bit RGB, bit for bit (src/data/resample.ts, docs/IMAGES.md):
//   tmp[y][x][c] = clamp((2^21 + Σ_{t < count[x]} src[rowFirst + y][start[x] + t][c] · k[x·ksize + t]) >> 22, 0, 255)
// for y < rows, x < outWidth, c < 3; k are Pillow's Q22 integer weights (normalize_coeffs_8bpc), so the i32
// sums are exact and the bytes equal Pillow's. A pass whose size does not change is given identity weights
// (start x, count 1, k 2^22), which return the byte unchanged.
//
// Bindings (group 0):
//   0  uniform               Params { width, rowFirst, rows, outWidth, ksize }
//   1  storage, read         src      u32 [ceil(width·height·3 / 4)]  the decoded image's RGB bytes, packed
//                                     little-endian four to a word (byte i = word i/4, bits 8·(i%4)…)
//   2  storage, read         bounds   i32 [2·outWidth]   start, count of output column x at 2x, 2x + 1
//   3  storage, read         weights  i32 [outWidth·ksize]
//   4  storage, read_write   tmp      u32 [rows·outWidth·3]   one byte value per word, rows × columns × RGB
//
// Dispatch: (ceil(outWidth / 64), rows) workgroups of 64; one invocation per output pixel (three channels).

struct Params {
  width: u32,
  rowFirst: u32,
  rows: u32,
  outWidth: u32,
  ksize: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read> bounds: array<i32>;
@group(0) @binding(3) var<storage, read> weights: array<i32>;
@group(0) @binding(4) var<storage, read_write> tmp: array<u32>;

const HALF = 2097152i; // 2^21: Pillow's rounding term

fn byteAt(i: u32) -> i32 {
  return i32((src[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let x = gid.x;
  let y = gid.y;
  if (x >= params.outWidth || y >= params.rows) {
    return;
  }
  let start = u32(bounds[2u * x]);
  let count = u32(bounds[2u * x + 1u]);
  var p = ((params.rowFirst + y) * params.width + start) * 3u;
  var s = vec3i(HALF, HALF, HALF);
  for (var t = 0u; t < count; t++) {
    let k = weights[x * params.ksize + t];
    s += vec3i(byteAt(p), byteAt(p + 1u), byteAt(p + 2u)) * k;
    p += 3u;
  }
  let o = (y * params.outWidth + x) * 3u;
  let v = clamp(s >> vec3u(22u), vec3i(0i), vec3i(255i));
  tmp[o] = u32(v.x);
  tmp[o + 1u] = u32(v.y);
  tmp[o + 2u] = u32(v.z);
}
