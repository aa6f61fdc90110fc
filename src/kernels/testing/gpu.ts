/** Small helpers for kernel tests: upload, read back, and submit with validation errors turned into throws. */

const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** A storage buffer sized exactly to `data` (a size-0 buffer for empty data). */
export function upload(device: GPUDevice, data: Float32Array | Uint32Array, label?: string): GPUBuffer {
  if (data.byteLength === 0) return device.createBuffer({ label, size: 0, usage: STORAGE() });
  const buffer = device.createBuffer({ label, size: data.byteLength, usage: STORAGE(), mappedAtCreation: true });
  const view = data instanceof Float32Array ? new Float32Array(buffer.getMappedRange()) : new Uint32Array(buffer.getMappedRange());
  view.set(data);
  buffer.unmap();
  return buffer;
}

/** A zero-filled storage buffer of `bytes` bytes. */
export function zeros(device: GPUDevice, bytes: number, label?: string): GPUBuffer {
  return device.createBuffer({ label, size: bytes, usage: STORAGE() });
}

/** A storage buffer filled with a u32/f32 pattern that no kernel writes (to spot untouched outputs). */
export function poisoned(device: GPUDevice, floats: number, label?: string): GPUBuffer {
  return upload(device, new Float32Array(floats).fill(-12345.678), label);
}

/** Encodes with `encode`, submits, waits, and throws on any validation / out-of-memory / internal error. */
export async function run(device: GPUDevice, encode: (encoder: GPUCommandEncoder) => void): Promise<void> {
  device.pushErrorScope('internal');
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  const encoder = device.createCommandEncoder();
  encode(encoder);
  device.queue.submit([encoder.finish()]);
  const errors = await Promise.all([device.popErrorScope(), device.popErrorScope(), device.popErrorScope()]);
  await device.queue.onSubmittedWorkDone();
  const messages = errors.filter((e): e is GPUError => e !== null).map((e) => e.message);
  if (messages.length) throw new Error(`WebGPU errors:\n${messages.join('\n')}`);
}

/** Copies `bytes` bytes (default: the whole buffer) back to the CPU. */
export async function readBytes(device: GPUDevice, buffer: GPUBuffer, bytes = buffer.size): Promise<ArrayBuffer> {
  if (bytes === 0) return new ArrayBuffer(0);
  const staging = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(buffer, 0, staging, 0, bytes);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const copy = staging.getMappedRange().slice(0);
  staging.unmap();
  staging.destroy();
  return copy;
}

export async function readF32(device: GPUDevice, buffer: GPUBuffer, count?: number): Promise<Float32Array> {
  return new Float32Array(await readBytes(device, buffer, count === undefined ? buffer.size : count * 4));
}

export async function readU32(device: GPUDevice, buffer: GPUBuffer, count?: number): Promise<Uint32Array> {
  return new Uint32Array(await readBytes(device, buffer, count === undefined ? buffer.size : count * 4));
}

/** The step status written by gradNorm. */
export interface StepStatus {
  sumSquares: number;
  norm: number;
  clipScale: number;
  skip: number;
}

export async function readStatus(device: GPUDevice, status: GPUBuffer): Promise<StepStatus> {
  const bytes = await readBytes(device, status, 16);
  const f = new Float32Array(bytes);
  const u = new Uint32Array(bytes);
  return { sumSquares: f[0], norm: f[1], clipScale: f[2], skip: u[3] };
}
