/**
 * GPU memory in use, as the engine sees it (the studio's worker, the benchmarks): every buffer created on
 * any GPUDevice of this thread (ORT's included — ORT and the engine share one device) and not yet destroyed. WebGPU offers no query of the
 * driver's own figure, so this counts what the studio and ONNX Runtime asked for. Installed once, before
 * the first device exists (src/engine/webgpuHooks.ts).
 */
import { hookForever } from './webgpuHooks.ts';

let liveBytes = 0;
/** The most `liveBytes` has been since install or resetGpuPeak (as PyTorch's max_memory_allocated). */
let peakBytes = 0;
const sizes = new WeakMap<GPUBuffer, number>();

export function trackGpuMemory(): void {
  if (typeof GPUDevice === 'undefined') return;
  hookForever('gpu memory: createBuffer', GPUDevice.prototype, 'createBuffer', (create) => function createBuffer(this: unknown, ...args: unknown[]) {
    const descriptor = args[0] as GPUBufferDescriptor;
    const buffer = create.apply(this, args) as GPUBuffer;
    sizes.set(buffer, descriptor.size);
    liveBytes += descriptor.size;
    peakBytes = Math.max(peakBytes, liveBytes);
    return buffer;
  });
  hookForever('gpu memory: destroy', GPUBuffer.prototype, 'destroy', (destroy) => function destroyBuffer(this: unknown, ...args: unknown[]) {
    const size = sizes.get(this as GPUBuffer);
    if (size !== undefined) {
      liveBytes -= size;
      sizes.delete(this as GPUBuffer);
    }
    return destroy.apply(this, args);
  });
}

export function gpuBytesInUse(): number {
  return liveBytes;
}

/** The most bytes in use at any moment since trackGpuMemory or the last resetGpuPeak. */
export function gpuPeakBytes(): number {
  return peakBytes;
}

export function resetGpuPeak(): void {
  peakBytes = liveBytes;
}
