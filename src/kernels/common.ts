/**
 * Plumbing shared by the kernel wrappers: pipeline cache (one pipeline per device and kernel entry point),
 * explicit bind-group layouts, small uniform buffers, per-device scratch buffers, and dispatch helpers that
 * respect WebGPU's 65 535-workgroups-per-dimension limit.
 *
 * Every wrapper has the shape `kernel(device, target, params): void`: it encodes its dispatches into
 * `target` (a command encoder — the wrapper then opens and ends one compute pass of its own — or a compute
 * pass that the caller owns) and submits nothing. Dispatches inside one compute pass run in order and see
 * each other's writes, so a wrapper's passes, and successive wrappers in the same pass, are correctly ordered.
 */

export type PassTarget = GPUCommandEncoder | GPUComputePassEncoder;

/** How a binding is declared in WGSL: `var<uniform>`, `var<storage, read>` or `var<storage, read_write>`. */
export type BindingKind = 'uniform' | 'read' | 'read_write';

export interface KernelSpec {
  /** Unique name of this pipeline (file name + entry point); the cache key. */
  readonly name: string;
  /** Complete WGSL source (snippets already concatenated). */
  readonly code: string;
  readonly entryPoint: string;
  /** Every binding of group 0 that the entry point uses, in binding order. */
  readonly bindings: ReadonlyArray<readonly [binding: number, kind: BindingKind]>;
}

export interface Kernel {
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
}

const kernelCache = new WeakMap<GPUDevice, Map<string, Kernel>>();
const moduleCache = new WeakMap<GPUDevice, Map<string, GPUShaderModule>>();
const layoutCache = new WeakMap<GPUDevice, Map<string, GPUBindGroupLayout>>();

function cached<V extends object>(
  cache: WeakMap<GPUDevice, Map<string, V>>,
  device: GPUDevice,
  key: string,
  make: () => V,
): V {
  let map = cache.get(device);
  if (!map) {
    map = new Map();
    cache.set(device, map);
  }
  let value = map.get(key);
  if (!value) {
    value = make();
    map.set(key, value);
  }
  return value;
}

function layoutEntry(binding: number, kind: BindingKind): GPUBindGroupLayoutEntry {
  const type: GPUBufferBindingType =
    kind === 'uniform' ? 'uniform' : kind === 'read' ? 'read-only-storage' : 'storage';
  return { binding, visibility: GPUShaderStage.COMPUTE, buffer: { type } };
}

