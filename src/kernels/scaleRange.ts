import code from './scaleRange.wgsl?raw';
import {
  bindBuffers,
  ceilDiv,
  dispatchLinear,
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

const spec: KernelSpec = {
  name: 'scaleRange.main',
  code,
  entryPoint: 'main',
  bindings: [
    [0, 'uniform'],
    [1, 'read_write'],
  ],
};

export interface ScaleRangeParams {
  /** f32 buffer scaled in place. */
  x: GPUBuffer;
  /** First element (in floats) and number of elements to scale. */
  offset: number;
  count: number;
  scale: number;
}

/** x[offset + i] *= scale for i < count. Encodes one dispatch; count = 0 encodes none. */
export function scaleRange(device: GPUDevice, target: PassTarget, params: ScaleRangeParams): void {
  const { x, offset, count, scale } = params;
  requireInt('offset', offset, 0);
  requireInt('count', count, 0);
  if (!Number.isFinite(scale)) throw new Error(`scale must be finite, got ${scale}`);
  if (count === 0) return;
  requireBytes('x', x, (offset + count) * 4);
  const kernel = getKernel(device, spec);
  const uniforms = uniformBuffer(device, 'scaleRange.params', [u32(offset), u32(count), f32(scale)]);
  const bindGroup = bindBuffers(device, kernel, { 0: uniforms, 1: x });
  withComputePass(target, 'scaleRange', (pass) => {
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(0, bindGroup);
    dispatchLinear(pass, ceilDiv(count, 256));
  });
}
