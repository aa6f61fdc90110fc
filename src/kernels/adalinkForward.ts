import { adalinkDown } from './adalinkDown.ts';
import { adalinkUp } from './adalinkUp.ts';
import { withComputePass, type PassTarget } from './common.ts';

export interface AdalinkForwardParams {
  /** f32 [N, d] input embeddings of one modality (N = B·T flattened tokens). */
  E: GPUBuffer;
  /** f32 [d, r]. */
  Wdown: GPUBuffer;
  /** f32 [r, d]. */
  Wup: GPUBuffer;
  /** f32 [N, r] output: H = dropout(E · Wdown), kept for the backward pass. */
  H: GPUBuffer;
  /** f32 [N, d] output: Ẽ = E + H · Wup (a buffer other than E). */
  adapted: GPUBuffer;
  N: number;
  d: number;
  r: number;
  /** Dropout probability in [0, 1); 0 disables dropout. */
  p: number;
  /** Dropout key of this step and modality (`dropoutKey(seed, step, modality)`); ignored when p = 0. */
  key: number;
}

/**
 * AdaLink forward of one modality: H = dropout(E·Wdown), Ẽ = E + H·Wup. Encodes two dispatches in one pass
 * (three when adalinkDown cuts d into k slices).
 */
export function adalinkForward(device: GPUDevice, target: PassTarget, params: AdalinkForwardParams): void {
  const { E, Wdown, Wup, H, adapted, N, d, r, p, key } = params;
  withComputePass(target, 'adalinkForward', (pass) => {
    adalinkDown(device, pass, { E, Wdown, H, N, d, r, p, key });
    adalinkUp(device, pass, { E, H, Wup, adapted, N, d, r });
  });
}
