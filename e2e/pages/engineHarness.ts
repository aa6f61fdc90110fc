/**
 * A page for the browser tests: the engine in a worker of its own (harnessWorker.ts), driven from
 * Playwright through `window.engineHarness`. No UI.
 */
import * as Comlink from 'comlink';
import type { TrainConfig } from '../../src/config.ts';
import type { StepReport } from '../../src/shared/engineApi.ts';
import type { HarnessApi, VjpBatch } from './harnessWorker.ts';

const engine = Comlink.wrap<HarnessApi>(new Worker(new URL('./harnessWorker.ts', import.meta.url), { type: 'module', name: 'engine-harness' }));

const harness = {
  webgpu: () => 'gpu' in navigator,
  loadModel: (url: string) => engine.loadModel(url),
  loadHubModel: (endpoint: string, repo: string) => engine.loadHubModel(endpoint, repo),
  vjp: (batch: VjpBatch) => engine.vjp(batch),
  loadDataset: (url: string) => engine.loadDataset(url),
  async train(config: Partial<TrainConfig>) {
    const reports: StepReport[] = [];
    const outcome = await engine.train(config, Comlink.proxy((r: StepReport) => { reports.push(r); }));
    return { ...outcome, reports };
  },
};

declare global {
  interface Window {
    engineHarness: typeof harness;
  }
}
window.engineHarness = harness;
document.getElementById('status')!.textContent = 'ready';
