/**
 * One adapter per task (issue 15, item 4), in headless Chromium with real WebGPU, on the tiny test package and
 * a two-task dataset dropped as files (e2e/fixtures/two-tasks: 12 images, each with a "describe" and a "count"
 * caption under their own prompts, 4 images in validation):
 *  - the Dataset step lists the tasks; the Train step's "one adapter per task" trains two adapters, one run
 *    after the other, each saved under its task;
 *  - Evaluate, "each example through its task's adapter": one batch mixes both tasks' examples, and every
 *    caption equals the one that task's adapter gives when evaluated alone;
 *  - the Playground, task "count", gives the count adapter's caption of an image;
 *  - "Download merged" (issue 15, item 3): the count adapter folded into the package, downloaded as a .zip,
 *    dropped as it is on the Model step: with no adapter, its captions are the count adapter's;
 *  - a reload during the first task's run: the offer names the task still to come, and once resumed both
 *    adapters are saved (the checkpoint keeps the tasks queued after its run).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { unzipSync } from 'fflate';
import { expect, test, type Browser, type Page } from '@playwright/test';
import type { ViteDevServer } from 'vite';
import { HOOK_TIMEOUT, launchChromium, startServer } from './support/browser.ts';
import { file, loadModelFromUrl, openStudio, setNumber, tab } from './support/studio.ts';

const MINUTE = 60_000;
const TWO_TASKS = 'e2e/fixtures/two-tasks';

let server: ViteDevServer;
let browser: Browser;
let page: Page;
/** The count adapter's evaluation alone (the second test), which the playground's caption is checked against. */
let countAlone: Row[] = [];

test.beforeAll(async () => {
  test.setTimeout(HOOK_TIMEOUT);
  const started = await startServer();
  server = started.server;
  browser = await launchChromium();
  page = await openStudio(browser, started.url);
});

test.afterAll(async () => {
  await browser?.close();
  await server?.close();
});

const pngs = readdirSync(TWO_TASKS).filter((f) => f.endsWith('.png')).sort();
const datasetFiles = () => [
  file('metadata.jsonl', readFileSync(`${TWO_TASKS}/metadata.jsonl`, 'utf8')),
  ...pngs.map((n) => file(n, new Uint8Array(readFileSync(`${TWO_TASKS}/${n}`)), 'image/png')),
];

interface Row { path: string; task: string; reference: string; frozen: string; adapted: string }

/** The gallery of the evaluation shown: each row's task (when routed), first reference and adapted caption. */
async function gallery(p: Page): Promise<Row[]> {
  return p.getByTestId('gallery-row').evaluateAll((rows) => rows.map((r) => ({
    path: (r as HTMLElement).dataset.path ?? '',
    task: r.querySelector('[data-testid="gallery-task"]')?.textContent ?? '',
    reference: r.querySelector('.reference .caption')?.textContent ?? '',
    frozen: r.querySelector('[data-testid="frozen-caption"]')?.textContent ?? '',
    adapted: r.querySelector('[data-testid="adapted-caption"]')?.textContent ?? '',
  })));
}

async function evaluateWith(p: Page, option: string | RegExp): Promise<Row[]> {
  await tab(p, 'Evaluate');
  const select = p.getByLabel('Adapter');
  const value = await select.locator('option').filter({ hasText: option }).getAttribute('value');
  await select.selectOption(value!);
  const before = await p.getByTestId('metrics-table').locator('..').locator('h3').innerText().catch(() => '');
  await p.getByRole('button', { name: 'Evaluate' }).click();
  await expect.poll(() => p.getByTestId('metrics-table').locator('..').locator('h3').innerText().catch(() => ''), { timeout: 5 * MINUTE })
    .not.toBe(before);
  await expect(p.getByRole('button', { name: 'Evaluate' })).toBeEnabled({ timeout: 5 * MINUTE });
  return gallery(p);
}

const isCount = (reference: string) => /^(one shape|two shapes)$/.test(reference);

