/**
 * Florence-2 from the files transformers.js publishes (e2e/fixtures/hub/tiny-florence-test: forward graphs only,
 * tools/make_tiny_hub_florence.py), downloaded from a local stand-in of the Hub (e2e/support/hubServer.ts) by the
 * studio's hubSource.ts in headless Chromium (real WebGPU over SwiftShader), through the engine harness's
 * worker: the studio derives the gradient graph itself (src/autodiff/), and its loss and gradients equal PyTorch
 * autograd's (float64, src/autodiff/testing/florence-vjp-reference.json) to 1e-5; 50 AdamW steps equal the
 * PyTorch reference trainer's losses (e2e/fixtures/reference-florence-adamw.json) to 1e-4. The studio's own
 * Hub flow (the Model tab, evaluation, the adapter download) is e2e/studio.hub.test.ts.
 */
import { readFileSync } from 'node:fs';
import { expect, test, type Browser, type Page } from '@playwright/test';
import type { ViteDevServer } from 'vite';
import { fixtureConfig, type ReferenceFixture } from '../src/engine/testing/tinySetup.ts';
import type { VjpBatch } from './pages/harnessWorker.ts';
import { HOOK_TIMEOUT, launchChromium, openPage, startServer } from './support/browser.ts';
import { startHubServer, type HubServer } from './support/hubServer.ts';
import { recordedRequests } from './support/requests.ts';

const REPO = 'adalink-test/tiny-florence-test';

const reference: VjpBatch & { float64: Record<'loss' | 'grad_image_embeds' | 'grad_text_embeds', number | number[]> } =
  JSON.parse(readFileSync('src/autodiff/testing/florence-vjp-reference.json', 'utf8'));
const training: ReferenceFixture = JSON.parse(readFileSync('e2e/fixtures/reference-florence-adamw.json', 'utf8'));

let server: ViteDevServer;
let hub: HubServer;
let browser: Browser;
let page: Page;
let own: string;

test.beforeAll(async () => {
  test.setTimeout(HOOK_TIMEOUT);
  const started = await startServer();
  server = started.server;
  own = new URL(started.url).origin;
  hub = await startHubServer();
  browser = await launchChromium();
  page = await openPage(browser, `${started.url}/e2e/pages/engine.html`);
  await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready');
  const model = await page.evaluate(([endpoint, repo]) => window.engineHarness.loadHubModel(endpoint, repo), [hub.url, REPO] as const);
  expect(model.id).toBe(`hub:${REPO}@${hub.sha(REPO)}`);
  expect(model.files.filter((f) => f.endsWith('.onnx')).sort()).toEqual(
    ['onnx/decoder_model.onnx', 'onnx/embed_tokens.onnx', 'onnx/encoder_model.onnx', 'onnx/vision_encoder.onnx']);
  // The GPU-input form: every op of the derived vjp runs on WebGPU, and the step's replay can be recorded.
  expect(model.vjpInputs).toEqual({ text_mask: 'float32', decoder_input_ids: 'int32', labels: 'int32' });
});

// The engine, in its worker, asks the page's origin, and the Hub stand-in only for that repository's files.
test.afterEach(() => {
  if (!page) return;
  // Vite's dev client also opens a websocket to the page's host.
  const ownHost = new URL(own).host;
  const elsewhere = recordedRequests(page).filter((u) => {
    const { protocol, origin, host } = new URL(u);
    return origin !== own && !['data:', 'blob:'].includes(protocol) && !(protocol === 'ws:' && host === ownHost);
  });
  const allowed = (u: string) => u.startsWith(`${hub.url}/api/models/${REPO}/revision/`) || u.startsWith(`${hub.url}/${REPO}/resolve/${hub.sha(REPO)}/`);
  expect(elsewhere.filter((u) => !allowed(u))).toEqual([]);
});

test.afterAll(async () => {
  await browser?.close();
  await hub?.close();
  await server?.close();
});

/** max |a − b| / max |b|. */
function relative(actual: number[], expected: number[]): number {
  const scale = Math.max(...expected.map(Math.abs));
  return Math.max(...expected.map((e, i) => Math.abs(actual[i] - e))) / scale;
}

test('the derived vjp: loss and gradients within 1e-5 relative of PyTorch autograd', async () => {
  const got = await page.evaluate(([batch]) => window.engineHarness.vjp(batch), [{ shape: reference.shape, inputs: reference.inputs }] as const);
  const errors = Object.fromEntries((['loss', 'grad_image_embeds', 'grad_text_embeds'] as const)
    .map((name) => [name, relative(got[name], [reference.float64[name]].flat())]));
  console.log(`Chromium, derived vjp vs PyTorch float64: ${JSON.stringify(errors)}`);
  for (const error of Object.values(errors)) expect(error).toBeLessThan(1e-5);
});

test('50 AdamW steps: per-step losses within 1e-4 relative of the PyTorch reference trainer', async () => {
  const dataset = await page.evaluate(() => window.engineHarness.loadDataset('/e2e/fixtures/tiny-captions'));
  expect(dataset.skipped).toEqual([]);
  const outcome = await page.evaluate(([c]) => window.engineHarness.train(c), [fixtureConfig(training)] as const);
  expect(outcome.error).toBeUndefined();
  const losses = outcome.reports.map((r) => r.loss);
  expect(losses).toHaveLength(training.losses.length);
  const worst = Math.max(...losses.map((l, i) => Math.abs(l - training.losses[i]) / Math.abs(training.losses[i])));
  console.log(`Chromium, Florence-2 from the Hub layout (vjp steps ${JSON.stringify(outcome.vjpSteps)}): loss ${losses[0].toFixed(5)} → ${losses.at(-1)!.toFixed(5)}, max relative error vs PyTorch ${worst.toExponential(2)}`);
  expect(worst).toBeLessThan(1e-4);
  expect(outcome.vjpSteps.recorded).toBeGreaterThan(losses.length / 2);
});
