import hiddenGradCode from './adalinkHiddenGrad.wgsl?raw';
import partialsCode from './maskedXtYChunkPartials.wgsl?raw';
import randomWgsl from './random.wgsl?raw';
import sumPartialsCode from './sumPartials.wgsl?raw';
import { checkAdalinkShape, encodeSliceSum } from './adalinkDown.ts';
import {
  bindBuffers,
  ceilDiv,
  dispatchLinear,
  dispatchTiles,
  f32,
  getKernel,
  requireBytes,
  requireInt,
  scratchBuffer,
  u32,
  uniformBuffer,
  withComputePass,
  type KernelSpec,
  type PassTarget,
} from './common.ts';
import { dropoutThreshold } from './random.ts';
import { chooseTile, kSlicing, tileCols, tileRows, tiledSpec, type TileConfig } from './tiledMatmul.ts';

const partialsSpec = (tile: TileConfig): KernelSpec =>
  tiledSpec({
    kernel: 'maskedXtYChunkPartials',
    code: partialsCode,
    bindings: [[0, 'uniform'], [1, 'read'], [2, 'read'], [3, 'read'], [4, 'read_write']],
    tile,
    aKFastest: false,
    bNFastest: true,
  });

const sumPartialsSpec: KernelSpec = {
  name: 'sumPartials.main',
  code: sumPartialsCode,
  entryPoint: 'main',
  bindings: [
    [0, 'uniform'],
    [1, 'read'],
    [2, 'read_write'],
  ],
};

const hiddenGradSpec = (tile: TileConfig, split: boolean): KernelSpec =>
  tiledSpec({
    split,
    kernel: 'adalinkHiddenGrad',
    code: hiddenGradCode,
    prelude: randomWgsl,
    bindings: [[0, 'uniform'], [1, 'read'], [2, 'read'], [3, 'read'], [4, 'read_write']],
    tile,
    aKFastest: true,
    bNFastest: false,
  });

/**
 * At most this many chunks per reduction over N (with k slices inside the chunks, the partials scratch holds
 * at most max(32·r·d, 2^22) floats).
 */
export const MAX_REDUCTION_CHUNKS = 32;
/** Chunks hold at least this many rows (chunk sizes are multiples of 16). */
export const MIN_CHUNK_ROWS = 256;

/**
 * How the reductions over N are split: `chunkRows` rows per chunk (a multiple of 16), `chunks` chunks.
 * A function of N only, so results are reproducible for a given shape.
 */
export function reductionChunks(N: number): { chunkRows: number; chunks: number } {
  const chunkRows = Math.max(MIN_CHUNK_ROWS, Math.ceil(Math.ceil(N / MAX_REDUCTION_CHUNKS) / 16) * 16);
  return { chunkRows, chunks: Math.ceil(N / chunkRows) };
}

export interface AdalinkBackwardParams {
  /** f32 [N, d] input embeddings of the forward pass. */
  E: GPUBuffer;
  /** f32 [N, d] G = dL/dẼ. */
  G: GPUBuffer;
  /** u32 [N]: 1 for a real token, 0 for padding (carries no gradient). */
  valid: GPUBuffer;
  /** f32 [N, r] H = dropout(E·Wdown) of the forward pass. */
  H: GPUBuffer;
  /** f32 [r, d]. */
  Wup: GPUBuffer;
  /** f32 [d, r] output (overwritten). */
  dWdown: GPUBuffer;
  /** f32 [r, d] output (overwritten). */
  dWup: GPUBuffer;
  /** Optional f32 [N, r] buffer for dH; a per-device scratch buffer otherwise. */
  dH?: GPUBuffer;
  N: number;
  d: number;
  r: number;
  /** The forward's dropout probability and key (the mask is recomputed from them). */
  p: number;
  key: number;
}

/**
 * AdaLink backward of one modality (docs/ENGINE.md §4):
 *   dWup   = Hᵀ · (valid ⊙ G)                             r×d
 *   dH     = valid ⊙ mask ⊙ (G · Wupᵀ) / (1 − p)           N×r
 *   dWdown = Eᵀ · dH                                      d×r
 * Reductions over N run in `reductionChunks(N)` chunks (each cut into k slices when the tile says so, at most
 * max(32·r·d, 2^22) partials) whose partials are summed in a fixed order, so the gradients are bit-identical
 * from run to run. N = 0 writes zero gradients. Encodes five dispatches (six when dH is k-sliced).
 */
