import code from './adalinkDown.wgsl?raw';
import randomWgsl from './random.wgsl?raw';
import sumPartialsDropoutCode from './sumPartialsDropout.wgsl?raw';
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
import { chooseTile, kSlicing, tileCols, tileRows, tiledSpec } from './tiledMatmul.ts';

const sumPartialsDropoutSpec: KernelSpec = {
  name: 'sumPartialsDropout.main',
  code: randomWgsl + '\n' + sumPartialsDropoutCode,
  entryPoint: 'main',
  bindings: [
    [0, 'uniform'],
    [1, 'read'],
    [2, 'read'],
    [3, 'read_write'],
  ],
};

/**
 * Second pass of a k-sliced adalinkDown / adalinkHiddenGrad: out = select(valid ∧ keep, scale · Σ_s partials[s]).
 * `valid` undefined: all rows count (adalinkDown).
 */
export function encodeSliceSum(
  device: GPUDevice,
  pass: GPUComputePassEncoder,
  o: { partials: GPUBuffer; out: GPUBuffer; valid?: GPUBuffer; N: number; r: number; slices: number; key: number; threshold: number; p: number },
): void {
  const kernel = getKernel(device, sumPartialsDropoutSpec);
  const uniforms = uniformBuffer(device, 'sumPartialsDropout.params', [
    u32(o.N * o.r),
    u32(o.slices),
    u32(o.r),
    u32(o.key),
    u32(o.threshold),
    f32(1 / (1 - o.p)),
    u32(o.valid ? 1 : 0),
  ]);
  pass.setPipeline(kernel.pipeline);
  pass.setBindGroup(0, bindBuffers(device, kernel, { 0: uniforms, 1: o.partials, 2: o.valid ?? o.partials, 3: o.out }));
  dispatchLinear(pass, ceilDiv(o.N * o.r, 256));
}

export interface AdalinkDownParams {
  /** f32 [N, d] input embeddings. */
  E: GPUBuffer;
  /** f32 [d, r]. */
  Wdown: GPUBuffer;
  /** f32 [N, r] output: the adapter's hidden state after dropout. */
  H: GPUBuffer;
  N: number;
  d: number;
  r: number;
  /** Dropout probability in [0, 1); 0 disables dropout. */
  p: number;
  /** Dropout key (a u32, `dropoutKey(seed, step, modality)`); ignored when p = 0. */
  key: number;
}

/** Checks the shapes shared by the AdaLink kernels; N·d and N·r must index u32 arrays. */
export function checkAdalinkShape(N: number, d: number, r: number): void {
  requireInt('N', N, 0);
  requireInt('d', d, 1, 65535 * 16);
  requireInt('r', r, 1, 65535 * 16);
  requireInt('N·d', N * d, 0, 0xffffffff);
  requireInt('N·r', N * r, 0, 0xffffffff);
}

/**
 * H = dropout(E · Wdown): H[n, j] = keep(n, j)/(1−p) · Σ_k E[n, k]·Wdown[k, j], keep(n, j) iff
 * randU32(key, n·r + j) ≥ p·2^32. Encodes one dispatch (none when N = 0), or two when the tile
 * (tiledMatmul.ts's `chooseTile('adalinkDown', N, r, d)`) cuts d into k slices: partial sums, then their
 * sum in slice order with the dropout (sumPartialsDropout.wgsl).
 */
export function adalinkDown(device: GPUDevice, target: PassTarget, params: AdalinkDownParams): void {
  const { E, Wdown, H, N, d, r, p, key } = params;
  checkAdalinkShape(N, d, r);
  requireInt('key', key, 0);
  const threshold = dropoutThreshold(p);
  if (N === 0) return;
  requireBytes('E', E, N * d * 4);
  requireBytes('Wdown', Wdown, d * r * 4);
  requireBytes('H', H, N * r * 4);
  const tile = chooseTile('adalinkDown', N, r, d);
  const { slices, sliceLength } = kSlicing(d, tile, N * r);
  const split = slices > 1;
  const kernel = getKernel(
    device,
    tiledSpec({
      kernel: 'adalinkDown',
      code,
      prelude: randomWgsl,
      bindings: [[0, 'uniform'], [1, 'read'], [2, 'read'], [3, 'read_write']],
      tile,
      aKFastest: true,
      bNFastest: true,
      split,
    }),
  );
  const colTiles = ceilDiv(r, tileCols(tile));
  const uniforms = uniformBuffer(device, 'adalinkDown.params', [
    u32(N),
    u32(d),
    u32(r),
    u32(key),
    u32(threshold),
    f32(1 / (1 - p)),
    u32(sliceLength),
    u32(colTiles),
  ]);
  const partials = split ? scratchBuffer(device, 'adalinkDown.partials', slices * N * r * 4) : undefined;
  const bindGroup = bindBuffers(device, kernel, { 0: uniforms, 1: E, 2: Wdown, 3: partials ?? H });
  withComputePass(target, 'adalinkDown', (pass) => {
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(0, bindGroup);
    dispatchTiles(pass, colTiles * slices, ceilDiv(N, tileRows(tile)));
    if (partials) encodeSliceSum(device, pass, { partials, out: H, N, r, slices, key, threshold, p });
  });
}
