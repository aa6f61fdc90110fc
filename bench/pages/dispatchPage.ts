/**
 * bench/dispatchCost.ts's measurement in the page's own thread in Chromium (bench:dispatch -- --chrome): the
 * same dispatches through Chrome's WebGPU, whose every call crosses to the GPU process (Dawn's wire), on the same
 * adapter as Node's Dawn. The runner calls `window.dispatchBench.run(count, repeat)`.
 */
import { measureDispatchCost, type DispatchCost } from '../dispatchVariants.ts';

declare global {
  interface Window {
    dispatchBench: { adapter(): Promise<string>; run(count: number, repeat: number): Promise<DispatchCost[]> };
  }
}

let device: GPUDevice | undefined;
let adapterName = '';

async function open(): Promise<GPUDevice> {
  if (device) return device;
  const adapter = await navigator.gpu?.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('this Chromium offers no WebGPU adapter');
  adapterName = `${adapter.info.vendor} ${adapter.info.architecture} ${adapter.info.description}`.replace(/\s+/g, ' ').trim();
  const timestamps = adapter.features.has('timestamp-query');
  device = await adapter.requestDevice({ requiredFeatures: timestamps ? ['timestamp-query'] : [] });
  return device;
}

window.dispatchBench = {
  async adapter() {
    await open();
    return adapterName;
  },
  async run(count, repeat) {
    return measureDispatchCost(await open(), count, repeat);
  },
};
document.getElementById('status')!.textContent = 'ready';
