// Register-blocked tile loop shared by the AdaLink matrix products (adalinkDown, adalinkUp,
// adalinkHiddenGrad, maskedXtYChunkPartials): one workgroup computes one BM × BN tile of
//   C[m, n] = Σ_{k = kBegin … kEnd−1} A[m, k] · B[k, n]        m < M, n < Ncols
// with f32 fma, k ascending (a fixed order: the same bits every run).
//
// Not a kernel on its own. tiledMatmul.ts puts the tile constants in front of it:
//   WG_X, WG_Y   invocations along n and along m (WG_X · WG_Y ≤ 256, the workgroup size THREADS)
//   TM, TN       outputs per invocation along m and n (multiples of 4)
//   BK           k per step
//   A_K_FASTEST  A[m, k] is contiguous in k (else in m); B_N_FASTEST: B[k, n] contiguous in n (else in k)
//                — how the tile loads walk memory, so that neighbouring invocations read neighbouring words
// and the kernel after it, which defines
//   fn loadA(m: u32, k: u32) -> f32     called only for m < M and kBegin ≤ k < kEnd
//   fn loadB(k: u32, n: u32) -> f32     called only for n < Ncols and kBegin ≤ k < kEnd
// and calls matmulTile from uniform control flow (it holds barriers), then writes the outputs it owns.
//
// Tile: BM = WG_Y·TM rows from m0, BN = WG_X·TN columns from n0. Invocation lid = ty·WG_X + tx owns
//   acc[i][jj][c] = C[tileRow(m0, ty, i), tileCol(n0, tx, jj) + c]       i < TM, jj < TN/4, c < 4
// rows m0 + (i/4)·4·WG_Y + 4·ty + i%4 and columns n0 + jj·4·WG_X + 4·tx + c: groups of 4 interleaved so that
// an invocation's reads of the workgroup tiles are whole vec4s and a warp's reads fall on distinct banks.
// Each step of BK: the A and B tiles are stored k-major into workgroup memory (rows padded by one vec4),
// the next step's tiles are fetched into registers, and BK rank-1 updates of TM × TN are done. Entries
// outside [0, M) × [kBegin, kEnd) × [0, Ncols) are zeros, so they add nothing to the outputs that exist.

const BM = WG_Y * TM;
const BN = WG_X * TN;
const THREADS = WG_X * WG_Y;
const A_STRIDE = BM / 4u + 1u;  // vec4s per k row of tileA
const B_STRIDE = BN / 4u + 1u;  // vec4s per k row of tileB
const A_LOADS = (BM * BK + THREADS - 1u) / THREADS;
const B_LOADS = (BK * BN + THREADS - 1u) / THREADS;

alias TileAcc = array<array<vec4f, TN / 4u>, TM>;

var<workgroup> tileA: array<vec4f, BK * A_STRIDE>;  // [k][m], 4 rows per vec4
var<workgroup> tileB: array<vec4f, BK * B_STRIDE>;  // [k][n], 4 columns per vec4

fn tileRow(m0: u32, ty: u32, i: u32) -> u32 {
  return m0 + (i / 4u) * 4u * WG_Y + 4u * ty + i % 4u;
}

/** First of the 4 columns of group jj. */
fn tileCol(n0: u32, tx: u32, jj: u32) -> u32 {
  return n0 + jj * 4u * WG_X + 4u * tx;
}

/** (m, k) within the A tile of load slot e, numbered along the contiguous index. */
fn tileAIndex(e: u32) -> vec2u {
  if (A_K_FASTEST) {
    return vec2u(e / BK, e % BK);
  }
  return vec2u(e % BM, e / BM);
}

/** (k, n) within the B tile of load slot e. */
fn tileBIndex(e: u32) -> vec2u {
  if (B_N_FASTEST) {
    return vec2u(e / BN, e % BN);
  }
  return vec2u(e % BK, e / BK);
}

fn fetchA(m0: u32, M: u32, k0: u32, kEnd: u32, lid: u32) -> array<f32, A_LOADS> {
  var v: array<f32, A_LOADS>;
  for (var s = 0u; s < A_LOADS; s++) {
    let e = s * THREADS + lid;
    let mk = tileAIndex(e);
    if (e < BM * BK && m0 + mk.x < M && k0 + mk.y < kEnd) {
      v[s] = loadA(m0 + mk.x, k0 + mk.y);
    }
  }
  return v;
}

fn fetchB(n0: u32, Ncols: u32, k0: u32, kEnd: u32, lid: u32) -> array<f32, B_LOADS> {
  var v: array<f32, B_LOADS>;
  for (var s = 0u; s < B_LOADS; s++) {
    let e = s * THREADS + lid;
    let kn = tileBIndex(e);
    if (e < BK * BN && n0 + kn.y < Ncols && k0 + kn.x < kEnd) {
      v[s] = loadB(k0 + kn.x, n0 + kn.y);
    }
  }
  return v;
}

fn storeTiles(a: array<f32, A_LOADS>, b: array<f32, B_LOADS>, lid: u32) {
  for (var s = 0u; s < A_LOADS; s++) {
    let e = s * THREADS + lid;
    if (e < BM * BK) {
      let mk = tileAIndex(e);
      tileA[mk.y * A_STRIDE + mk.x / 4u][mk.x % 4u] = a[s];
    }
  }
  for (var s = 0u; s < B_LOADS; s++) {
    let e = s * THREADS + lid;
    if (e < BK * BN) {
      let kn = tileBIndex(e);
      tileB[kn.x * B_STRIDE + kn.y / 4u][kn.y % 4u] = b[s];
    }
  }
}

fn matmulTile(m0: u32, n0: u32, M: u32, Ncols: u32, kBegin: u32, kEnd: u32, lid: u32) -> TileAcc {
  let tx = lid % WG_X;
  let ty = lid / WG_X;
  var acc: TileAcc;
  var a = fetchA(m0, M, kBegin, kEnd, lid);
  var b = fetchB(n0, Ncols, kBegin, kEnd, lid);
  for (var k0 = kBegin; k0 < kEnd; k0 += BK) {
    storeTiles(a, b, lid);
    workgroupBarrier();
    if (k0 + BK < kEnd) {
      a = fetchA(m0, M, k0 + BK, kEnd, lid);
      b = fetchB(n0, Ncols, k0 + BK, kEnd, lid);
    }
    for (var k = 0u; k < BK; k++) {
      var av: array<vec4f, TM / 4u>;
      for (var ii = 0u; ii < TM / 4u; ii++) {
        av[ii] = tileA[k * A_STRIDE + ii * WG_Y + ty];
      }
      for (var jj = 0u; jj < TN / 4u; jj++) {
        let bv = tileB[k * B_STRIDE + jj * WG_X + tx];
        for (var i = 0u; i < TM; i++) {
          acc[i][jj] = fma(vec4f(av[i / 4u][i % 4u]), bv, acc[i][jj]);
        }
      }
    }
    workgroupBarrier();
  }
  return acc;
}
