/**
 * onnxruntime-web on WebGPU, set up once per worker/process: the one module that imports it. Sessions and
 * tensors are made here (createSession, gpuTensor, hostTensor); the rest of the engine sees ORT's types only.
 * ORT creates the GPUDevice; the engine then takes that same device (`ort.env.webgpu.device`) for its own
 * kernels, so activations and gradients pass between ORT and the kernels as GPU buffers (docs/TESTING.md).
 */
import * as ort from 'onnxruntime-web/webgpu';
import { GpuError, PackageError } from '../errors.ts';
import { encodeOnnxModel } from '../formats/onnx.ts';
import { ORT_CACHE, setMemoryKind, withMemoryKind } from './gpuMemory.ts';

export type Session = ort.InferenceSession;
export type OrtTensor = ort.Tensor;
export type ValueMetadata = ort.InferenceSession.ValueMetadata;

/** A tensor over a GPU buffer of ours (no copy); `dispose` runs when ORT or the caller disposes it. */
export function gpuTensor(buffer: GPUBuffer, dims: readonly number[], dataType: 'float32' | 'int32' = 'float32', dispose?: () => void): OrtTensor {
  return ort.Tensor.fromGpuBuffer(buffer, { dataType, dims, dispose });
}

/** A tensor of host memory (ids and masks of the int64 graphs, small inputs). */
export function hostTensor(dataType: 'float32', data: Float32Array, dims: readonly number[]): OrtTensor;
export function hostTensor(dataType: 'int32', data: Int32Array, dims: readonly number[]): OrtTensor;
export function hostTensor(dataType: 'int64', data: BigInt64Array, dims: readonly number[]): OrtTensor;
export function hostTensor(dataType: 'float32' | 'int32' | 'int64', data: Float32Array | Int32Array | BigInt64Array, dims: readonly number[]): OrtTensor {
  return new ort.Tensor(dataType, data, dims);
}

let configured = false;

function configure(): void {
  if (configured) return;
  configured = true;
  ort.env.logLevel = 'error';
  // One thread: the engine's work is on the GPU, and threads need cross-origin isolation in the browser.
  ort.env.wasm.numThreads = 1;
}

/**
 * How onnxruntime-web's WebGPU provider keeps the storage buffers a run frees (its `storageBufferCacheMode`):
 * 'bucket' (ORT's default) keeps up to a number of them per size class for later runs, memory the process holds
 * between runs; 'lazyRelease' destroys them at the end of each run; 'simple' keeps them for requests of the same
 * size. 'disabled' is not offered: in onnxruntime-web 1.30 it destroys buffers a pending submit still uses.
 * Peak GPU memory on SwiftShader (default model, vjp plain, batch 8; bench:train --ort-cache): bucket 174 MB,
 * simple 149 MB, lazyRelease 133 MB. With lazyRelease the vjp's recorded replay is refused (ORT's replay binds bind
 * groups made before the recorded run: frozenVjp.ts falls back to ORT replaying its capture), so it costs the
 * recorded replay's speed; its cost in time on a real GPU is not measured yet: the engine keeps ORT's default.
 * (docs/BENCHMARKS.md "Peak GPU memory by kind".)
 */
export type OrtBufferCache = 'bucket' | 'lazyRelease' | 'simple';
export const ORT_BUFFER_CACHES: readonly OrtBufferCache[] = ['bucket', 'lazyRelease', 'simple'];
let bufferCache: OrtBufferCache = 'bucket';

/** The buffer cache of sessions created from now on; set it before the first (ORT's WebGPU context may keep its first). */
export function setOrtBufferCache(mode: OrtBufferCache): void {
  bufferCache = mode;
}

/** ORT's WebGPU execution provider, with the buffer cache set by setOrtBufferCache. */
export function webgpuProvider(): 'webgpu' | ort.InferenceSession.WebGpuExecutionProviderOption {
  return bufferCache === 'bucket' ? 'webgpu' : { name: 'webgpu', storageBufferCacheMode: bufferCache };
}

/** The first bytes of a serialized ONNX ModelProto: field 1 (ir_version), a varint. */
function looksLikeOnnx(bytes: Uint8Array): boolean {
  return bytes.byteLength > 16 && bytes[0] === 0x08;
}

