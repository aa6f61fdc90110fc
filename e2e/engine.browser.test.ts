/**
 * The engine in headless Chromium (real WebGPU over SwiftShader), through the real worker and bridge:
 * 50 steps match the PyTorch reference for AdamW and Adafactor, and with dropout on, the browser's
 * losses equal the Node (Dawn) engine's for the same seed.
 */
import { expect, test, type Browser, type Page } from '@playwright/test';
import type { ViteDevServer } from 'vite';
import { withDefaults, type TrainConfig } from '../src/config.ts';
import { fixtureConfig, loadTiny, readFixture } from '../src/engine/testing/tinySetup.ts';
import { Trainer } from '../src/engine/trainer.ts';
import { HOOK_TIMEOUT, launchChromium, openPage, startServer } from './support/browser.ts';
import { expectOnlyOwnOrigin } from './support/requests.ts';

let server: ViteDevServer;
let browser: Browser;
let page: Page;

test.beforeAll(async () => {
  test.setTimeout(HOOK_TIMEOUT);
  const started = await startServer();
  server = started.server;
  browser = await launchChromium();
  page = await openPage(browser, `${started.url}/e2e/pages/engine.html`);
  await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready');
  expect(await page.evaluate(() => window.engineHarness.webgpu())).toBe(true);
  await page.evaluate(() => window.engineHarness.loadModel('/models/tiny-pali-test'));
  const dataset = await page.evaluate(() => window.engineHarness.loadDataset('/e2e/fixtures/tiny-captions'));
  expect(dataset.skipped).toEqual([]);
});

// The engine, in its worker, asks no origin but the page's for anything.
test.afterEach(() => {
  if (page) expectOnlyOwnOrigin(page);
});

test.afterAll(async () => {
  await browser?.close();
  await server?.close();
});

function trainInBrowser(config: TrainConfig) {
  return page.evaluate(([c]) => window.engineHarness.train(c), [config] as const);
}

for (const optimizer of ['adamw', 'adafactor'] as const) test.describe(`Chromium, ${optimizer}`, () => {
  test('50 steps: per-step losses within 1e-4 relative of the PyTorch reference', async () => {
    const fixture = readFixture(optimizer);
    const outcome = await trainInBrowser(fixtureConfig(fixture));
    expect(outcome.error).toBeUndefined();
    const losses = outcome.reports.map((r) => r.loss);
    expect(losses).toHaveLength(fixture.losses.length);
    const worst = Math.max(...losses.map((l, i) => Math.abs(l - fixture.losses[i]) / Math.abs(fixture.losses[i])));
    console.log(`Chromium ${optimizer} (vjp steps ${JSON.stringify(outcome.vjpSteps)}): loss ${losses[0].toFixed(5)} → ${losses.at(-1)!.toFixed(5)}, max relative error vs PyTorch ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-4);
    // The worker replays its recording of the vjp (engine/frozenVjp.ts) for most steps.
    expect(outcome.vjpSteps!.recorded).toBeGreaterThan(losses.length / 2);
  });
});

test.describe('Chromium and Node, dropout on', () => {
  test('give the same losses for the same seed', async () => {
    const config = withDefaults({ ...fixtureConfig(readFixture('adafactor')), dropout: 0.1, steps: 12 });
    const browserLosses = (await trainInBrowser(config)).reports.map((r) => r.loss);
    const tiny = await loadTiny();
    const trainer = new Trainer(tiny.pkg, tiny.features, tiny.examples, config);
    const nodeLosses: number[] = [];
    await trainer.run(config.steps, { onStep: (r) => nodeLosses.push(r.loss) });
    await trainer.destroy();
    console.log(`dropout 0.1: Chromium ${browserLosses.slice(0, 3).map((l) => l.toFixed(6))}…, Node ${nodeLosses.slice(0, 3).map((l) => l.toFixed(6))}…`);
    // The same WGSL, the same ORT wasm, the same fixed-order reductions: bit for bit the same numbers.
    expect(browserLosses).toEqual(nodeLosses);
    // Dropout does act: the same run without it differs.
    const noDropout = (await trainInBrowser({ ...config, dropout: 0 })).reports.map((r) => r.loss);
    expect(noDropout[1]).not.toBeCloseTo(browserLosses[1], 6);
  });
});
