import code from './embeddingLookup.wgsl?raw';
import {
  bindBuffers,
  ceilDiv,
  dispatchLinear,
  getKernel,
  requireBytes,
  requireInt,
  u32,
  uniformBuffer,
  withComputePass,
  type KernelSpec,
  type PassTarget,
} from './common.ts';

const spec: KernelSpec = {
  name: 'embeddingLookup.main',
  code,
  entryPoint: 'main',
  bindings: [
    [0, 'uniform'],
    [1, 'read'],
    [2, 'read'],
    [3, 'read_write'],
  ],
};

export interface EmbeddingLookupParams {
  /** u32 [N] token ids. */
  ids: GPUBuffer;
  /** f32 [V, d] embedding table. */
  table: GPUBuffer;
  /** f32 [N, d] output. */
  embeddings: GPUBuffer;
  N: number;
  d: number;
  V: number;
}

/** embeddings[n, c] = table[ids[n], c] (ids[n] ≥ V gives zeros). Encodes one dispatch; N = 0 encodes none. */
export function embeddingLookup(device: GPUDevice, target: PassTarget, params: EmbeddingLookupParams): void {
  const { ids, table, embeddings, N, d, V } = params;
  requireInt('N', N, 0);
  requireInt('d', d, 1);
  requireInt('V', V, 1);
  requireInt('N·d', N * d, 0, 0xffffffff);
  if (N === 0) return;
  requireBytes('ids', ids, N * 4);
  requireBytes('table', table, V * d * 4);
  requireBytes('embeddings', embeddings, N * d * 4);
  const kernel = getKernel(device, spec);
  const uniforms = uniformBuffer(device, 'embeddingLookup.params', [u32(N), u32(d), u32(V)]);
  const bindGroup = bindBuffers(device, kernel, { 0: uniforms, 1: ids, 2: table, 3: embeddings });
  withComputePass(target, 'embeddingLookup', (pass) => {
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(0, bindGroup);
    dispatchLinear(pass, ceilDiv(N * d, 256));
  });
}
