/**
 * What the kernel benchmarks share (bench/kernelRoofline.ts, bench/kernelTiles.ts): a Dawn device with the
 * adapter's largest buffers and GPU timestamps, buffers filled with pseudo-random values on the GPU, the two
 * ceilings measured on the device (a plain copy kernel's bandwidth, f32 fma throughput), and GPU time per
 * call of a kernel wrapper.
 *
 * Timing: `reps` calls are encoded into one compute pass whose start and end are GPU timestamps (the
 * `timestamp-query` feature; wall clock from submit to idle where the adapter lacks it); time per call =
 * pass time / reps, median of `repeats` passes after a warm-up pass. Calls rotate over input sets large
 * enough together (≥ 256 MiB) that each call reads its inputs from memory, not from the 50 MB L2.
 * Calls in one pass run one after the other where they share a buffer (Dawn puts a barrier between such
 * dispatches); calls on different input sets with nothing in common may overlap on the GPU.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { gpuIdle } from '../src/engine/gpuBuffers.ts';

const keepAlive: unknown[] = [];

export interface BenchDevice {
  device: GPUDevice;
  /** adapter info, features and the limits that matter here, for the report. */
  machine: {
    gpu: string;
    adapterInfo: Record<string, string>;
    features: string[];
    maxStorageBufferBindingSize: number;
    timestamps: boolean;
    cpus: string;
    node: string;
  };
}

/** The device: Dawn in Node (SwiftShader when no Vulkan driver is named, for a local smoke run). */
export async function benchDevice(): Promise<BenchDevice> {
  if (!process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES) {
    process.env.VK_ICD_FILENAMES = '/usr/lib/chromium/vk_swiftshader_icd.json';
  }
  process.env.XDG_RUNTIME_DIR ??= tmpdir();
  const require = createRequire(import.meta.url);
  const { create, globals } = require('webgpu') as { create: (flags: string[]) => GPU; globals: object };
  Object.assign(globalThis, globals);
  // Timestamps in plain nanoseconds (Dawn rounds them to 100 µs by default, as browsers do).
  const gpu = create(['disable-dawn-features=timestamp_quantization']);
  keepAlive.push(gpu);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('no WebGPU adapter (set VK_DRIVER_FILES to the NVIDIA ICD, or install chromium for SwiftShader)');
  keepAlive.push(adapter);
  const timestamps = adapter.features.has('timestamp-query');
  const device = await adapter.requestDevice({
    requiredFeatures: timestamps ? ['timestamp-query'] : [],
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  });
  device.addEventListener('uncapturederror', (e) => {
    console.error(`WebGPU error: ${(e as GPUUncapturedErrorEvent).error.message}`);
    process.exitCode = 1;
  });
  const info = adapter.info;
  const adapterInfo: Record<string, string> = {};
  for (const k of ['vendor', 'architecture', 'device', 'description'] as const) adapterInfo[k] = String(info[k] ?? '');
  return {
    device,
    machine: {
      gpu: `${info.vendor} ${info.architecture} ${info.description}`.replace(/\s+/g, ' ').trim(),
      adapterInfo,
      features: [...adapter.features].map(String).sort(),
      maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
      timestamps,
      cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}`,
      node: process.version,
    },
  };
}

const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

function pipeline(device: GPUDevice, code: string): GPUComputePipeline {
  return device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } });
}

/** x × y workgroups for `groups` (x ≤ 65535). */
function grid(groups: number): [number, number] {
  const x = Math.min(groups, 65535);
  return [x, Math.ceil(groups / x)];
}

const FILL = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> seed: vec4u;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= arrayLength(&out)) { return; }
  var x = i * 0x9e3779b9u + seed.x;
  x ^= x >> 16u; x *= 0x7feb352du; x ^= x >> 15u; x *= 0x846ca68bu; x ^= x >> 16u;
  out[i] = (f32(x >> 8u) / 16777216.0 * 2.0 - 1.0) * bitcast<f32>(seed.y);
}`;

let seedCounter = 1;

/** A storage buffer of `floats` pseudo-random values in (−scale, scale), filled on the GPU. */
export function randomBuffer(device: GPUDevice, floats: number, scale = 1): GPUBuffer {
  const buffer = device.createBuffer({ size: Math.max(16, floats * 4), usage: STORAGE() });
  const p = cached(device, 'fill', FILL);
  const seed = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const data = new ArrayBuffer(16);
  new Uint32Array(data)[0] = seedCounter++ * 0x85ebca6b;
  new Float32Array(data)[1] = scale;
  device.queue.writeBuffer(seed, 0, data);
  const e = device.createCommandEncoder();
  const pass = e.beginComputePass();
  pass.setPipeline(p);
  pass.setBindGroup(0, device.createBindGroup({ layout: p.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer } }, { binding: 1, resource: { buffer: seed } }] }));
  pass.dispatchWorkgroups(...grid(Math.ceil(floats / 256)));
  pass.end();
  device.queue.submit([e.finish()]);
  return buffer;
}

