import code from './adafactor.wgsl?raw';
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
import { STEP_STATUS_BYTES } from './gradNorm.ts';

const source = stepStatusWgsl + '\n' + code;
const bindings = [
  [0, 'uniform'],
  [1, 'read'],
  [2, 'read'],
  [3, 'read_write'],
  [4, 'read_write'],
  [5, 'read_write'],
  [6, 'read_write'],
] as const;

const ENTRY_POINTS = ['rowFactor', 'colFactor', 'rowMean', 'updateSquares', 'updateRms', 'applyUpdate'] as const;
type EntryPoint = (typeof ENTRY_POINTS)[number];
const spec = (entryPoint: EntryPoint): KernelSpec => ({ name: `adafactor.${entryPoint}`, code: source, entryPoint, bindings });

/** Elements per workgroup of the Σu² pass. */
export const ADAFACTOR_BLOCK = 4096;

export interface AdafactorParams {
  /** f32 [rows, cols] parameter matrix, updated in place. */
  param: GPUBuffer;
  /** f32 [rows, cols] gradient (multiplied by the status' clipScale). */
  grad: GPUBuffer;
  /** f32 [rows] and f32 [cols] factored second moments, updated in place (zeros before step 1). */
  row: GPUBuffer;
  col: GPUBuffer;
  /** Step status from `gradNorm` (clipScale, skip). */
  status: GPUBuffer;
  rows: number;
  cols: number;
  /** The scheduled learning rate lr_t of this step. */
  lr: number;
  /** Step number t = 1, 2, … (β2t = 1 − t^(−0.8)). */
  step: number;
  weightDecay?: number;
}

/** β2t = 1 − t^(−0.8) and 1 − β2t, in float64. */
export function adafactorBeta2(step: number): { beta2t: number; oneMinusBeta2t: number } {
  const oneMinusBeta2t = Math.pow(step, -0.8);
  return { beta2t: 1 - oneMinusBeta2t, oneMinusBeta2t };
}

/**
 * One Adafactor step (factored second moments, update clipping at rms 1, no momentum) of one R×C matrix;
 * a skip status leaves the parameter and the state unchanged. Encodes six dispatches.
 */
export function adafactor(device: GPUDevice, target: PassTarget, params: AdafactorParams): void {
  const { param, grad, row, col, status, rows: R, cols: C, lr, step } = params;
  const weightDecay = params.weightDecay ?? 0;
  requireInt('rows', R, 1);
  requireInt('cols', C, 1, 65535 * 16);
  requireInt('rows·cols', R * C, 1, 0xffffffff);
  requireInt('step', step, 1);
  requireBytes('param', param, R * C * 4);
  requireBytes('grad', grad, R * C * 4);
  requireBytes('row', row, R * 4);
  requireBytes('col', col, C * 4);
  requireBytes('status', status, STEP_STATUS_BYTES);

  const { beta2t, oneMinusBeta2t } = adafactorBeta2(step);
  const numPartials = ceilDiv(R * C, ADAFACTOR_BLOCK);
  const scratch = scratchBuffer(device, 'adafactor.scratch', (4 + numPartials) * 4);
  const uniforms = uniformBuffer(device, 'adafactor.params', [
    u32(R),
    u32(C),
    f32(beta2t),
    f32(oneMinusBeta2t),
    f32(lr),
    f32(weightDecay),
    u32(numPartials),
  ]);
  const kernel = (entryPoint: EntryPoint) => getKernel(device, spec(entryPoint));
  // All six pipelines have identical explicit layouts, so one bind group serves them all.
  const bindGroup = bindBuffers(device, kernel('rowFactor'), {
    0: uniforms,
    1: status,
    2: grad,
    3: param,
    4: row,
    5: col,
    6: scratch,
  });

  withComputePass(target, 'adafactor', (pass) => {
    const run = (entry: EntryPoint, dispatch: () => void) => {
      pass.setPipeline(kernel(entry).pipeline);
      pass.setBindGroup(0, bindGroup);
      dispatch();
    };
    run('rowFactor', () => dispatchLinear(pass, R));
    run('colFactor', () => pass.dispatchWorkgroups(ceilDiv(C, 16)));
    run('rowMean', () => pass.dispatchWorkgroups(1));
    run('updateSquares', () => dispatchLinear(pass, numPartials));
    run('updateRms', () => pass.dispatchWorkgroups(1));
    run('applyUpdate', () => dispatchLinear(pass, ceilDiv(R * C, 256)));
  });
}
