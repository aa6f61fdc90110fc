/** Small GPU-buffer helpers the engine shares: create from data, read back. */

/** Storage, and copies both ways (a function: in Node the WebGPU globals exist only once Dawn is set up). */
export const storageUsage = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** A storage buffer holding `data` (at least 16 bytes, as some backends dislike tiny bindings). */
export function storageBuffer(device: GPUDevice, label: string, data: Float32Array | Uint32Array | number): GPUBuffer {
  const bytes = typeof data === 'number' ? data : data.byteLength;
  const buffer = device.createBuffer({ label, size: Math.max(16, Math.ceil(bytes / 4) * 4), usage: storageUsage(), mappedAtCreation: typeof data !== 'number' });
  if (typeof data !== 'number') {
    new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    buffer.unmap();
  }
  return buffer;
}

/**
 * Resolves once the GPU has finished everything submitted so far: a probe buffer written by a copy submitted
 * after that work can be mapped only once the queue has reached it (queue.onSubmittedWorkDone hung once in Dawn
 * for Node). Mapping a buffer that no submission uses does not wait at all: Dawn maps it at once.
 */
export async function gpuIdle(device: GPUDevice): Promise<void> {
  const source = device.createBuffer({ size: 4, usage: GPUBufferUsage.COPY_SRC });
  const probe = device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const encoder = device.createCommandEncoder({ label: 'gpuIdle probe' });
  encoder.copyBufferToBuffer(source, 0, probe, 0, 4);
  device.queue.submit([encoder.finish()]);
  await probe.mapAsync(GPUMapMode.READ);
  probe.destroy();
  source.destroy();
}

/** Copies `floats` f32 values from the start of `buffer` back to the CPU. */
export async function readFloats(device: GPUDevice, buffer: GPUBuffer, floats: number): Promise<Float32Array> {
  const staging = device.createBuffer({ size: Math.max(4, floats * 4), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(buffer, 0, staging, 0, floats * 4);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const values = new Float32Array(staging.getMappedRange().slice(0, floats * 4));
  staging.unmap();
  staging.destroy();
  return values;
}

/**
 * Copies `rows` rows of `rowFloats` f32 values between buffers whose rows are `from.rowFloats` and `to.rowFloats`
 * long (a row's tail past rowFloats is left alone): one copy when both are rowFloats, else one per row.
 * Offsets are in floats.
 */
export function copyRows(
  encoder: GPUCommandEncoder, rows: number, rowFloats: number,
  from: { buffer: GPUBuffer; offset: number; rowFloats: number }, to: { buffer: GPUBuffer; offset: number; rowFloats: number },
): void {
  if (from.rowFloats === rowFloats && to.rowFloats === rowFloats) {
    encoder.copyBufferToBuffer(from.buffer, from.offset * 4, to.buffer, to.offset * 4, rows * rowFloats * 4);
    return;
  }
  for (let row = 0; row < rows; row++) {
    encoder.copyBufferToBuffer(from.buffer, (from.offset + row * from.rowFloats) * 4, to.buffer, (to.offset + row * to.rowFloats) * 4, rowFloats * 4);
  }
}

/**
 * Buffers reused across steps by byte size: batches of the same shape get the same buffers. Each is padded
 * to a multiple of 16 bytes, as onnxruntime-web pads its own: its WebGPU kernels may read a tensor in
 * 16-byte vectors, and on a buffer of, say, 7 floats they read the last elements wrong (seen with Add, Equal
 * and Where on SwiftShader; src/engine/hubPackage.test.ts).
 */
export class BufferPool {
  private free = new Map<string, GPUBuffer>();

  constructor(private device: GPUDevice) {}

  get(label: string, bytes: number): GPUBuffer {
    const key = `${label}:${bytes}`;
    let buffer = this.free.get(key);
    if (!buffer) {
      buffer = this.device.createBuffer({ label, size: Math.max(16, Math.ceil(bytes / 16) * 16), usage: storageUsage() });
      this.free.set(key, buffer);
    }
    return buffer;
  }

  destroy(): void {
    for (const buffer of this.free.values()) buffer.destroy();
    this.free.clear();
  }
}