export function uintBuffer(device: GPUDevice, data: Uint32Array<ArrayBuffer>): GPUBuffer {
  const buffer = device.createBuffer({ size: Math.max(16, data.byteLength), usage: STORAGE() });
  device.queue.writeBuffer(buffer, 0, data);
  return buffer;
}

export function emptyBuffer(device: GPUDevice, bytes: number): GPUBuffer {
  return device.createBuffer({ size: Math.max(16, bytes), usage: STORAGE() });
}

const pipelines = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();
function cached(device: GPUDevice, key: string, code: string): GPUComputePipeline {
  let m = pipelines.get(device);
  if (!m) pipelines.set(device, (m = new Map()));
  let p = m.get(key);
  if (!p) m.set(key, (p = pipeline(device, code)));
  return p;
}

export interface Timing {
  /** Median GPU time per call, ms. */
  ms: number;
  /** Per-call times of each measured pass, ms. */
  samples: number[];
  reps: number;
  /** The SM clock nvidia-smi reported while the measured passes ran (MHz: lowest, highest), where it can be asked. */
  smClockMHz: [number, number] | null;
}

/**
 * GPU time per call of `encode` (which encodes one call into the pass; `i` counts calls, for rotating
 * inputs). Passes of about `targetMs`.
 *
 * The GPU is kept busy from the warm-up to the last measured pass: a GPU left idle between short passes lowers
 * its clock (on the H200, nvidia-smi showed the SM clock fall from 1980 to 435–1125 MHz between the roofline's
 * passes, "GPU idle" its reason), and the kernels were then timed at a quarter of the clock at which the copy
 * and fma ceilings were measured. So the warm-up runs the same calls for at least `warmMs`, and the measured
 * passes follow it in the same submit, each with its own pair of timestamps.
 */
