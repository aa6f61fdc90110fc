import code from './gradNorm.wgsl?raw';
import stepStatusWgsl from './stepStatus.wgsl?raw';
import {
  bindBuffers,
  ceilDiv,
  dispatchLinear,
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

const source = stepStatusWgsl + '\n' + code;

const partialsSpec: KernelSpec = {
  name: 'gradNorm.sumSquaresPartials',
  code: source,
  entryPoint: 'sumSquaresPartials',
  bindings: [
    [0, 'uniform'],
    [1, 'read'],
    [2, 'read_write'],
  ],
};

const finishSpec: KernelSpec = {
  name: 'gradNorm.finish',
  code: source,
  entryPoint: 'finish',
  bindings: [
    [0, 'uniform'],
    [2, 'read_write'],
    [3, 'read'],
    [4, 'read_write'],
  ],
};

/** Size in bytes of the step status: { sumSquares f32, norm f32, clipScale f32, skip u32 }. */
export const STEP_STATUS_BYTES = 16;
/** Elements summed by one workgroup of the first pass. */
export const GRAD_NORM_BLOCK = 4096;

export interface GradientRef {
  /** f32 gradient values. */
  buffer: GPUBuffer;
  /** Number of f32 elements to include (from the start of the buffer). */
  count: number;
}

export interface GradNormParams {
  /** The gradients whose joint L2 norm is taken (all parameters of all modalities). */
  grads: readonly GradientRef[];
  /** A buffer holding the step's loss as f32 at byte offset `lossOffset` (a multiple of 4). */
  loss: GPUBuffer;
  lossOffset: number;
  /** Clip threshold on the global norm; 0 disables clipping (clipScale = 1). */
  clip: number;
  /** Output: STEP_STATUS_BYTES bytes, a buffer other than `loss`. */
  status: GPUBuffer;
}

/**
 * status ← { sumSquares = Σ g², norm = sqrt(sumSquares), clipScale = min(1, clip/(norm+1e-6)) (1 when
 * clip = 0 or skipping), skip = loss, norm or any element non-finite }. Two deterministic passes: one
 * dispatch per gradient, then one single-workgroup dispatch.
 */
export function gradNorm(device: GPUDevice, target: PassTarget, params: GradNormParams): void {
  const { grads, loss, lossOffset, clip, status } = params;
  if (!(clip >= 0) || !Number.isFinite(clip)) throw new Error(`clip must be finite and ≥ 0, got ${clip}`);
  requireInt('lossOffset', lossOffset, 0);
  if (lossOffset % 4 !== 0) throw new Error(`lossOffset must be a multiple of 4, got ${lossOffset}`);
  requireBytes('loss', loss, lossOffset + 4);
  requireBytes('status', status, STEP_STATUS_BYTES);
  if (loss === status) throw new Error('gradNorm: loss and status must be different buffers');

  const blocks = grads.map(({ buffer, count }, i) => {
    requireInt(`grads[${i}].count`, count, 0);
    requireBytes(`grads[${i}]`, buffer, count * 4);
    return ceilDiv(count, GRAD_NORM_BLOCK);
  });
  const numPartials = blocks.reduce((a, b) => a + b, 0);
  const partialsKernel = getKernel(device, partialsSpec);
  const finishKernel = getKernel(device, finishSpec);
  const partials = scratchBuffer(device, 'gradNorm.partials', numPartials * 8);

  withComputePass(target, 'gradNorm', (pass) => {
    let offset = 0;
    grads.forEach(({ buffer, count }, i) => {
      if (count === 0) return;
      pass.setPipeline(partialsKernel.pipeline);
      pass.setBindGroup(
        0,
        bindBuffers(device, partialsKernel, {
          0: uniformBuffer(device, 'gradNorm.partials.params', [u32(count), u32(offset), u32(0), u32(0), f32(0)]),
          1: buffer,
          2: partials,
        }),
      );
      dispatchLinear(pass, blocks[i]);
      offset += blocks[i];
    });
    pass.setPipeline(finishKernel.pipeline);
    pass.setBindGroup(
      0,
      bindBuffers(device, finishKernel, {
        0: uniformBuffer(device, 'gradNorm.finish.params', [
          u32(0),
          u32(0),
          u32(numPartials),
          u32(lossOffset / 4),
          f32(clip),
        ]),
        2: partials,
        3: loss,
        4: status,
      }),
    );
    pass.dispatchWorkgroups(1);
  });
}