export interface SessionOptions {
  /**
   * Keep outputs on the GPU (as `tensor.gpuBuffer`) instead of copying them back: all of them (true) or
   * those named (the others come back to the CPU).
   */
  gpuOutputs?: boolean | string[];
  /** Graph capture (ORT records the run and replays it) with these symbolic dimensions fixed (frozenVjp.ts). */
  capture?: Record<string, number>;
  /** The files the graph's external tensors name (a package's weights file: src/formats/sharedWeights.ts). */
  externalData?: readonly ExternalData[];
  /** The session's name in the GPU memory table (gpuMemory.ts), e.g. `vision`; default: the file's name in `where`. */
  label?: string;
  /**
   * Run on ORT's second WebGPU context: the same device (buffers pass to and from the other sessions as usual),
   * shared by every session opened with this option, whose buffers a run frees are destroyed at the end of that
   * run ('lazyRelease'), and which goes, with everything it holds, when the last of its sessions is released. For
   * big sessions run seldom and released for training — the vision graph, whose run buffers would otherwise stay in
   * the main context's cache for good (747 MB at Florence-2-base size, docs/BENCHMARKS.md), and the generation
   * graphs, whose weights and run buffers a release on the main context leaves in that cache (40 MB of the default
   * model's training peak after captioning 16 images). ORT keys its contexts by device: one such context.
   */
  releaseEachRun?: boolean;
}

/** An external data file by the name the graph gives it (TensorProto.external_data location). */
export interface ExternalData {
  path: string;
  data: Uint8Array;
}

/** Creates a WebGPU inference session and checks that the graph has the tensors the manifest names. */
export async function createSession(
  bytes: Uint8Array,
  where: string,
  expected: { inputs: string[]; outputs: string[] },
  options: SessionOptions = {},
): Promise<Session> {
  configure();
  if (!looksLikeOnnx(bytes)) {
    throw new PackageError('file is not an ONNX model', where, 'Re-export the package; the file may be damaged or be another file renamed.');
  }
  if (typeof navigator === 'undefined' || !('gpu' in navigator)) {
    throw new GpuError('WebGPU is not available here', 'navigator.gpu', 'Use Chrome or Edge 113+ (or Node with the webgpu package).');
  }
  let session: Session;
  const label = options.label ?? where.split('/').pop()!;
  /** The buffers ORT created (or took from its cache) for this session's weights. */
  const weights: GPUBuffer[] = [];
  // The second context is given the device, which the main context (made by the device holder) creates.
  const provider = options.releaseEachRun
    ? { name: 'webgpu' as const, device: await holdOrtDevice().then(() => ortDevice()), storageBufferCacheMode: 'lazyRelease' as const }
    : webgpuProvider();
  try {
    session = await withMemoryKind(`ort weights: ${label}`, () => ort.InferenceSession.create(bytes, {
      executionProviders: [provider],
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
      ...(options.gpuOutputs === true ? { preferredOutputLocation: 'gpu-buffer' as const } : {}),
      ...(Array.isArray(options.gpuOutputs)
        ? { preferredOutputLocation: Object.fromEntries(options.gpuOutputs.map((name) => [name, 'gpu-buffer' as const])) }
        : {}),
      ...(options.capture ? { enableGraphCapture: true, freeDimensionOverrides: options.capture } : {}),
      ...(options.externalData ? { externalData: options.externalData } : {}),
    }), weights);
  } catch (e) {
    throw new PackageError(`ONNX Runtime cannot load the graph: ${(e as Error).message}`, where,
      'Re-export the package with tools/; the graph may be damaged or use an operator ONNX Runtime Web lacks.');
  }
  accountMemory(session, label, weights, options.capture !== undefined);
  await holdOrtDevice();
  try {
    checkGraphNames(where, expected, { inputs: session.inputNames, outputs: session.outputNames });
  } catch (e) {
    await session.release();
    throw e;
  }
  return session;
}

/** Throws a PackageError naming each expected input or output the graph lacks. */
export function checkGraphNames(where: string, expected: { inputs: string[]; outputs: string[] }, graph: { inputs: readonly string[]; outputs: readonly string[] }): void {
  const missing = [
    ...expected.inputs.filter((n) => !graph.inputs.includes(n)).map((n) => `input "${n}"`),
    ...expected.outputs.filter((n) => !graph.outputs.includes(n)).map((n) => `output "${n}"`),
  ];
  if (missing.length > 0) {
    throw new PackageError(
      `the graph has no ${missing.join(', ')} named in manifest.json (it has inputs ${graph.inputs.join(', ')}; outputs ${graph.outputs.join(', ')})`,
      where, 'Fix the names under "files" in manifest.json, or re-export the package.');
  }
}

