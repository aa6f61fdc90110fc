/**
 * A WebGPU device for tests and command-line tools in Node: Dawn (the `webgpu` package), on SwiftShader's
 * Vulkan ICD when VK_ICD_FILENAMES is not set. One device per process, created on first use.
 */
import { existsSync } from 'node:fs';

export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

let devicePromise: Promise<GPUDevice> | undefined;

/** Errors that reached the device's `uncapturederror` event (tests assert that this stays empty). */
export const uncapturedErrors: string[] = [];

/** The process-wide test device (Dawn), with the adapter's maximum buffer and workgroup-storage limits. */
export function getTestDevice(): Promise<GPUDevice> {
  devicePromise ??= createDevice();
  return devicePromise;
}

/**
 * The GPU object (Dawn instance) and adapter must stay reachable for as long as the device is used:
 * dawn.node does not keep them alive from the device, and once V8 collects the GPU object the instance is
 * freed while dawn.node's event pump still calls InstanceBase::ProcessEvents() on it — the process then
 * dies at random (SIGSEGV, "The futex facility returned an unexpected error code", pthread assertions),
 * typically after some allocation-heavy JavaScript. Holding them here for the life of the process avoids it.
 */
const keepAlive: unknown[] = [];

async function createDevice(): Promise<GPUDevice> {
  // The Vulkan loader reads this when Dawn creates its instance, i.e. on the first requestAdapter.
  if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) {
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  }
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  const gpu = create([]);
  keepAlive.push(gpu);
  const adapter = await gpu.requestAdapter();
  if (!adapter) {
    throw new Error(
      'no WebGPU adapter: install chromium (for SwiftShader\'s Vulkan ICD) and libvulkan1, and set ' +
        `VK_ICD_FILENAMES=${SWIFTSHADER_ICD} (now: ${process.env.VK_ICD_FILENAMES ?? 'unset'})`,
    );
  }
  keepAlive.push(adapter);
  const { limits } = adapter;
  const device = await adapter.requestDevice({
    label: 'test device',
    requiredLimits: {
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
    },
  });
  device.addEventListener('uncapturederror', (event) => {
    const message = (event as GPUUncapturedErrorEvent).error.message;
    uncapturedErrors.push(message);
    console.error(`WebGPU uncaptured error: ${message}`);
  });
  return device;
}
