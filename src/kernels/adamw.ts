import code from './adamw.wgsl?raw';
import stepStatusWgsl from './stepStatus.wgsl?raw';
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
import { STEP_STATUS_BYTES } from './gradNorm.ts';

const spec: KernelSpec = {
  name: 'adamw.main',
  code: stepStatusWgsl + '\n' + code,
  entryPoint: 'main',
  bindings: [
    [0, 'uniform'],
    [1, 'read'],
    [2, 'read'],
    [3, 'read_write'],
    [4, 'read_write'],
    [5, 'read_write'],
  ],
};

export interface AdamwParams {
  /** f32 [count] parameters, updated in place. */
  param: GPUBuffer;
  /** f32 [count] gradient (multiplied by the status' clipScale). */
  grad: GPUBuffer;
  /** f32 [count] first and second moments, updated in place (zeros before step 1). */
  m: GPUBuffer;
  v: GPUBuffer;
  /** Step status from `gradNorm` (clipScale, skip). */
  status: GPUBuffer;
  count: number;
  /** The scheduled learning rate lr_t of this step. */
  lr: number;
  /** Step number t = 1, 2, … (for the bias corrections 1 − β^t). */
  step: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

/** Defaults of docs/ENGINE.md §5. */
export const ADAMW_DEFAULTS = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 } as const;

/** One AdamW step (PyTorch's rule) of one parameter tensor; a skip status leaves everything unchanged. */
export function adamw(device: GPUDevice, target: PassTarget, params: AdamwParams): void {
  const { param, grad, m, v, status, count, lr, step } = params;
  const beta1 = params.beta1 ?? ADAMW_DEFAULTS.beta1;
  const beta2 = params.beta2 ?? ADAMW_DEFAULTS.beta2;
  const eps = params.eps ?? ADAMW_DEFAULTS.eps;
  const weightDecay = params.weightDecay ?? ADAMW_DEFAULTS.weightDecay;
  requireInt('count', count, 0);
  requireInt('step', step, 1);
  if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1)) throw new Error('betas must be in [0, 1)');
  if (count === 0) return;
  requireBytes('param', param, count * 4);
  requireBytes('grad', grad, count * 4);
  requireBytes('m', m, count * 4);
  requireBytes('v', v, count * 4);
  requireBytes('status', status, STEP_STATUS_BYTES);
  const kernel = getKernel(device, spec);
  const uniforms = uniformBuffer(device, 'adamw.params', [
    u32(count),
    f32(lr),
    f32(beta1),
    f32(1 - beta1),
    f32(beta2),
    f32(1 - beta2),
    f32(eps),
    f32(weightDecay),
    f32(1 - Math.pow(beta1, step)),
    f32(1 - Math.pow(beta2, step)),
  ]);
  const bindGroup = bindBuffers(device, kernel, { 0: uniforms, 1: status, 2: grad, 3: param, 4: m, 5: v });
  withComputePass(target, 'adamw', (pass) => {
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(0, bindGroup);
    dispatchLinear(pass, ceilDiv(count, 256));
  });
}