/**
 * Gives the session's GPU buffers their kinds (gpuMemory.ts) as ORT uses them: those a run creates or takes from
 * ORT's cache are `ort run: <label>` while it runs; after it, a captured session's stay `ort captured graph` (its
 * replays bind them), outputs ORT allocated are `ort outputs` until disposed, and the rest are back in ORT's cache
 * of freed buffers (`ort cache: <label>`: kept, not destroyed, for later runs of any session). After release,
 * the weights and the captured graph's buffers ORT did not destroy are in its cache too.
 */
function accountMemory(session: Session, label: string, weights: GPUBuffer[], captured: boolean): void {
  const cache = `${ORT_CACHE}: ${label}`;
  const kept: GPUBuffer[] = [];
  const run = session.run.bind(session) as (...args: unknown[]) => Promise<ort.InferenceSession.ReturnType>;
  session.run = (async (...args: unknown[]) => {
    const used: GPUBuffer[] = [];
    let outputs: ort.InferenceSession.ReturnType | undefined;
    try {
      outputs = await withMemoryKind(`ort run: ${label}`, () => run(...args), used);
      return outputs;
    } finally {
      if (captured) kept.push(...used);
      setMemoryKind(used, captured ? `ort captured graph: ${label}` : cache);
      for (const tensor of Object.values(outputs ?? {})) {
        if (tensor.location !== 'gpu-buffer' || !used.includes(tensor.gpuBuffer as GPUBuffer)) continue;
        const buffer = tensor.gpuBuffer as GPUBuffer;
        setMemoryKind([buffer], `ort outputs: ${label}`);
        const dispose = tensor.dispose.bind(tensor);
        tensor.dispose = () => {
          dispose();
          setMemoryKind([buffer], cache);
        };
      }
    }
  }) as Session['run'];
  const release = session.release.bind(session);
  session.release = async () => {
    await release();
    setMemoryKind([...weights, ...kept], cache);
    weights.length = kept.length = 0;
  };
}

let deviceHolder: Promise<Session> | undefined;

/**
 * Keeps ORT's GPUDevice alive for the life of the process: onnxruntime-web 1.30 destroys its device when its last
 * WebGPU session is released, and the engine's buffers (cached features, adapter, optimizer state) live on that
 * device. Training releases the vision session once the features are cached and opens the vjp's sessions only
 * later (and generation's only when captioning), so the vision session is often the last one open; without a
 * holder its release destroys the device, and the next session runs on a new one that refuses the engine's
 * buffers ("Invalid Buffer … cannot be used with [Device]"). The holder is one never-released session of a
 * one-node graph (Identity on one float), made after the first real session, which set the device up — or before
 * it, when that session goes on ORT's second context (SessionOptions.releaseEachRun) and so needs the device first.
 */
function holdOrtDevice(): Promise<Session> {
  deviceHolder ??= withMemoryKind('ort weights: device holder', () => ort.InferenceSession.create(encodeOnnxModel({
    irVersion: 8, opsets: [{ domain: '', version: 17 }], producerName: 'adalink-studio', producerVersion: '', metadata: {},
    graph: {
      name: 'hold the device', valueInfo: [], initializers: [],
      inputs: [{ name: 'x', dataType: 'float32', shape: [1] }], outputs: [{ name: 'y', dataType: 'float32', shape: [1] }],
      nodes: [{ opType: 'Identity', domain: '', name: 'identity', inputs: ['x'], outputs: ['y'], attributes: {} }],
    },
  }), { executionProviders: [webgpuProvider()], logSeverityLevel: 3 }));
  return deviceHolder;
}

/** ORT's GPUDevice, available once a WebGPU session exists. */
export async function ortDevice(): Promise<GPUDevice> {
  // Typed as a promise; after the first session it resolves to the device that session runs on.
  const device = (await ort.env.webgpu.device) as GPUDevice | undefined;
  if (!device) throw new GpuError('ONNX Runtime has no WebGPU device yet', 'ort.env.webgpu.device', 'Create a WebGPU session first.');
  return device;
}