/** The compiled pipeline of `spec` on `device`, created on first use and cached for the device's life. */
export function getKernel(device: GPUDevice, spec: KernelSpec): Kernel {
  return cached(kernelCache, device, spec.name, () => {
    const module = cached(moduleCache, device, spec.code, () =>
      device.createShaderModule({ label: spec.name.split('.')[0], code: spec.code }),
    );
    // Kernels with the same bindings share one layout object, so their bind groups are interchangeable.
    const layoutKey = spec.bindings.map(([binding, kind]) => `${binding}:${kind}`).join(',');
    const layout = cached(layoutCache, device, layoutKey, () =>
      device.createBindGroupLayout({
        label: layoutKey,
        entries: spec.bindings.map(([binding, kind]) => layoutEntry(binding, kind)),
      }),
    );
    const pipeline = device.createComputePipeline({
      label: spec.name,
      layout: device.createPipelineLayout({ label: spec.name, bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: spec.entryPoint },
    });
    return { pipeline, layout };
  });
}

/** A bind group for `kernel` binding whole buffers: `{ 0: paramsBuffer, 1: inputBuffer, … }`. */
export function bindBuffers(
  device: GPUDevice,
  kernel: Kernel,
  buffers: Readonly<Record<number, GPUBuffer>>,
  label?: string,
): GPUBindGroup {
  return device.createBindGroup({
    label,
    layout: kernel.layout,
    entries: Object.entries(buffers).map(([binding, buffer]) => ({
      binding: Number(binding),
      resource: { buffer },
    })),
  });
}

export type UniformField = readonly ['u32' | 'f32', number];
export const u32 = (value: number): UniformField => ['u32', value];
export const f32 = (value: number): UniformField => ['f32', value];

/**
 * A fresh uniform buffer holding `fields` as consecutive 4-byte scalars (the layout of a WGSL struct of
 * u32/f32 members), padded to a multiple of 16 bytes. One per encoded call, so the values are fixed when
 * the wrapper encodes, whatever else goes into the same command buffer; released by GC.
 *
 * Filled with `queue.writeBuffer`, which lands on the queue before any command buffer submitted later —
 * hence before the one being encoded. Not `mappedAtCreation`: on Dawn over a discrete GPU (H100, Vulkan)
 * every mapped-at-creation buffer cost about 0.5 ms of queue time, against a few µs for writeBuffer.
 */
export function uniformBuffer(device: GPUDevice, label: string, fields: readonly UniformField[]): GPUBuffer {
  const size = Math.max(16, Math.ceil((fields.length * 4) / 16) * 16);
  const data = new ArrayBuffer(size);
  const asU32 = new Uint32Array(data);
  const asF32 = new Float32Array(data);
  fields.forEach(([kind, value], i) => {
    if (kind === 'u32') {
      if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
        throw new Error(`${label}: uniform field ${i} = ${value} is not a u32`);
      }
      asU32[i] = value;
    } else {
      asF32[i] = value;
    }
  });
  const buffer = device.createBuffer({ label, size, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(buffer, 0, data);
  return buffer;
}

const scratchCache = new WeakMap<GPUDevice, Map<string, GPUBuffer>>();

/**
 * A per-device scratch storage buffer for `tag` of at least `bytes` bytes (at least 16), grown when a
 * larger one is asked for. Only for data that lives within one wrapper call: the next call with the same
 * tag overwrites it (safe, because the dispatches of a queue run in encoding order). A replaced smaller
 * buffer is left to GC, not destroyed, since a not-yet-submitted command buffer may still use it.
 */
export function scratchBuffer(device: GPUDevice, tag: string, bytes: number): GPUBuffer {
  let buffers = scratchCache.get(device);
  if (!buffers) {
    buffers = new Map();
    scratchCache.set(device, buffers);
  }
  const need = Math.max(16, Math.ceil(bytes / 16) * 16);
  const existing = buffers.get(tag);
  if (existing && existing.size >= need) return existing;
  const buffer = device.createBuffer({
    label: `scratch:${tag}`,
    size: need,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
  });
  buffers.set(tag, buffer);
  return buffer;
}

function isCommandEncoder(target: PassTarget): target is GPUCommandEncoder {
  return typeof (target as GPUCommandEncoder).beginComputePass === 'function';
}

/** Runs `encode` inside a compute pass: the caller's, or a new one on the command encoder (then ended). */
export function withComputePass(
  target: PassTarget,
  label: string,
  encode: (pass: GPUComputePassEncoder) => void,
): void {
  if (isCommandEncoder(target)) {
    const pass = target.beginComputePass({ label });
    encode(pass);
    pass.end();
  } else {
    encode(target);
  }
}

export const MAX_WORKGROUPS_PER_DIMENSION = 65535;

/**
 * Dispatches `groups` workgroups as a (x, y) grid with x ≤ 65535. Shaders recover the linear index as
 * `wid.x + wid.y * nwg.x` and return when it is ≥ groups (the grid may hold up to x−1 extra groups).
 */
export function dispatchLinear(pass: GPUComputePassEncoder, groups: number): void {
  if (groups <= 0) return;
  const x = Math.min(groups, MAX_WORKGROUPS_PER_DIMENSION);
  const y = Math.ceil(groups / x);
  if (y > MAX_WORKGROUPS_PER_DIMENSION) throw new Error(`dispatch of ${groups} workgroups is too large`);
  pass.dispatchWorkgroups(x, y);
}

/**
 * Dispatches a grid of `colTiles` × `rowTiles` tiles; row tiles fold into (y, z) with y ≤ 65535. Shaders
 * recover the row tile as `wid.y + wid.z * nwg.y` and return when it is past the last row.
 */
export function dispatchTiles(pass: GPUComputePassEncoder, colTiles: number, rowTiles: number): void {
  if (colTiles <= 0 || rowTiles <= 0) return;
  if (colTiles > MAX_WORKGROUPS_PER_DIMENSION) throw new Error(`${colTiles} column tiles is too many`);
  const y = Math.min(rowTiles, MAX_WORKGROUPS_PER_DIMENSION);
  const z = Math.ceil(rowTiles / y);
  pass.dispatchWorkgroups(colTiles, y, z);
}

export function ceilDiv(a: number, b: number): number {
  return Math.ceil(a / b);
}

/** Throws unless `value` is an integer in [min, max]. */
export function requireInt(name: string, value: number, min: number, max = 0xffffffff): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

/** Throws unless `buffer` holds at least `bytes` bytes. */
export function requireBytes(name: string, buffer: GPUBuffer, bytes: number): void {
  if (buffer.size < bytes) {
    throw new Error(`${name}: buffer of ${buffer.size} bytes is too small, needs ${bytes}`);
  }
}
