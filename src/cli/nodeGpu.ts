/**
 * WebGPU for Node (the `webgpu` package, Dawn), set up so that onnxruntime-web's WebGPU provider runs on
 * it (docs/TESTING.md): `navigator.gpu` is Dawn's, and `GPUQueue.writeBuffer` copies views of a
 * SharedArrayBuffer (ORT's wasm memory) into a plain buffer, which Dawn's bindings require.
 *
 * Used by the command-line trainer, the Node tests and the benchmarks; the browser needs none of it.
 */
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { hookForever } from '../engine/webgpuHooks.ts';
import { GpuError } from '../errors.ts';

let installed = false;

/**
 * The GPU object (Dawn's instance) and every adapter stay reachable for the life of the process: dawn.node
 * does not keep them alive from a device, and once V8 collects them its event pump works on freed memory
 * and the process dies at random (SIGSEGV, futex errors). See src/kernels/README.md.
 */
const keepAlive: unknown[] = [];

export function installNodeWebGpu(): void {
  if (installed) return;
  installed = true;
  if (!process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES) {
    // No GPU driver named: fall back to SwiftShader, which Debian's chromium package ships.
    process.env.VK_ICD_FILENAMES = '/usr/lib/chromium/vk_swiftshader_icd.json';
  }
  // Dawn's Vulkan loader looks for a runtime directory and complains on stderr when there is none.
  process.env.XDG_RUNTIME_DIR ??= tmpdir();
  const require = createRequire(import.meta.url);
  const { create, globals } = require('webgpu') as { create: (flags: string[]) => GPU; globals: object };
  Object.assign(globalThis, globals);
  const gpu = create([]);
  const requestAdapter = gpu.requestAdapter.bind(gpu);
  gpu.requestAdapter = async (options?: GPURequestAdapterOptions) => {
    const adapter = await requestAdapter(options);
    keepAlive.push(adapter);
    return adapter;
  };
  keepAlive.push(gpu);
  // hardwareConcurrency as the browser's: how many images the feature cache decodes at once.
  Object.defineProperty(globalThis, 'navigator', { value: { gpu, hardwareConcurrency: availableParallelism() }, configurable: true, writable: true });

  // Dawn's bindings refuse views of a SharedArrayBuffer (ORT's wasm memory): copy them into a plain buffer.
  hookForever('node: writeBuffer from shared memory', GPUQueue.prototype, 'writeBuffer', (writeBuffer) => function (this: unknown, ...args: unknown[]) {
    const [buffer, offset, data, dataOffset, size] = args as [GPUBuffer, number, ArrayBufferView & { BYTES_PER_ELEMENT?: number }, number | undefined, number | undefined];
    if (ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer) {
      const copy = new Uint8Array(data.byteLength);
      copy.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      const unit = data.BYTES_PER_ELEMENT ?? 1;
      return writeBuffer.call(this, buffer, offset, copy, (dataOffset ?? 0) * unit, size === undefined ? undefined : size * unit);
    }
    return writeBuffer.apply(this, args);
  });
}

/** Fails early, with what to install, when Dawn finds no adapter. */
export async function checkNodeAdapter(): Promise<GPUAdapterInfo> {
  installNodeWebGpu();
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) {
    throw new GpuError('no WebGPU adapter found', 'Node (Dawn)',
      'Install libvulkan1 and a Vulkan driver; without a GPU, install Debian\'s chromium for SwiftShader and set VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json.');
  }
  return adapter.info;
}
