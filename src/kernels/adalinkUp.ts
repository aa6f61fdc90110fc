import code from './adalinkUp.wgsl?raw';
import { checkAdalinkShape } from './adalinkDown.ts';
import {
  bindBuffers,
  ceilDiv,
  dispatchTiles,
  getKernel,
  requireBytes,
  u32,
  uniformBuffer,
  withComputePass,
  type KernelSpec,
  type PassTarget,
} from './common.ts';

const spec: KernelSpec = {
  name: 'adalinkUp.main',
  code,
  entryPoint: 'main',
  bindings: [
    [0, 'uniform'],
    [1, 'read'],
    [2, 'read'],
    [3, 'read'],
    [4, 'read_write'],
  ],
};

export interface AdalinkUpParams {
  /** f32 [N, d] input embeddings. */
  E: GPUBuffer;
  /** f32 [N, r] hidden state (after dropout). */
  H: GPUBuffer;
  /** f32 [r, d]. */
  Wup: GPUBuffer;
  /** f32 [N, d] output, a buffer other than E. */
  adapted: GPUBuffer;
  N: number;
  d: number;
  r: number;
}

/** adapted = E + H · Wup. Encodes one dispatch (none when N = 0). */
export function adalinkUp(device: GPUDevice, target: PassTarget, params: AdalinkUpParams): void {
  const { E, H, Wup, adapted, N, d, r } = params;
  checkAdalinkShape(N, d, r);
  if (N === 0) return;
  if (adapted === E) throw new Error('adalinkUp: adapted must be a buffer other than E');
  requireBytes('E', E, N * d * 4);
  requireBytes('H', H, N * r * 4);
  requireBytes('Wup', Wup, r * d * 4);
  requireBytes('adapted', adapted, N * d * 4);
  const kernel = getKernel(device, spec);
  const uniforms = uniformBuffer(device, 'adalinkUp.params', [u32(N), u32(d), u32(r)]);
  const bindGroup = bindBuffers(device, kernel, { 0: uniforms, 1: E, 2: H, 3: Wup, 4: adapted });
  withComputePass(target, 'adalinkUp', (pass) => {
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(0, bindGroup);
    dispatchTiles(pass, ceilDiv(d, 16), ceilDiv(N, 16));
  });
}
