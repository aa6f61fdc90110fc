/**
 * A page for the browser tests: the real worker and bridge, driven from Playwright through
 * `window.engineHarness`. No UI; the studio's own pages come with the UI issue.
 */
import type { TrainConfig } from '../../src/config.ts';
import type { StepReport } from '../../src/shared/engineApi.ts';
import { EngineBridge } from '../../src/ui/engineBridge.ts';

const bridge = new EngineBridge();

const harness = {
  webgpu: () => 'gpu' in navigator,
  loadModel: (url: string) => bridge.loadModel(url),
  loadDataset: (url: string) => bridge.loadDataset(url),
  async train(config: Partial<TrainConfig>, steps?: number, state?: number[]) {
    const reports: StepReport[] = [];
    const outcome = await bridge.train(config, { steps, state: state && Uint8Array.from(state), onStep: (r) => reports.push(r) });
    return { ...outcome, reports };
  },
  saveState: async () => Array.from(await bridge.saveState()),
  exportAdapter: async () => Array.from(await bridge.exportAdapter()),
};

declare global {
  interface Window {
    engineHarness: typeof harness;
  }
}
window.engineHarness = harness;
document.getElementById('status')!.textContent = 'ready';