export function adalinkBackward(device: GPUDevice, target: PassTarget, params: AdalinkBackwardParams): void {
  const { E, G, valid, H, Wup, dWdown, dWup, N, d, r, p, key } = params;
  checkAdalinkShape(N, d, r);
  requireInt('key', key, 0);
  requireInt('r·d', r * d, 1, 0xffffffff);
  const threshold = dropoutThreshold(p);
  const { chunkRows, chunks } = reductionChunks(N);
  requireBytes('Wup', Wup, r * d * 4);
  requireBytes('dWdown', dWdown, d * r * 4);
  requireBytes('dWup', dWup, r * d * 4);
  if (N > 0) {
    requireBytes('E', E, N * d * 4);
    requireBytes('G', G, N * d * 4);
    requireBytes('valid', valid, N * 4);
    requireBytes('H', H, N * r * 4);
    if (params.dH) requireBytes('dH', params.dH, N * r * 4);
  }

  // Tile shapes: dWup is r × d, dH is N × r, dWdown is d × r (k = the chunk's rows for the partials).
  // A tile with `ks` cuts each chunk (or d, for dH) into k slices: more workgroups, more partials.
  const dWupTile = chooseTile('maskedXtYChunkPartials', r, d, chunkRows);
  const hiddenTile = chooseTile('adalinkHiddenGrad', N, r, d);
  const dWdownTile = chooseTile('maskedXtYChunkPartials', d, r, chunkRows);
  const maxPartials = Math.max(MAX_REDUCTION_CHUNKS * r * d, 2 ** 22);
  const dWupSlices = kSlicing(chunkRows, dWupTile, chunks * r * d, maxPartials);
  const dWdownSlices = kSlicing(chunkRows, dWdownTile, chunks * r * d, maxPartials);
  const hiddenSlices = kSlicing(d, hiddenTile, N * r);
  const dWupKernel = getKernel(device, partialsSpec(dWupTile));
  const dWdownKernel = getKernel(device, partialsSpec(dWdownTile));
  const sumKernel = getKernel(device, sumPartialsSpec);
  const hiddenSplit = hiddenSlices.slices > 1;
  const hiddenKernel = getKernel(device, hiddenGradSpec(hiddenTile, hiddenSplit));
  const partialCount = chunks * Math.max(dWupSlices.slices, dWdownSlices.slices);
  const partials = scratchBuffer(device, 'adalinkBackward.partials', partialCount * r * d * 4);
  const dH = params.dH ?? scratchBuffer(device, 'adalinkBackward.dH', N * r * 4);
  const dHPartials = hiddenSplit
    ? scratchBuffer(device, 'adalinkBackward.dHPartials', hiddenSlices.slices * N * r * 4)
    : undefined;

  const sumGroup = (out: GPUBuffer, count: number) =>
    bindBuffers(device, sumKernel, {
      0: uniformBuffer(device, 'sumPartials.params', [u32(r * d), u32(count)]),
      1: partials,
      2: out,
    });
  const partialsParams = (label: string, A: number, B: number, s: { slices: number; sliceLength: number }) =>
    uniformBuffer(device, label, [u32(N), u32(A), u32(B), u32(chunkRows), u32(s.sliceLength), u32(s.slices)]);

  withComputePass(target, 'adalinkBackward', (pass) => {
    // 1–2. dWup[j, c] = Σ_n valid[n]·H[n, j]·G[n, c]: X = H (A = r), Y = G (B = d).
    if (N > 0) {
      pass.setPipeline(dWupKernel.pipeline);
      pass.setBindGroup(
        0,
        bindBuffers(device, dWupKernel, {
          0: partialsParams('dWup.partials.params', r, d, dWupSlices),
          1: H,
          2: G,
          3: valid,
          4: partials,
        }),
      );
      pass.dispatchWorkgroups(ceilDiv(d, tileCols(dWupTile)), ceilDiv(r, tileRows(dWupTile)), chunks * dWupSlices.slices);
    }
    pass.setPipeline(sumKernel.pipeline);
    pass.setBindGroup(0, sumGroup(dWup, chunks * dWupSlices.slices));
    dispatchLinear(pass, ceilDiv(r * d, 256));

    if (N > 0) {
      // 3. dH[n, j] = valid[n]·keep(n, j)/(1−p) · Σ_c G[n, c]·Wup[j, c] (k-sliced: partials, then their sum).
      const colTiles = ceilDiv(r, tileCols(hiddenTile));
      pass.setPipeline(hiddenKernel.pipeline);
      pass.setBindGroup(
        0,
        bindBuffers(device, hiddenKernel, {
          0: uniformBuffer(device, 'adalinkHiddenGrad.params', [
            u32(N),
            u32(d),
            u32(r),
            u32(key),
            u32(threshold),
            f32(1 / (1 - p)),
            u32(hiddenSlices.sliceLength),
            u32(colTiles),
          ]),
          1: G,
          2: Wup,
          3: valid,
          4: dHPartials ?? dH,
        }),
      );
      dispatchTiles(pass, colTiles * hiddenSlices.slices, ceilDiv(N, tileRows(hiddenTile)));
      if (dHPartials) {
        encodeSliceSum(device, pass, { partials: dHPartials, out: dH, valid, N, r, slices: hiddenSlices.slices, key, threshold, p });
      }

      // 4. dWdown partials: X = E (A = d), Y = dH (B = r); dH is already 0 on masked rows.
      pass.setPipeline(dWdownKernel.pipeline);
      pass.setBindGroup(
        0,
        bindBuffers(device, dWdownKernel, {
          0: partialsParams('dWdown.partials.params', d, r, dWdownSlices),
          1: E,
          2: dH,
          3: valid,
          4: partials,
        }),
      );
      pass.dispatchWorkgroups(ceilDiv(r, tileCols(dWdownTile)), ceilDiv(d, tileRows(dWdownTile)), chunks * dWdownSlices.slices);
    }
    // 5. dWdown[k, j] = Σ_q partials[q, k, j].
    pass.setPipeline(sumKernel.pipeline);
    pass.setBindGroup(0, sumGroup(dWdown, chunks * dWdownSlices.slices));
    dispatchLinear(pass, ceilDiv(r * d, 256));
  });
}
