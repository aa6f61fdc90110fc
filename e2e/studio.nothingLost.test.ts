/**
 * Nothing lost (issue 6), in headless Chromium with real WebGPU, on the tiny test package and the tiny
 * captions (dropped as files, as a person would):
 *  - a run interrupted by a page reload is offered for resume; its dataset, which came from dropped files,
 *    must be opened again (the studio says so), its model is loaded again from its URL by the studio; the
 *    resumed run's train and validation losses equal the uninterrupted run's, step for step;
 *  - a GPU device lost mid-run (destroyed through the development build's test hook): the studio starts
 *    its engine again, loads the model and the dataset into it, resumes from the last checkpoint and ends
 *    with the uninterrupted run's losses;
 *  - storage full (a small quota for the origin, then filled): a checkpoint and an adapter that cannot be
 *    saved say so (problem / where / what to do), and every adapter and checkpoint saved before is still
 *    there, byte for byte, and readable; once space is freed, the adapter is saved.
 * Served by the dev server (the test hook exists only in the development build).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { expect, test, type Browser, type Page } from '@playwright/test';
import type { ViteDevServer } from 'vite';
import { decodeTrainingState } from '../src/formats/trainingState.ts';
import { readAdapterFile } from '../src/formats/adapterFile.ts';
import { parseManifest } from '../src/formats/manifest.ts';
import { HOOK_TIMEOUT, launchChromium, startServer } from './support/browser.ts';
import { file, loadModelFromUrl, setNumber, tab } from './support/studio.ts';

const MINUTE = 60_000;
const TINY = 'e2e/fixtures/tiny-captions';
const TINY_PACKAGE = 'public/models/tiny-pali-test';
const STEPS = 12;
/** The site's storage quota for the whole test: far more than the studio needs, until the quota test fills it. */
const QUOTA_BYTES = 40 * 1024 * 1024;

let server: ViteDevServer;
let url: string;
let browser: Browser;
let page: Page;

/**
 * The studio in a fresh browser context whose origin has a quota of `quota` bytes. The quota is set
 * before the page first touches storage: Chromium reads an origin's quota when its storage opens.
 */
async function openStudioWithQuota(quota: number): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const p = await context.newPage();
  p.on('console', (m) => {
    if (m.type() === 'error') console.error(`[page] ${m.text()}`);
  });
  p.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  const cdp = await context.newCDPSession(p);
  await cdp.send('Storage.overrideQuotaForOrigin', { origin: url, quotaSize: quota });
  await p.goto(url);
  await p.getByRole('tab', { name: /Model/ }).waitFor();
  return p;
}

const pngs = readdirSync(TINY).filter((f) => f.endsWith('.png')).sort();
const datasetFiles = () => [file('metadata.jsonl', readFileSync(`${TINY}/metadata.jsonl`, 'utf8')), ...pngs.map((n) => file(n, new Uint8Array(readFileSync(`${TINY}/${n}`)), 'image/png'))];

/** Drops the tiny captions' files (no validation split: a quarter held out, 4 of them used). */
async function dropDataset(p: Page): Promise<void> {
  await tab(p, 'Dataset');
  await p.getByTestId('dataset-drop-files').setInputFiles(datasetFiles());
  await expect.poll(() => p.getByTestId('dataset-summary').locator('h3').innerText(), { timeout: 2 * MINUTE }).toBe('33 files');
  await setNumber(p, 'Held out for validation (%)', 25);
  await setNumber(p, 'Validation images to use (0 = all)', 4);
  await expect.poll(() => p.getByTestId('split-summary').innerText()).toMatch(/Training: 24 images.*Validation: 4 images/);
}

/** The run every test trains: dropout on (the resumed run must draw the same masks), validation every 4 steps, a checkpoint every 3. */
async function setUpRun(p: Page, adapterName: string): Promise<void> {
  await tab(p, 'Train');
  await setNumber(p, 'Rank (image)', 8);
  await setNumber(p, 'Rank (text)', 4);
  await setNumber(p, 'Batch size', 4);
  await setNumber(p, 'Length', STEPS);
  await setNumber(p, 'Warm-up steps', 2);
  if (!(await p.getByLabel('Checkpoint every (steps)').isVisible())) await p.getByText('More settings').click();
  await setNumber(p, 'Validate every (steps)', 4);
  await setNumber(p, 'Checkpoint every (steps)', 3);
  await p.getByLabel('Adapter name').fill(adapterName);
}