test.describe('studio, one adapter per task', () => {
  test.describe.configure({ mode: 'serial' });

  test('the dataset\'s tasks are listed, and "one adapter per task" trains and saves one adapter for each', async () => {
    test.setTimeout(15 * MINUTE);
    await loadModelFromUrl(page, '/models/tiny-pali-test');
    await tab(page, 'Dataset');
    await page.getByTestId('dataset-drop-files').setInputFiles(datasetFiles());
    await expect.poll(() => page.getByTestId('dataset-tasks').innerText(), { timeout: 2 * MINUTE }).toBe('describe (12) · count (12)');

    await tab(page, 'Train');
    await setNumber(page, 'Rank (image)', 8);
    await setNumber(page, 'Rank (text)', 4);
    await setNumber(page, 'Batch size', 4);
    await setNumber(page, 'Length', 8);
    await setNumber(page, 'Learning rate', 0.1);
    await setNumber(page, 'Warm-up steps', 1);
    await page.getByLabel('Adapter name').fill('shapes');
    await page.getByLabel('Tasks').selectOption({ label: 'one adapter per task (2 runs, one after another)' });
    await page.getByRole('button', { name: 'Start training' }).click();
    await expect(page.getByTestId('run-task')).toHaveText('Training task "describe"; then "count".', { timeout: MINUTE });
    await expect(page.getByTestId('run-task')).toHaveText('Training task "count".', { timeout: 10 * MINUTE });
    await expect(page.getByTestId('run-notice')).toHaveText('The adapter of task "describe" is saved. Now task "count".');
    await expect(page.getByTestId('run-status')).toHaveText('Done', { timeout: 10 * MINUTE });
    await expect(page.getByTestId('saved-adapter')).toContainText('shapes · count (task count, 8 steps)');

    await tab(page, 'Evaluate');
    const options = await page.getByLabel('Adapter').locator('option').allInnerTexts();
    expect(options).toEqual(['each example through its task\'s adapter', 'count — shapes · count', 'describe — shapes · describe']);
  });

  test('evaluating by task routes a mixed batch: each caption is its own task\'s adapter\'s, as one task at a time gives', async () => {
    test.setTimeout(10 * MINUTE);
    const routed = await evaluateWith(page, 'each example through its task\'s adapter');
    expect(await page.getByTestId('task-routes').innerText()).toBe(
      'task "describe": 4 captions through shapes · describe\ntask "count": 4 captions through shapes · count');
    expect(routed.map((r) => r.task)).toEqual(['describe', 'describe', 'describe', 'describe', 'count', 'count', 'count', 'count']);
    expect(routed.every((r) => isCount(r.reference) === (r.task === 'count'))).toBe(true);

    // The same validation images through one adapter at a time (both tasks' prompts, one adapter for all).
    const describeAlone = await evaluateWith(page, 'describe — shapes · describe');
    countAlone = await evaluateWith(page, 'count — shapes · count');
    // The same image under the same task's prompt (whose references are that task's).
    const caption = (rows: Row[], of: Row) => rows.find((r) => r.path === of.path && isCount(r.reference) === isCount(of.reference))?.adapted;
    for (const row of routed) {
      expect(row.adapted).toBe(caption(row.task === 'count' ? countAlone : describeAlone, row));
    }
    // The two adapters disagree somewhere, so a batch sent through one adapter would have failed the check above.
    expect(routed.some((r) => caption(describeAlone, r) !== caption(countAlone, r))).toBe(true);
  });

  test('the playground routes by task: task "count" gives the count adapter\'s caption', async () => {
    test.setTimeout(5 * MINUTE);
    const metadata = readFileSync(`${TWO_TASKS}/metadata.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { file_name: string; text: string; task: string; split: string });
    const example = metadata.find((m) => m.task === 'count' && m.split === 'validation')!;
    await tab(page, 'Playground');
    await page.getByLabel('Prompt').fill('count the shapes');
    await page.getByLabel('Task').selectOption('count');
    await page.getByTestId('playground-drop-files').setInputFiles([file(example.file_name, new Uint8Array(readFileSync(`${TWO_TASKS}/${example.file_name}`)), 'image/png')]);
    await expect(page.getByTestId('pg-adapted')).toBeVisible({ timeout: 3 * MINUTE });
    const expected = countAlone.find((r) => r.path === example.file_name && isCount(r.reference))!.adapted;
    expect(await page.getByTestId('pg-adapted').innerText()).toBe(expected);
  });

  test('"Download merged": the count adapter folded into the package, loaded as a model, captions as the live adapter', async () => {
    test.setTimeout(5 * MINUTE);
    await tab(page, 'Adapters');
    const row = page.getByTestId('adapter-row').filter({ hasText: 'shapes · count' });
    const download = page.waitForEvent('download');
    await row.getByTestId('download-merged').click();
    const zipPath = await (await download).path();
    const zip = unzipSync(new Uint8Array(readFileSync(zipPath)));
    await expect(page.getByText(/Image: vision\.onnx: folded into the vision graph's last linear layer/)).toBeVisible();
    const manifest = JSON.parse(new TextDecoder().decode(zip[Object.keys(zip).find((p) => p.endsWith('manifest.json'))!])) as { id: string };
    expect(manifest.id).toMatch(/^tiny-pali-test\+merged-/);

    // The .zip itself dropped on the Model step, as downloaded.
    await tab(page, 'Model');
    await page.getByTestId('model-drop-files').setInputFiles([file('merged.zip', new Uint8Array(readFileSync(zipPath)), 'application/zip')]);
    await expect(page.getByTestId('model-card')).toContainText(manifest.id, { timeout: 3 * MINUTE });
    const example = 'e2e/fixtures/two-tasks/0009.png';
    await tab(page, 'Playground');
    await page.getByLabel('Prompt').fill('count the shapes');
    await expect(page.getByLabel('Task')).toHaveValue('(none)'); // the saved adapters belong to the base model
    await page.getByTestId('playground-drop-files').setInputFiles([file('0009.png', new Uint8Array(readFileSync(example)), 'image/png')]);
    await expect(page.getByTestId('pg-frozen')).toBeVisible({ timeout: 3 * MINUTE });
    const { adapted: live, frozen } = countAlone.find((r) => r.path === '0009.png' && isCount(r.reference))!;
    expect(live).not.toBe(frozen); // the adapter changes this caption: a merge that did nothing would fail below
    expect(await page.getByTestId('pg-frozen').innerText()).toBe(live);
  });

  test('a reload during one adapter per task: the resumed run goes on with the next task, both adapters saved', async () => {
    test.setTimeout(10 * MINUTE);
    await loadModelFromUrl(page, '/models/tiny-pali-test');
    await tab(page, 'Dataset');
    await page.getByTestId('dataset-drop-files').setInputFiles(datasetFiles());
    await expect(page.getByTestId('dataset-tasks')).toHaveText('describe (12) · count (12)', { timeout: 2 * MINUTE });
    await tab(page, 'Train');
    await page.getByLabel('Adapter name').fill('again');
    if (!(await page.getByLabel('Checkpoint every (steps)').isVisible())) await page.getByText('More settings').click();
    await setNumber(page, 'Checkpoint every (steps)', 2);
    await page.getByLabel('Tasks').selectOption({ label: 'one adapter per task (2 runs, one after another)' });
    await page.getByRole('button', { name: /^Start (training|a new run)$/ }).click();
    await expect(page.getByTestId('run-task')).toHaveText('Training task "describe"; then "count".', { timeout: MINUTE });
    const checkpointStep = async () => Number(/step (\d+)/.exec(await page.getByTestId('checkpoint-step').innerText())?.[1] ?? -1);
    await expect.poll(checkpointStep, { timeout: 5 * MINUTE, intervals: [100] }).toBeGreaterThanOrEqual(2);

    await page.reload();
    await tab(page, 'Train');
    const offer = page.getByTestId('interrupted-run');
    await expect(offer).toContainText('Then the adapters of tasks "count" are trained, one after another.', { timeout: MINUTE });
    await expect(offer).toContainText('adapter "again · describe"');
    // Its dropped dataset is opened again by the person (the model comes back from its URL by itself).
    await tab(page, 'Dataset');
    await page.getByTestId('dataset-drop-files').setInputFiles(datasetFiles());
    await expect(page.getByTestId('dataset-tasks')).toHaveText('describe (12) · count (12)', { timeout: 2 * MINUTE });
    await tab(page, 'Train');
    await page.getByTestId('interrupted-run').getByRole('button', { name: 'Resume' }).click();
    await expect(page.getByTestId('run-task')).toHaveText('Training task "count".', { timeout: 10 * MINUTE });
    await expect(page.getByTestId('run-status')).toHaveText('Done', { timeout: 10 * MINUTE });
    await expect(page.getByTestId('saved-adapter')).toContainText('again · count (task count, 8 steps)');
    await tab(page, 'Evaluate');
    const options = await page.getByLabel('Adapter').locator('option').allInnerTexts();
    expect(options.filter((o) => o.includes('again'))).toEqual(['count — again · count', 'describe — again · describe']);
  });
});
