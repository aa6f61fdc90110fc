/**
 * The studio against bad input, in headless Chromium with real WebGPU: every drop zone gets something
 * broken — a model folder without a manifest, a zip with a corrupt PNG, a metadata.jsonl with a broken
 * line, a CSV with quoted commas and a missing column, a JSON that is not COCO, an adapter for another
 * model, a truncated safetensors, a playground "image" that is text — and each time the person reads
 * what is wrong, where and what to do, while what was loaded stays loaded and the studio keeps
 * working (it trains, saves, renames and deletes afterwards). Also: no WebGPU → a page that says what
 * to do. Uses the tiny test package, so it runs in about a minute.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { chromium, expect, test, type Browser, type Page } from '@playwright/test';
import type { ViteDevServer } from 'vite';
import { zipSync } from 'fflate';
import { HOOK_TIMEOUT, launchChromium, startServer } from './support/browser.ts';
import { CHROMIUM } from './support/chromium.ts';
import { expectOnlyOwnOrigin, recordRequests } from './support/requests.ts';
import { alertText, dismissAlerts, file, loadModelFromUrl, openStudio, screenshot, setNumber, tab } from './support/studio.ts';

const TINY = 'e2e/fixtures/tiny-captions';
const pngs = readdirSync(TINY).filter((f) => f.endsWith('.png')).sort();
const png = (name: string) => new Uint8Array(readFileSync(`${TINY}/${name}`));

let server: ViteDevServer;
let url: string;
let browser: Browser;
let page: Page;

test.beforeAll(async () => {
  test.setTimeout(HOOK_TIMEOUT);
  ({ server, url } = await startServer());
  browser = await launchChromium();
  page = await openStudio(browser, url);
});

// Whatever it is given, the studio asks no origin but its own for anything.
test.afterEach(() => {
  if (page) expectOnlyOwnOrigin(page);
});

test.afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function datasetLabel(): Promise<string> {
  return page.getByTestId('dataset-summary').locator('h3').innerText();
}

async function skippedReport(): Promise<string> {
  return page.getByTestId('skipped-report').innerText();
}

test.describe('studio, bad input in every drop zone', () => {
  // Each test goes on with what the ones before loaded: after a failure, the rest of this group does not run.
  test.describe.configure({ mode: 'serial' });

  test('model folder without manifest.json: a readable error, then the tiny package loads by URL', async () => {
    await tab(page, 'Model');
    await page.getByTestId('model-drop-files').setInputFiles([file('notes.txt', 'not a model'), file('weights.onnx', new Uint8Array(64))]);
    const text = await alertText(page);
    expect(text).toMatch(/no manifest\.json here: this is not a model package/);
    expect(text).toMatch(/What to do: Choose the package folder/);
    await dismissAlerts(page);
    await loadModelFromUrl(page, '/models/tiny-pali-test');
    expect(await page.getByTestId('model-card').innerText()).toMatch(/tiny-pali-test/);
  });

  test('a model address on another site: refused with what to do, nothing fetched, the model kept', async () => {
    await tab(page, 'Model');
    await page.getByLabel('Model package URL').fill('https://models.example.com/pali');
    await page.getByRole('button', { name: 'Load from URL' }).click();
    const text = await alertText(page);
    expect(text).toMatch(/loads models only from its own site/);
    expect(text).toMatch(/What to do: Download the package, then drop its folder here/);
    await dismissAlerts(page);
    expect(await page.getByTestId('model-card').innerText()).toMatch(/tiny-pali-test/);
  });

  test('a zip with a corrupt PNG: the image is listed with its reason, the other 31 are used', async () => {
    await tab(page, 'Dataset');
    const files: Record<string, Uint8Array> = { 'metadata.jsonl': new Uint8Array(readFileSync(`${TINY}/metadata.jsonl`)) };
    for (const name of pngs) files[name] = png(name);
    files['0003.png'] = png('0003.png').slice(0, 60); // signature and IHDR, then nothing
    await page.getByTestId('dataset-drop-files').setInputFiles([file('broken-images.zip', zipSync(files))]);
    await page.getByTestId('dataset-summary').waitFor({ timeout: 60_000 });
    expect(await datasetLabel()).toBe('broken-images.zip');
    expect(await page.getByTestId('dataset-images').innerText()).toBe('31');
    expect(await skippedReport()).toMatch(/0003\.png\s+image cannot be decoded/);
    await screenshot(page, 'bad-input-corrupt-png');
  });

  test('a metadata.jsonl with a broken line: that line is listed, the rest is read', async () => {
    const lines = readFileSync(`${TINY}/metadata.jsonl`, 'utf8').trim().split('\n');
    lines[4] = lines[4].slice(0, 25); // cut mid-object
    await page.getByTestId('dataset-drop-files').setInputFiles([file('metadata.jsonl', lines.join('\n')), ...pngs.map((n) => file(n, png(n), 'image/png'))]);
    await expect.poll(datasetLabel, { timeout: 60_000 }).toBe('33 files');
    expect(await page.getByTestId('dataset-images').innerText()).toBe('31');
    expect(await skippedReport()).toMatch(/metadata\.jsonl line 5\s+not valid JSON/);
  });

  test('a CSV with quoted commas and a missing column: the quoted caption is whole, the short row is listed', async () => {
    const csv = 'file_name,text\n0000.png,"a red circle, and a purple one"\n0001.png\n0002.png,"a yellow square ""on top"""\n';
    await page.getByTestId('dataset-drop-files').setInputFiles([file('captions.csv', csv, 'text/csv'), ...['0000.png', '0001.png', '0002.png'].map((n) => file(n, png(n), 'image/png'))]);
    await expect.poll(datasetLabel, { timeout: 60_000 }).toBe('4 files');
    expect(await page.getByTestId('dataset-images').innerText()).toBe('2');
    expect(await page.getByTestId('preview-grid').innerText()).toContain('a red circle, and a purple one');
    expect(await page.getByTestId('preview-grid').innerText()).toContain('a yellow square "on top"');
    expect(await skippedReport()).toMatch(/captions\.csv row 3\s+it has 1 fields, the header 2: a column is missing/);
  });

  test('a JSON that is not COCO: a readable error, and the CSV dataset is still the one in use', async () => {
    await page.getByTestId('dataset-drop-files').setInputFiles([file('annotations.json', '{"hello": "world", "items": [1, 2]}', 'application/json'), file('0000.png', png('0000.png'), 'image/png')]);
    const text = await alertText(page);
    expect(text).toMatch(/COCO/);
    expect(text).toMatch(/What to do:/);
    await screenshot(page, 'bad-input-not-coco');
    expect(await datasetLabel()).toBe('4 files');
    expect(await page.getByTestId('preview-grid').innerText()).toContain('a red circle, and a purple one');
    await dismissAlerts(page);
  });

  test('after the bad input the studio still trains: a short run on the jsonl dataset is saved', async () => {
    // Back to the 31-image dataset (one broken line), no validation split in it: 25 % held out.
    const lines = readFileSync(`${TINY}/metadata.jsonl`, 'utf8').trim().split('\n');
    lines[4] = '{"file_name": ';
    await page.getByTestId('dataset-drop-files').setInputFiles([file('metadata.jsonl', lines.join('\n')), ...pngs.map((n) => file(n, png(n), 'image/png'))]);
    await expect.poll(datasetLabel, { timeout: 60_000 }).toBe('33 files');
    await setNumber(page, 'Held out for validation (%)', 25);
    await expect.poll(() => page.getByTestId('split-summary').innerText()).toMatch(/Training: 23 images.*Validation: 8 images/);
    await setNumber(page, 'Validation images to use (0 = all)', 4);
    await tab(page, 'Train');
    await setNumber(page, 'Rank (image)', 8);
    await setNumber(page, 'Rank (text)', 4);
    await setNumber(page, 'Batch size', 4);
    await setNumber(page, 'Length', 4);
    await setNumber(page, 'Warm-up steps', 0);
    await page.getByLabel('Adapter name').fill('tiny run');
    await page.getByRole('button', { name: 'Start training' }).click();
    await expect.poll(() => page.getByTestId('run-status').innerText(), { timeout: 240_000, intervals: [1000] }).toBe('Done');
    expect(await page.getByTestId('saved-adapter').innerText()).toMatch(/Saved in this browser as tiny run \(task caption, 4 steps\)/);
    await tab(page, 'Adapters');
    await expect.poll(() => page.getByTestId('adapter-row').count()).toBe(1);
  });

  test('an adapter for another model, then a truncated safetensors: readable errors, the list unchanged', async () => {
    await tab(page, 'Adapters');
    const other = new Uint8Array(readFileSync('e2e/fixtures/pali-scenes-default-adapter.safetensors'));
    await page.getByTestId('adapter-drop-files').setInputFiles([file('pali-adapter.safetensors', other)]);
    let text = await alertText(page);
    expect(text).toMatch(/trained for model "pali-scenes-default", the loaded model is "tiny-pali-test"/);
    expect(text).toMatch(/What to do: Load model "pali-scenes-default" first/);
    await dismissAlerts(page);

    // Our own adapter, downloaded, then cut short.
    const download = page.waitForEvent('download');
    await page.getByTestId('adapter-row').getByRole('button', { name: 'Download', exact: true }).click();
    const bytes = readFileSync(await (await download).path());
    await page.getByTestId('adapter-drop-files').setInputFiles([file('tiny-run-cut.safetensors', bytes.subarray(0, Math.floor(bytes.length * 0.6)))]);
    text = await alertText(page);
    expect(text).toMatch(/tiny-run-cut\.safetensors/);
    expect(text).toMatch(/damaged|truncated|ends|beyond|past/i);
    await screenshot(page, 'bad-input-truncated-adapter');
    await dismissAlerts(page);
    expect(await page.getByTestId('adapter-row').count()).toBe(1);

    // The whole file imports.
    await page.getByTestId('adapter-drop-files').setInputFiles([file('tiny-run.safetensors', bytes)]);
    await expect.poll(() => page.getByTestId('adapter-row').count()).toBe(2);
  });

  test('rename and delete an adapter', async () => {
    const first = page.getByTestId('adapter-row').first();
    await first.getByRole('button', { name: 'Rename' }).click();
    await first.getByLabel('Adapter name').fill('renamed adapter');
    await first.getByLabel('Task').fill('shapes');
    await first.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.getByTestId('panel-adapters').innerText()).toMatch(/Task: shapes[\s\S]*renamed adapter/);
    page.once('dialog', (d) => void d.accept());
    await page.getByTestId('adapter-row').filter({ hasText: 'renamed adapter' }).getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => page.getByTestId('adapter-row').count()).toBe(1);
    expect(await page.getByTestId('panel-adapters').innerText()).not.toMatch(/renamed adapter/);
  });

  test('a playground "image" that is text: a readable error, then a real image gets captions', async () => {
    await tab(page, 'Playground');
    await page.getByTestId('playground-drop-files').setInputFiles([file('photo.png', 'this is not a picture', 'image/png')]);
    const text = await alertText(page);
    expect(text).toMatch(/image cannot be decoded/i);
    expect(text).toMatch(/What to do: Drop a PNG or JPEG image/);
    await dismissAlerts(page);
    await page.getByTestId('playground-drop-files').setInputFiles([file('0001.png', png('0001.png'), 'image/png')]);
    await page.getByTestId('pg-adapted').waitFor({ timeout: 120_000 });
    expect(await page.getByTestId('pg-frozen').innerText()).not.toBe('');
  });
});

test.describe('studio without WebGPU', () => {
  test('says which browser or flag is needed instead of a blank page', async () => {
    // Chromium without --enable-unsafe-webgpu on Linux: navigator.gpu exists, but no adapter is offered.
    const plain = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const p = await plain.newPage();
      recordRequests(p, url);
      await p.goto(url);
      const message = await p.getByTestId('no-webgpu').innerText({ timeout: 30_000 });
      expect(message).toMatch(/WebGPU is not available/);
      expect(message).toMatch(/chrome:\/\/flags\/#enable-unsafe-webgpu/);
      expect(message).toMatch(/Chrome or Edge 113 or newer/);
      await p.screenshot({ path: 'e2e/screenshots/no-webgpu.png' });
      expectOnlyOwnOrigin(p);
    } finally {
      await plain.close();
    }
  });
});

test.describe('studio whose engine worker does not load', () => {
  test('says the engine did not start and what to do, instead of waiting forever', async () => {
    const context = await browser.newContext();
    try {
      const p = await context.newPage();
      recordRequests(p, url);
      // The worker's script answers 500, as a half-deployed site or a broken cache would.
      await p.route(/engineWorker\.ts/, (route) => route.fulfill({ status: 500, body: 'server error' }));
      await p.goto(url);
      await tab(p, 'Model');
      await p.getByRole('button', { name: 'Load the default model' }).click();
      const text = await alertText(p, 30_000);
      expect(text).toMatch(/the training engine did not start/i);
      expect(text).toMatch(/What to do: Reload the page/);
      expectOnlyOwnOrigin(p);
    } finally {
      await context.close();
    }
  });
});