async function startRun(p: Page): Promise<void> {
  await p.getByRole('button', { name: /^Start (training|a new run)$/ }).click();
}

async function runStatus(p: Page): Promise<string> {
  return p.getByTestId('run-status').innerText();
}

async function waitForStatus(p: Page, status: string | RegExp, timeout = 10 * MINUTE): Promise<void> {
  await expect.poll(() => runStatus(p), { timeout, intervals: [500] }).toMatch(status);
}

/** Waits until the run has a checkpoint at step `atLeast` or later, and returns its step. */
async function checkpointAtLeast(p: Page, atLeast: number): Promise<number> {
  await waitForStatus(p, /Preparing|Training/, MINUTE);
  const step = async () => Number(/step (\d+)/.exec(await p.getByTestId('checkpoint-step').innerText())?.[1] ?? -1);
  await expect.poll(step, { timeout: 10 * MINUTE, intervals: [200] }).toBeGreaterThanOrEqual(atLeast);
  return step();
}

/** Waits until the run has taken `atLeast` steps. */
async function stepAtLeast(p: Page, atLeast: number): Promise<number> {
  const step = async () => Number(/Step\s+(\d+) of/.exec(await p.getByTestId('run-stats').innerText())?.[1] ?? -1);
  await expect.poll(step, { timeout: 10 * MINUTE, intervals: [100] }).toBeGreaterThanOrEqual(atLeast);
  return step();
}

/** Every row of the loss table: the numbers exactly as the page holds them. */
async function lossTable(p: Page): Promise<Array<{ step: number; train?: string; validation?: string }>> {
  const table = p.getByTestId('loss-table');
  if (!(await table.evaluate((d) => (d as HTMLDetailsElement).open))) await table.locator('summary').click();
  // The rows are rendered once the table is open (a React update after the toggle event): wait for them.
  await table.locator('tr[data-step]').first().waitFor();
  return table.locator('tr[data-step]').evaluateAll((rows) => rows.map((r) => {
    const { step, trainLoss, validationLoss } = (r as HTMLElement).dataset;
    return { step: Number(step), train: trainLoss, validation: validationLoss };
  }));
}

/** What IndexedDB holds, read straight from the database (not through the studio's code). */
async function storedRecords(p: Page): Promise<{
  adapters: Array<{ id: string; name: string; file: number[] }>;
  checkpoints: Array<{ runId: string; step: number; state: number[] }>;
}> {
  return p.evaluate(async () => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open('adalink-studio');
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    const all = <T,>(store: string) => new Promise<T[]>((resolve, reject) => {
      const request = db.transaction(store).objectStore(store).getAll();
      request.onsuccess = () => resolve(request.result as T[]);
      request.onerror = () => reject(request.error);
    });
    const adapters = await all<{ id: string; name: string; file: Uint8Array }>('adapters');
    const checkpoints = await all<{ runId: string; step: number; state: Uint8Array }>('checkpoints');
    db.close();
    return {
      adapters: adapters.map((a) => ({ id: a.id, name: a.name, file: [...a.file] })).sort((a, b) => a.id.localeCompare(b.id)),
      checkpoints: checkpoints.map((c) => ({ runId: c.runId, step: c.step, state: [...c.state] })).sort((a, b) => a.runId.localeCompare(b.runId)),
    };
  });
}

/**
 * Fills the origin's storage with random bytes (in a database of its own, as another part of the site
 * would) until a write of even 256 bytes is refused: the next thing the studio saves finds no room.
 */