export async function timeCalls(
  device: GPUDevice,
  encode: (pass: GPUComputePassEncoder, i: number) => void,
  { targetMs = 25, repeats = 5, maxReps = 2000, warmMs = 300 } = {},
): Promise<Timing> {
  const timestamps = device.features.has('timestamp-query');
  let call = 0;
  /** `passes` passes of `reps` calls in one submit; the GPU time of each measured one (ms; wall clock without timestamps). */
  const run = async (reps: number, passes: number, measured: number): Promise<number[]> => {
    const querySet = timestamps ? device.createQuerySet({ type: 'timestamp', count: 2 * measured }) : undefined;
    const e = device.createCommandEncoder();
    for (let p = 0; p < passes; p++) {
      const q = p - (passes - measured);
      const pass = e.beginComputePass(querySet && q >= 0 ? { timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * q, endOfPassWriteIndex: 2 * q + 1 } } : {});
      for (let i = 0; i < reps; i++) encode(pass, call++);
      pass.end();
    }
    let read: GPUBuffer | undefined;
    let resolve: GPUBuffer | undefined;
    if (querySet) {
      resolve = device.createBuffer({ size: 16 * measured, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
      read = device.createBuffer({ size: 16 * measured, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      e.resolveQuerySet(querySet, 0, 2 * measured, resolve, 0);
      e.copyBufferToBuffer(resolve, 0, read, 0, 16 * measured);
    }
    const cb = e.finish();
    await gpuIdle(device);
    const t0 = performance.now();
    device.queue.submit([cb]);
    if (!read) {
      await device.queue.onSubmittedWorkDone();
      return [(performance.now() - t0) / passes];
    }
    await read.mapAsync(GPUMapMode.READ);
    const stamps = new BigUint64Array(read.getMappedRange().slice(0));
    for (const b of [read, resolve!]) b.destroy();
    querySet!.destroy();
    return Array.from({ length: measured }, (_, q) => Number(stamps[2 * q + 1] - stamps[2 * q]) / 1e6);
  };
  await run(2, 1, 1); // pipelines, first touches
  const [estimate] = await run(4, 1, 1);
  const perCall = Math.max(estimate / 4, 1e-4);
  const reps = Math.max(3, Math.min(maxReps, Math.round(targetMs / perCall)));
  const warmPasses = Math.ceil(warmMs / (reps * perCall));
  const clock = smClock();
  const samples = (await run(reps, warmPasses + repeats, repeats)).map((ms) => ms / reps);
  const sorted = [...samples].sort((a, b) => a - b);
  return { ms: sorted[Math.floor(sorted.length / 2)], samples, reps, smClockMHz: clock.stop() };
}

/**
 * The SM clock sampled by nvidia-smi every 50 ms until stop() (NVIDIA machines; null elsewhere). The bench waits
 * on the GPU meanwhile, so the samples cover the measured passes.
 */
function smClock(): { stop(): [number, number] | null } {
  let child: ChildProcess;
  try {
    child = spawn('nvidia-smi', ['--query-gpu=clocks.sm', '--format=csv,noheader,nounits', '-lms', '50'], { stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return { stop: () => null };
  }
  const mhz: number[] = [];
  child.on('error', () => undefined);
  child.stdout?.on('data', (chunk: Buffer) => mhz.push(...chunk.toString().split('\n').map(Number).filter((x) => x > 0)));
  return {
    stop() {
      child.kill();
      return mhz.length ? [Math.min(...mhz), Math.max(...mhz)] : null;
    },
  };
}

const COPY = /* wgsl */ `
@group(0) @binding(0) var<storage, read> src: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4f>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i < arrayLength(&dst)) { dst[i] = src[i]; }
}`;

const COPY4 = /* wgsl */ `
@group(0) @binding(0) var<storage, read> src: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4f>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let base = (wid.x + wid.y * nwg.x) * 1024u + lid;
  let n = arrayLength(&dst);
  var v: array<vec4f, 4>;
  for (var k = 0u; k < 4u; k++) { if (base + k * 256u < n) { v[k] = src[base + k * 256u]; } }
  for (var k = 0u; k < 4u; k++) { if (base + k * 256u < n) { dst[base + k * 256u] = v[k]; } }
}`;

export interface CopyResult {
  bytes: number;
  /** Bytes read + written per second, GB/s = 1e9 B/s: one vec4 per invocation. */
  kernelGBs: number;
  /** Four vec4s per invocation. */
  kernel4GBs: number;
  /** The reference: the better of the two copy kernels. */
  bestGBs: number;
}

/** Copy bandwidth over `mib` MiB (read + written bytes / time). */
export async function measureCopy(device: GPUDevice, mib = 256): Promise<CopyResult> {
  const bytes = mib * 1024 * 1024;
  const sets = [0, 1].map(() => ({ src: randomBuffer(device, bytes / 4), dst: emptyBuffer(device, bytes) }));
  const run = async (code: string, perGroup: number) => {
    const p = pipeline(device, code);
    const groups = sets.map((s) => device.createBindGroup({ layout: p.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: s.src } }, { binding: 1, resource: { buffer: s.dst } }] }));
    const t = await timeCalls(device, (pass, i) => {
      pass.setPipeline(p);
      pass.setBindGroup(0, groups[i % 2]);
      pass.dispatchWorkgroups(...grid(Math.ceil(bytes / 16 / perGroup)));
    }, { targetMs: 60 });
    return (2 * bytes) / (t.ms * 1e6);
  };
  const kernelGBs = await run(COPY, 256);
  const kernel4GBs = await run(COPY4, 1024);
  for (const s of sets) {
    s.src.destroy();
    s.dst.destroy();
  }
  return { bytes, kernelGBs, kernel4GBs, bestGBs: Math.max(kernelGBs, kernel4GBs) };
}

const FMA = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> out: array<vec4f>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  let m = vec4f(0.99999);
  let c = vec4f(1e-7);
  var a0 = vec4f(f32(i) * 1e-9); var a1 = a0 + 0.1; var a2 = a0 + 0.2; var a3 = a0 + 0.3;
  var a4 = a0 + 0.4; var a5 = a0 + 0.5; var a6 = a0 + 0.6; var a7 = a0 + 0.7;
  for (var k = 0u; k < ITERS; k++) {
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c);
  }
  out[i] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}`;

/** f32 fma throughput, FLOP/s counting an fma as 2: 8 independent vec4 chains per invocation. */
export async function measureFma(device: GPUDevice, groups = 4096, iters = 2048): Promise<number> {
  const p = pipeline(device, `const ITERS = ${iters}u;\n${FMA}`);
  const out = emptyBuffer(device, groups * 256 * 16);
  const group = device.createBindGroup({ layout: p.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: out } }] });
  const t = await timeCalls(device, (pass) => {
    pass.setPipeline(p);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(...grid(groups));
  }, { targetMs: 40 });
  out.destroy();
  return (groups * 256 * iters * 32 * 2) / (t.ms * 1e-3);
}

/** Bytes that must move at least, and FLOP (an fma = 2), of one AdaLink forward / backward call. */
export const forwardBytes = (N: number, d: number, r: number) => 4 * (2 * N * d + N * r + 2 * d * r);
export const backwardBytes = (N: number, d: number, r: number) => 4 * (2 * N * d + N * r + N + 3 * d * r);
export const forwardFlops = (N: number, d: number, r: number) => 4 * N * d * r;
export const backwardFlops = (N: number, d: number, r: number) => 6 * N * d * r;

/** Dropout key of every benchmark call. */
export const KEY = 12345;

/** Input sets for one shape; as many as make ≥ 256 MiB together (at most 16). */
export type InputSet = ReturnType<typeof makeSets>['sets'][number];

export function makeSets(device: GPUDevice, N: number, d: number, r: number) {
  const setBytes = 4 * (3 * N * d + 2 * N * r);
  const count = Math.max(1, Math.min(16, Math.ceil((256 * 2 ** 20) / setBytes)));
  const valid = uintBuffer(device, new Uint32Array(N).fill(1));
  const weights = {
    Wdown: randomBuffer(device, d * r, 1 / Math.sqrt(d)),
    Wup: randomBuffer(device, r * d, 1 / Math.sqrt(r)),
    dWdown: emptyBuffer(device, d * r * 4),
    dWup: emptyBuffer(device, r * d * 4),
  };
  const sets = Array.from({ length: count }, () => ({
    E: randomBuffer(device, N * d),
    G: randomBuffer(device, N * d, 1e-2),
    H: emptyBuffer(device, N * r * 4),
    adapted: emptyBuffer(device, N * d * 4),
    valid,
    ...weights,
  }));
  const destroy = () => {
    for (const s of sets) for (const b of [s.E, s.G, s.H, s.adapted]) b.destroy();
    for (const b of [valid, ...Object.values(weights)]) b.destroy();
  };
  return { sets, destroy };
}

