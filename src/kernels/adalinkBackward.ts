import hiddenGradCode from './adalinkHiddenGrad.wgsl?raw';
import partialsCode from './maskedXtYChunkPartials.wgsl?raw';
import randomWgsl from './random.wgsl?raw';
import sumPartialsCode from './sumPartials.wgsl?raw';
import { checkAdalinkShape } from './adalinkDown.ts';
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

const partialsSpec: KernelSpec = {
  name: 'maskedXtYChunkPartials.main',
  code: partialsCode,
  entryPoint: 'main',
  bindings: [
    [0, 'uniform'],
    [1, 'read'],
    [2, 'read'],
    [3, 'read'],
    [4, 'read_write'],
  ],
};

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

const hiddenGradSpec: KernelSpec = {
  name: 'adalinkHiddenGrad.main',
  code: randomWgsl + '\n' + hiddenGradCode,
  entryPoint: 'main',
  bindings: [
    [0, 'uniform'],
    [1, 'read'],
    [2, 'read'],
    [3, 'read'],
    [4, 'read_write'],
  ],
};

/** At most this many chunks per reduction over N (bounds the partials scratch to 32·r·d floats). */
export const MAX_REDUCTION_CHUNKS = 32;
/** Chunks hold at least this many rows (a multiple of the 16-row tile). */
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
 * Reductions over N run in `reductionChunks(N)` chunks whose partials are summed in a fixed order, so the
 * gradients are bit-identical from run to run. N = 0 writes zero gradients. Encodes five dispatches.
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

  const partialsKernel = getKernel(device, partialsSpec);
  const sumKernel = getKernel(device, sumPartialsSpec);
  const hiddenKernel = getKernel(device, hiddenGradSpec);
  const partials = scratchBuffer(device, 'adalinkBackward.partials', chunks * r * d * 4);
  const dH = params.dH ?? scratchBuffer(device, 'adalinkBackward.dH', N * r * 4);

  const sumGroup = (out: GPUBuffer) =>
    bindBuffers(device, sumKernel, {
      0: uniformBuffer(device, 'sumPartials.params', [u32(r * d), u32(chunks)]),
      1: partials,
      2: out,
    });

  withComputePass(target, 'adalinkBackward', (pass) => {
    // 1–2. dWup[j, c] = Σ_n valid[n]·H[n, j]·G[n, c]: X = H (A = r), Y = G (B = d).
    if (N > 0) {
      pass.setPipeline(partialsKernel.pipeline);
      pass.setBindGroup(
        0,
        bindBuffers(device, partialsKernel, {
          0: uniformBuffer(device, 'dWup.partials.params', [u32(N), u32(r), u32(d), u32(chunkRows)]),
          1: H,
          2: G,
          3: valid,
          4: partials,
        }),
      );
      pass.dispatchWorkgroups(ceilDiv(d, 16), ceilDiv(r, 16), chunks);
    }
    pass.setPipeline(sumKernel.pipeline);
    pass.setBindGroup(0, sumGroup(dWup));
    dispatchLinear(pass, ceilDiv(r * d, 256));

    if (N > 0) {
      // 3. dH[n, j] = valid[n]·keep(n, j)/(1−p) · Σ_c G[n, c]·Wup[j, c].
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
          ]),
          1: G,
          2: Wup,
          3: valid,
          4: dH,
        }),
      );
      dispatchTiles(pass, ceilDiv(r, 16), ceilDiv(N, 16));

      // 4. dWdown partials: X = E (A = d), Y = dH (B = r); dH is already 0 on masked rows.
      pass.setPipeline(partialsKernel.pipeline);
      pass.setBindGroup(
        0,
        bindBuffers(device, partialsKernel, {
          0: uniformBuffer(device, 'dWdown.partials.params', [u32(N), u32(d), u32(r), u32(chunkRows)]),
          1: E,
          2: dH,
          3: valid,
          4: partials,
        }),
      );
      pass.dispatchWorkgroups(ceilDiv(r, 16), ceilDiv(d, 16), chunks);
    }
    // 5. dWdown[k, j] = Σ_q partials[q, k, j].
    pass.setPipeline(sumKernel.pipeline);
    pass.setBindGroup(0, sumGroup(dWdown));
    dispatchLinear(pass, ceilDiv(r * d, 256));
  });
}