async function fillStorage(p: Page): Promise<void> {
  await p.evaluate(async () => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open('filler', 1);
      request.onupgradeneeded = () => request.result.createObjectStore('bytes');
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    const put = (key: number, size: number) => new Promise<boolean>((resolve) => {
      const tx = db.transaction('bytes', 'readwrite');
      const bytes = new Uint8Array(size);
      for (let at = 0; at < size; at += 65536) crypto.getRandomValues(bytes.subarray(at, Math.min(size, at + 65536)));
      tx.objectStore('bytes').put(bytes, key);
      tx.oncomplete = () => resolve(true);
      tx.onabort = () => resolve(false);
    });
    let key = 0;
    // At most 100 writes of a size: a browser that did not count them would otherwise fill the machine.
    for (const size of [4 << 20, 256 << 10, 16 << 10, 1 << 10, 256]) for (let n = 0; n < 100 && await put(key++, size); n++);
    db.close();
  });
}

async function freeStorage(p: Page): Promise<void> {
  await p.evaluate(() => new Promise<void>((resolve, reject) => {
    const request = indexedDB.deleteDatabase('filler');
    request.onsuccess = () => resolve();
    request.onerror = () => reject(request.error);
  }));
}

test.beforeAll(async () => {
  test.setTimeout(HOOK_TIMEOUT);
  ({ server, url } = await startServer());
  browser = await launchChromium();
  page = await openStudioWithQuota(QUOTA_BYTES);
});

test.afterAll(async () => {
  await browser?.close();
  await server?.close();
});

