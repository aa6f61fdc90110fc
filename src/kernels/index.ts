/**
 * WGSL kernels of the training engine (docs/ENGINE.md §3–5). Every kernel wrapper has the shape
 * `kernel(device, target, params): void` and encodes into `target` — a GPUCommandEncoder (the wrapper
 * opens and ends its own compute pass) or a GPUComputePassEncoder owned by the caller. Nothing is
 * submitted. All tensors are f32 (ids and masks u32), row-major, tokens flattened to N = B·T rows.
 */
export { embeddingLookup, type EmbeddingLookupParams } from './embeddingLookup.ts';
export { adalinkDown, type AdalinkDownParams } from './adalinkDown.ts';
export { adalinkUp, type AdalinkUpParams } from './adalinkUp.ts';
export { adalinkForward, type AdalinkForwardParams } from './adalinkForward.ts';
export {
  adalinkBackward,
  reductionChunks,
  MAX_REDUCTION_CHUNKS,
  MIN_CHUNK_ROWS,
  type AdalinkBackwardParams,
} from './adalinkBackward.ts';
export {
  gradNorm,
  GRAD_NORM_BLOCK,
  STEP_STATUS_BYTES,
  type GradientRef,
  type GradNormParams,
} from './gradNorm.ts';
export { adamw, ADAMW_DEFAULTS, type AdamwParams } from './adamw.ts';
export { scaleRange, type ScaleRangeParams } from './scaleRange.ts';
export { adafactor, adafactorBeta2, ADAFACTOR_BLOCK, type AdafactorParams } from './adafactor.ts';
export * from './random.ts';
export type { PassTarget } from './common.ts';
