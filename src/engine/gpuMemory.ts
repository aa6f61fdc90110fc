/**
 * GPU memory in use, as the engine sees it (the studio's worker, the benchmarks): every buffer created on
 * any GPUDevice of this thread (ORT's included — ORT and the engine share one device) and not yet destroyed. WebGPU offers no query of the
 * driver's own figure, so this counts what the studio and ONNX Runtime asked for. Installed once, before
 * the first device exists.
 */
let liveBytes = 0;
/** The most `liveBytes` has been since install or resetGpuPeak (as PyTorch's max_memory_allocated). */
let peakBytes = 0;
const sizes = new WeakMap<GPUBuffer, number>();
let installed = false;

export function trackGpuMemory(): void {
  if (installed || typeof GPUDevice === 'undefined') return;
  installed = true;
  const create = GPUDevice.prototype.createBuffer;
  GPUDevice.prototype.createBuffer = function createBuffer(this: GPUDevice, descriptor: GPUBufferDescriptor): GPUBuffer {
    const buffer = create.call(this, descriptor);
    sizes.set(buffer, descriptor.size);
    liveBytes += descriptor.size;
    peakBytes = Math.max(peakBytes, liveBytes);
    return buffer;
  };
  const destroy = GPUBuffer.prototype.destroy;
  GPUBuffer.prototype.destroy = function destroyBuffer(this: GPUBuffer): undefined {
    const size = sizes.get(this);
    if (size !== undefined) {
      liveBytes -= size;
      sizes.delete(this);
    }
    return destroy.call(this);
  };
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