test.describe('studio, nothing lost', () => {
  // The runs are compared with the first and find the adapters the ones before saved: after a failure,
  // the rest does not run.
  test.describe.configure({ mode: 'serial' });

  let uninterrupted: Awaited<ReturnType<typeof lossTable>>;

  test('an uninterrupted run, for the others to be compared with', async () => {
    test.setTimeout(15 * MINUTE);
    await loadModelFromUrl(page, '/models/tiny-pali-test');
    await dropDataset(page);
    await setUpRun(page, 'uninterrupted');
    await startRun(page);
    await waitForStatus(page, 'Done');
    uninterrupted = await lossTable(page);
    console.log(`uninterrupted: train ${uninterrupted.filter((r) => r.train).map((r) => Number(r.train).toFixed(4)).join(' ')}; `
      + `validation ${uninterrupted.filter((r) => r.validation).map((r) => `${r.step}: ${Number(r.validation).toFixed(4)}`).join(', ')}`);
    expect(uninterrupted.filter((r) => r.train !== undefined)).toHaveLength(STEPS);
    expect(uninterrupted.filter((r) => r.validation !== undefined).map((r) => r.step)).toEqual([0, 4, 8, 12]);
    // The finished run is kept as its adapter; its checkpoint went in the same transaction.
    expect((await storedRecords(page)).checkpoints).toEqual([]);
  });

  test('a reload mid-run: the run is offered, its dataset asked for, and it resumes with the same losses', async () => {
    test.setTimeout(20 * MINUTE);
    await setUpRun(page, 'reloaded');
    await startRun(page);
    // Interrupted past its first periodic checkpoint: the steps after it are lost and trained again.
    const checkpoint = await checkpointAtLeast(page, 3);
    const reloadedAt = await stepAtLeast(page, checkpoint + 2);
    await page.reload();
    await page.getByRole('tab', { name: /Model/ }).waitFor();
    await tab(page, 'Train');
    const offer = page.getByTestId('interrupted-run');
    await offer.waitFor({ timeout: MINUTE });
    const offered = Number(/interrupted at step (\d+) of 12/.exec(await offer.innerText())?.[1]);
    console.log(`reloaded at step ${reloadedAt}, after the checkpoint of step ${checkpoint}; offered at step ${offered}`);
    expect(offered).toBeGreaterThanOrEqual(checkpoint);
    expect(await offer.innerText()).toMatch(/open the same files in step 2 first/);

    // The model comes back from its URL by itself; the dropped files cannot, and the studio says what to do.
    await offer.getByRole('button', { name: 'Resume' }).click();
    await expect.poll(() => offer.getByRole('alert').innerText(), { timeout: 3 * MINUTE })
      .toMatch(/the run's dataset "33 files" is not open[\s\S]*What to do: Open "33 files" in step 2/i);
    expect(await page.getByTestId('status-line').innerText()).toMatch(/Model: tiny-pali-test/);

    await dropDataset(page);
    await tab(page, 'Train');
    await page.getByTestId('interrupted-run').getByRole('button', { name: 'Resume' }).click();
    await waitForStatus(page, 'Done');
    expect(await lossTable(page)).toEqual(uninterrupted);
    expect(await page.getByTestId('saved-adapter').innerText()).toMatch(/Saved in this browser as reloaded \(task caption, 12 steps\)/);
  });

  test('a GPU device lost mid-run: the engine starts again and the run ends with the same losses', async () => {
    test.setTimeout(20 * MINUTE);
    await setUpRun(page, 'device lost');
    await startRun(page);
    await stepAtLeast(page, (await checkpointAtLeast(page, 3)) + 2);
    // The call itself may be answered by the device's loss: it rejects then.
    // src/ui/main.tsx's test hook (the dev server's page only).
    await page.evaluate(() => (window as unknown as { adalinkTest: { loseGpuDevice(): Promise<void> } }).adalinkTest.loseGpuDevice().catch(() => undefined));
    await expect.poll(() => page.getByTestId('run-notice').innerText(), { timeout: 5 * MINUTE })
      .toMatch(/The GPU device was lost at step \d+\. The studio started its engine again on a new device and resumed from the checkpoint of step \d+\./);
    console.log(await page.getByTestId('run-notice').innerText());
    expect(await page.getByTestId('engine-notice').innerText()).toMatch(/loaded the model and the dataset again/);
    await waitForStatus(page, 'Done');
    expect(await lossTable(page)).toEqual(uninterrupted);
  });

  test('storage full: clear messages, and every adapter and checkpoint saved before is still there and readable', async () => {
    test.setTimeout(20 * MINUTE);
    // An earlier checkpoint: a run paused after its first periodic one.
    await setUpRun(page, 'storage full');
    await startRun(page);
    await checkpointAtLeast(page, 3);
    await page.getByRole('button', { name: 'Pause' }).click();
    await waitForStatus(page, 'Paused');
    const before = await storedRecords(page);
    expect(before.adapters.map((a) => a.name).sort()).toEqual(['device lost', 'reloaded', 'uninterrupted']);
    expect(before.checkpoints).toHaveLength(1);
    const pausedAt = before.checkpoints[0].step;

    await fillStorage(page);
    await page.getByRole('button', { name: 'Resume' }).click();
    // Checkpoints cannot be written: the run goes on, and says so.
    const checkpointError = await page.getByTestId('checkpoint-error').innerText({ timeout: 5 * MINUTE });
    expect(checkpointError).toMatch(new RegExp(`cannot save the checkpoint of step \\d+: this site's storage in the browser is full \\(the checkpoint of step ${pausedAt} is kept\\)`, 'i'));
    expect(checkpointError).toMatch(/Where: IndexedDB \(browser storage\)/);
    expect(checkpointError).toMatch(/What to do: Delete adapters or checkpoints you no longer need/);
    // At the end the adapter cannot be saved either.
    await waitForStatus(page, 'Stopped');
    const saveError = await page.getByTestId('run-card').getByRole('alert').last().innerText();
    expect(saveError).toMatch(/cannot save the adapter: this site's storage in the browser is full \(the run's checkpoint and every adapter saved before are kept\)/i);

    // Nothing saved before changed, and all of it reads.
    const after = await storedRecords(page);
    expect(after).toEqual(before);
    const manifest = parseManifest(readFileSync(`${TINY_PACKAGE}/manifest.json`, 'utf8'), TINY_PACKAGE);
    for (const a of after.adapters) expect(readAdapterFile(new Uint8Array(a.file), manifest, a.name).metadata.steps).toBe(String(STEPS));
    const state = decodeTrainingState(new Uint8Array(after.checkpoints[0].state));
    expect(state.step).toBe(pausedAt);
    expect(state.losses).toHaveLength(pausedAt);

    // Space freed: "Stop and save" saves the adapter, and the run's checkpoint goes.
    await freeStorage(page);
    await page.getByRole('button', { name: 'Stop and save' }).click();
    await waitForStatus(page, 'Done');
    const saved = await storedRecords(page);
    expect(saved.adapters.map((a) => a.name).sort()).toEqual(['device lost', 'reloaded', 'storage full', 'uninterrupted']);
    expect(saved.checkpoints).toEqual([]);
  });
});
