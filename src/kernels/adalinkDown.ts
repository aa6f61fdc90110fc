import code from './adalinkDown.wgsl?raw';
import randomWgsl from './random.wgsl?raw';
import {
  bindBuffers,
  ceilDiv,
  dispatchTiles,
  f32,
  getKernel,
  requireBytes,
  requireInt,
  u32,
  uniformBuffer,
  withComputePass,
  type KernelSpec,
  type PassTarget,
} from './common.ts';
import { dropoutThreshold } from './random.ts';

const spec: KernelSpec = {
  name: 'adalinkDown.main',
  code: randomWgsl + '\n' + code,
  entryPoint: 'main',
  bindings: [
    [0, 'uniform'],
    [1, 'read'],
    [2, 'read'],
    [3, 'read_write'],
  ],
};

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
 * randU32(key, n·r + j) ≥ p·2^32. Encodes one dispatch (none when N = 0).
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
  const kernel = getKernel(device, spec);
  const uniforms = uniformBuffer(device, 'adalinkDown.params', [
    u32(N),
    u32(d),
    u32(r),
    u32(key),
    u32(threshold),
    f32(1 / (1 - p)),
  ]);
  const bindGroup = bindBuffers(device, kernel, { 0: uniforms, 1: E, 2: Wdown, 3: H });
  withComputePass(target, 'adalinkDown', (pass) => {
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(0, bindGroup);
    dispatchTiles(pass, ceilDiv(r, 16), ceilDiv(N, 16));
  });
}
