/**
 * A Florence-2 from the Hub in the studio (issue 14), in headless Chromium with real WebGPU — and nothing
 * leaves the machine: a local stand-in answers the Hub's URL layout (e2e/support/hubServer.ts), serving
 * e2e/fixtures/hub/tiny-florence-test as repository adalink-test/tiny-florence-test. The studio is the
 * development build (the dev server), the one that takes the stand-in's address from ?hubEndpoint.
 *
 *  - The download, on a page of its own (e2e/pages/hubHarness.ts: src/worker/hubSource.ts with the page's
 *    Cache Storage): only the files the variant needs, in Range chunks; nothing asked again after a reload;
 *    a dropped connection resumes at the chunk; offline mid-way, the next try asks only for what is missing;
 *    what the repository lacks is refused before anything is downloaded; a full storage, a gated, missing or
 *    private repository, an unknown revision and altered bytes each say what is wrong and what to do.
 *  - The studio: the Model step's Hub section loads the repository (progress seen), a demo dataset trains a
 *    few steps, is evaluated, the adapter saved and downloaded; every request went to the page's origin or the
 *    stand-in, and the stand-in's only to that repository's model files; after a reload it loads again without
 *    downloading a file; a run interrupted by a reload is resumed with the model loaded again by the studio
 *    (from its checkpoint's hf:// address, from this browser alone); the adapter names
 *    hub:adalink-test/tiny-florence-test@<commit> and is refused, with what to do, on the bundled default model.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { expect, test, type Browser, type Page } from '@playwright/test';
import type { ViteDevServer } from 'vite';
import type { HarnessOptions, HarnessResult } from './pages/hubHarness.ts';
import { HOOK_TIMEOUT, launchChromium, openPage, startServer } from './support/browser.ts';
import { startHubServer, type HubLogEntry, type HubServer } from './support/hubServer.ts';
import { policyRefusals, recordedRequests } from './support/requests.ts';
import { alertText, dismissAlerts, file, openStudio, screenshot, setNumber, startProductionServer, tab } from './support/studio.ts';

const MINUTE = 60_000;
const REPO = 'adalink-test/tiny-florence-test';
/** What the fp32 variant needs of the repository: not export-report.json, not another variant. */
const NEEDED = [
  'config.json', 'generation_config.json', 'onnx/decoder_model.onnx', 'onnx/embed_tokens.onnx', 'onnx/encoder_model.onnx', 'onnx/vision_encoder.onnx',
  'preprocessor_config.json', 'tokenizer.json', 'tokenizer_config.json',
];
const CHUNK = 32 * 1024;
const REPO_FOLDER = 'e2e/fixtures/hub/tiny-florence-test';

let server: ViteDevServer;
let url: string;
let hub: HubServer;
let browser: Browser;

test.beforeAll(async () => {
  test.setTimeout(HOOK_TIMEOUT);
  ({ server, url } = await startServer());
  hub = await startHubServer({
    repos: {
      // A repository with neither decoder_model nor decoder_model_merged (src/engine/hubPackage.test.ts loads a
      // merged-only one).
      'adalink-test/no-decoder': Object.fromEntries([...readRepo(REPO_FOLDER)].filter(([p]) => p !== 'onnx/decoder_model.onnx')),
      'adalink-test/gated-florence': Object.fromEntries(readRepo(REPO_FOLDER)),
    },
    gated: ['adalink-test/gated-florence'],
  });
  browser = await launchChromium();
});

test.afterAll(async () => {
  await browser?.close();
  await hub?.close();
  await server?.close();
});

function readRepo(folder: string): Map<string, Uint8Array> {
  const paths = ['config.json', 'export-report.json', 'generation_config.json', 'preprocessor_config.json', 'tokenizer.json', 'tokenizer_config.json',
    'onnx/decoder_model.onnx', 'onnx/embed_tokens.onnx', 'onnx/encoder_model.onnx', 'onnx/vision_encoder.onnx'];
  return new Map(paths.map((p) => [p, new Uint8Array(readFileSync(`${folder}/${p}`))]));
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** The stand-in's log from entry `from` on. */
const since = (from: number): HubLogEntry[] => hub.log.slice(from);
const fileRequests = (entries: HubLogEntry[]) => entries.filter((e) => e.kind === 'file');

async function harnessOpen(page: Page, request: { repo: string; revision?: string; variant: 'fp32' | 'fp16' }, options: HarnessOptions = {}): Promise<HarnessResult> {
  return page.evaluate(([r, o]) => window.hubHarness.open(r, o), [{ ...request, endpoint: hub.url }, options] as const);
}

test.describe('the Hub download (src/worker/hubSource.ts on a page of its own)', () => {
  test.describe.configure({ mode: 'serial' });
  let page: Page;

  test.beforeAll(async () => {
    page = await openPage(browser, `${url}/e2e/pages/hubHarness.html`);
    await expect(page.locator('#status')).toHaveText('ready', { timeout: 2 * MINUTE });
  });

  test.afterEach(() => {
    hub.options.interrupt = undefined;
    hub.options.offline = false;
    hub.options.tamper = undefined;
  });

  test('only the files the variant needs, in Range chunks, each once; then nothing again, after a reload too', async () => {
    await page.evaluate(() => window.hubHarness.clear());
    const from = hub.log.length;
    const result = await harnessOpen(page, { repo: REPO, variant: 'fp32' }, { chunkBytes: CHUNK });
    if (!result.ok) throw new Error(result.error.message);
    const sha = hub.sha(REPO);
    expect(result.sha).toBe(sha);
    expect(result.label).toBe(`${REPO}@${sha.slice(0, 7)}`);
    expect([...result.files].sort()).toEqual(NEEDED);
    const files = hub.files(REPO);
    for (const path of NEEDED) expect(result.sha256[path], path).toBe(sha256(files.get(path)!));
    const total = NEEDED.reduce((n, p) => n + files.get(p)!.byteLength, 0);
    expect(result).toMatchObject({ bytes: total, downloaded: total, cached: 0, persistent: true });
    expect(result.progress.at(-1)).toMatchObject({ done: total, total, cached: 0, etaSeconds: 0 });

    const log = since(from);
    expect(log.filter((e) => e.kind === 'revision').map((e) => e.url)).toEqual([`/api/models/${REPO}/revision/main?blobs=true`]);
    const requests = fileRequests(log);
    // Every file from the commit's URL, never the branch's; in chunks of 32 KiB; no chunk twice.
    expect(requests.every((e) => e.revision === sha && e.status === 206 && e.bytes <= CHUNK && /^bytes=\d+-\d+$/.test(e.range ?? ''))).toBe(true);
    expect(new Set(requests.map((e) => e.path))).toEqual(new Set(NEEDED));
    expect(new Set(requests.map((e) => `${e.path} ${e.range}`)).size).toBe(requests.length);
    expect(requests.length).toBe(NEEDED.reduce((n, p) => n + Math.ceil(files.get(p)!.byteLength / CHUNK), 0));
    expect(log.every((e) => e.origin === new URL(url).origin)).toBe(true);

    // Again on this page: the branch is asked again (it may have moved), no file is.
    let mark = hub.log.length;
    const again = await harnessOpen(page, { repo: REPO, variant: 'fp32' }, { chunkBytes: CHUNK });
    expect(again).toMatchObject({ ok: true, downloaded: 0, cached: total });
    expect(since(mark).map((e) => e.kind)).toEqual(['revision']);

    // After a reload, at the commit: nothing is asked of the Hub at all.
    await page.reload();
    await expect(page.locator('#status')).toHaveText('ready');
    mark = hub.log.length;
    const reloaded = await harnessOpen(page, { repo: REPO, revision: sha, variant: 'fp32' }, { chunkBytes: CHUNK });
    expect(reloaded).toMatchObject({ ok: true, sha, downloaded: 0, cached: total });
    expect(since(mark)).toEqual([]);

    // A file of the repository the variant does not need is downloaded only when read.
    mark = hub.log.length;
    expect(await page.evaluate(([r]) => window.hubHarness.readLater(r, 'export-report.json'), [{ repo: REPO, revision: sha, variant: 'fp32' as const, endpoint: hub.url }] as const))
      .toBe(sha256(files.get('export-report.json')!));
    expect(fileRequests(since(mark)).map((e) => e.path)).toEqual(['export-report.json']);
  });

  test('a dropped connection: the chunk is asked again, and only that chunk', async () => {
    await page.evaluate(() => window.hubHarness.clear());
    let cut = 0;
    hub.options.interrupt = ({ path, range }) => (path === 'onnx/decoder_model.onnx' && range === `bytes=${2 * CHUNK}-${3 * CHUNK - 1}` && cut++ === 0 ? 5000 : undefined);
    const from = hub.log.length;
    const result = await harnessOpen(page, { repo: REPO, variant: 'fp32' }, { chunkBytes: CHUNK, retryDelayMs: 50 });
    if (!result.ok) throw new Error(result.error.message);
    expect(result.sha256['onnx/decoder_model.onnx']).toBe(sha256(hub.files(REPO).get('onnx/decoder_model.onnx')!));
    const requests = fileRequests(since(from));
    const asked = (path: string, range: string) => requests.filter((e) => e.path === path && e.range === range);
    expect(asked('onnx/decoder_model.onnx', `bytes=${2 * CHUNK}-${3 * CHUNK - 1}`).map((e) => [e.status, e.bytes])).toEqual([[0, 5000], [206, CHUNK]]);
    expect(requests.filter((e) => e.status === 0)).toHaveLength(1);
    expect(new Set(requests.filter((e) => e.status === 206).map((e) => `${e.path} ${e.range}`)).size).toBe(requests.length - 1);
  });

  test('offline mid-way: the error says what is kept; the next try asks only for what is missing', async () => {
    await page.evaluate(() => window.hubHarness.clear());
    let served = 0;
    hub.options.interrupt = () => {
      if (++served === 8) hub.options.offline = true;
      return undefined;
    };
    const from = hub.log.length;
    const failed = await harnessOpen(page, { repo: REPO, variant: 'fp32' }, { chunkBytes: CHUNK, retries: 1, retryDelayMs: 50, concurrency: 1 });
    expect(failed.ok).toBe(false);
    if (failed.ok) return;
    expect(failed.error.problem).toMatch(/^cannot reach the Hugging Face Hub \(127\.0\.0\.1:\d+\)/);
    expect(failed.error.fix).toMatch(/Check your connection, then press the button again: the [\d.]+ KB downloaded so far are kept in this browser, and the download resumes where it stopped/);
    const first = fileRequests(since(from)).filter((e) => e.status === 206);
    expect(first.length).toBe(8);

    hub.options.interrupt = undefined;
    hub.options.offline = false;
    const mark = hub.log.length;
    const resumed = await harnessOpen(page, { repo: REPO, variant: 'fp32' }, { chunkBytes: CHUNK });
    if (!resumed.ok) throw new Error(resumed.error.message);
    const keptBytes = first.reduce((n, e) => n + e.bytes, 0);
    expect(resumed.cached).toBe(keptBytes);
    expect(resumed.progress[0].cached).toBeGreaterThan(0);
    const second = fileRequests(since(mark));
    const before = new Set(first.map((e) => `${e.path} ${e.range}`));
    expect(second.filter((e) => before.has(`${e.path} ${e.range}`))).toEqual([]);
    for (const path of NEEDED) expect(resumed.sha256[path], path).toBe(sha256(hub.files(REPO).get(path)!));

    // Offline now, the commit known: the last answer for main is used and every file is in the cache.
    hub.options.offline = true;
    const offline = await harnessOpen(page, { repo: REPO, variant: 'fp32' }, { chunkBytes: CHUNK });
    expect(offline).toMatchObject({ ok: true, sha: hub.sha(REPO), downloaded: 0 });
  });

  test('what the repository lacks is refused before any file is downloaded, naming the file', async () => {
    const from = hub.log.length;
    const fp16 = await harnessOpen(page, { repo: REPO, variant: 'fp16' });
    expect(fp16.ok).toBe(false);
    if (!fp16.ok) {
      expect(fp16.error.problem).toBe('the repository has no "onnx/vision_encoder_fp16.onnx", "onnx/embed_tokens_fp16.onnx", "onnx/encoder_model_fp16.onnx", '
        + '"onnx/decoder_model_fp16.onnx" (the fp16 variant needs them)');
      expect(fp16.error.where).toMatch(new RegExp(`^${REPO}@main \\(commit ${hub.sha(REPO).slice(0, 12)}\\)$`));
      expect(fp16.error.fix).toBe('Choose the fp32 variant: this repository has its graphs.');
    }
    const noDecoder = await harnessOpen(page, { repo: 'adalink-test/no-decoder', variant: 'fp32' });
    expect(noDecoder.ok).toBe(false);
    if (!noDecoder.ok) {
      expect(noDecoder.error.problem).toBe('the repository has no "onnx/decoder_model.onnx" (the fp32 variant needs it)');
      expect(noDecoder.error.fix).toMatch(/^Choose a repository in the transformers\.js layout/);
    }
    expect(fileRequests(since(from))).toEqual([]);
  });

  test('a missing or private repository, an unknown revision, a gated repository: what is wrong and what to do', async () => {
    const missing = await harnessOpen(page, { repo: 'adalink-test/no-such-model', variant: 'fp32' });
    expect(missing).toMatchObject({ ok: false, error: { name: 'PackageError', problem: 'there is no repository adalink-test/no-such-model on the Hub, or it is private' } });
    if (!missing.ok) expect(missing.error.fix).toMatch(/owner\/name, e\.g\. onnx-community\/Florence-2-base-ft\. Private repositories cannot be loaded/);

    const revision = await harnessOpen(page, { repo: REPO, revision: 'v9', variant: 'fp32' });
    expect(revision).toMatchObject({ ok: false, error: { problem: `the repository ${REPO} has no branch, tag or commit "v9"` } });

    const gated = await harnessOpen(page, { repo: 'adalink-test/gated-florence', variant: 'fp32' });
    expect(gated.ok).toBe(false);
    if (!gated.ok) {
      expect(gated.error.problem).toMatch(/^the repository adalink-test\/gated-florence is gated: .* the studio does not sign in$/);
      expect(gated.error.fix).toMatch(/Choose a repository that is not gated/);
    }

    const badId = await harnessOpen(page, { repo: 'Florence-2-base-ft', variant: 'fp32' });
    expect(badId).toMatchObject({ ok: false, error: { problem: '"Florence-2-base-ft" is not a Hub repository id' } });
  });

  test('a full storage, and bytes altered on the way: refused with what to do, nothing wrong kept', async () => {
    await page.evaluate(() => window.hubHarness.clear());
    const full = await harnessOpen(page, { repo: REPO, variant: 'fp32' }, { chunkBytes: CHUNK, fullAfterPuts: 4 });
    expect(full).toMatchObject({ ok: false, error: { name: 'StorageFullError', where: 'Cache Storage (browser storage)' } });
    if (!full.ok) {
      expect(full.error.problem).toMatch(/storage in the browser is full/);
      expect(full.error.fix).toMatch(/Free space .* or choose the fp16 variant/);
    }

    await page.evaluate(() => window.hubHarness.clear());
    hub.options.tamper = ({ path }) => path === 'tokenizer.json';
    const altered = await harnessOpen(page, { repo: REPO, variant: 'fp32' }, { chunkBytes: CHUNK });
    expect(altered).toMatchObject({ ok: false, error: { problem: 'the downloaded file does not match the Hub\'s checksum (it was removed from this browser)' } });
    if (!altered.ok) expect(altered.error.where).toMatch(/tokenizer\.json$/);
    hub.options.tamper = undefined;
    const mark = hub.log.length;
    const fixed = await harnessOpen(page, { repo: REPO, variant: 'fp32' }, { chunkBytes: CHUNK });
    if (!fixed.ok) throw new Error(fixed.error.message);
    // Only the altered file comes again; the ones before it were kept.
    expect([...new Set(fileRequests(since(mark)).map((e) => e.path))]).toEqual(expect.arrayContaining(['tokenizer.json']));
    expect(fileRequests(since(mark)).some((e) => e.path === 'config.json')).toBe(false);
    expect(fixed.sha256['tokenizer.json']).toBe(sha256(hub.files(REPO).get('tokenizer.json')!));
  });
});

test.describe('studio, a Florence-2 from the Hub', () => {
  test.describe.configure({ mode: 'serial' });
  let page: Page;
  let sha: string;
  let adapterPath: string;
  let firstLoad: number;
  /** The stand-in's log from where this page began. */
  let studioFrom: number;

  test.beforeAll(async () => {
    test.setTimeout(HOOK_TIMEOUT);
    sha = hub.sha(REPO);
    studioFrom = hub.log.length;
    page = await openStudio(browser, `${url}/?hubEndpoint=${encodeURIComponent(hub.url)}`);
  });

  test.afterAll(async () => {
    hub.options.bytesPerSecond = undefined;
  });

  /**
   * Every request of the page and its worker went to the page's origin or the stand-in; the stand-in was
   * asked (from its log entry `from` on) only about the repository and its model files.
   */
  function expectOnlyStudioAndHub(from: number): void {
    const own = new URL(url).origin;
    const foreign = recordedRequests(page).filter((u) => {
      const parsed = new URL(u);
      return !['data:', 'blob:'].includes(parsed.protocol) && parsed.origin !== own && parsed.origin !== hub.url && !(parsed.protocol === 'ws:' && parsed.host === new URL(url).host);
    });
    expect(foreign, 'requests to origins other than the studio\'s and the Hub stand-in\'s').toEqual([]);
    const toHub = recordedRequests(page).filter((u) => u.startsWith(hub.url)).map((u) => u.slice(hub.url.length));
    expect(toHub.every((u) => u.startsWith(`/api/models/${REPO}/revision/`) || u.startsWith(`/${REPO}/resolve/${sha}/`)), toHub.join('\n')).toBe(true);
    const log = since(from);
    expect(log.every((e) => (e.kind === 'revision' || e.kind === 'file') && e.repo === REPO)).toBe(true);
    expect(fileRequests(log).every((e) => NEEDED.includes(e.path!))).toBe(true);
  }

  async function loadFromHub(p: Page): Promise<string[]> {
    await tab(p, 'Model');
    const card = p.getByTestId('hub-card');
    await card.getByLabel('Repository').fill(REPO);
    await card.getByLabel('Variant').selectOption('fp32');
    await card.getByRole('button', { name: 'Download from the Hub' }).click();
    // What the progress bar said while it was there.
    const seen: string[] = [];
    const bar = p.getByTestId('hub-progress');
    const card$ = p.getByTestId('model-card');
    for (let i = 0; i < 600 && !(await card$.isVisible()); i++) {
      if (await bar.isVisible()) seen.push(await bar.innerText().catch(() => ''));
      const alert = p.getByTestId('hub-card').getByRole('alert');
      if (await alert.count()) throw new Error(await alert.innerText());
      await p.waitForTimeout(250);
    }
    await expect(card$).toBeVisible({ timeout: 4 * MINUTE });
    return seen;
  }

  test('the Hub section loads adalink-test/tiny-florence-test from the stand-in, with progress and an ETA', async () => {
    test.setTimeout(6 * MINUTE);
    await tab(page, 'Model');
    expect(await page.getByTestId('hub-card').getByLabel('Repository').inputValue()).toBe('onnx-community/Florence-2-base-ft');
    expect(await page.getByTestId('hub-privacy').innerText()).toMatch(/Only the model's files come from huggingface\.co.*Your images and captions stay on this machine/);
    // Slowed down so that a person (and this test) sees the progress: the fixture is about 400 KB.
    hub.options.bytesPerSecond = 120 * 1024;
    const from = hub.log.length;
    const started = Date.now();
    const seen = await loadFromHub(page);
    firstLoad = Date.now() - started;
    hub.options.bytesPerSecond = undefined;
    console.log(`progress seen: ${[...new Set(seen)].join(' | ')}`);
    expect(seen.some((t) => /Downloading the model from the Hub\s+[\d.]+ KB of [\d.]+ KB/.test(t))).toBe(true);
    expect(seen.some((t) => /about \d+ s left/.test(t))).toBe(true);
    const card = await page.getByTestId('model-card').innerText();
    expect(card).toContain(`hub:${REPO}@${sha}`);
    expect(card).toMatch(new RegExp(`From\\s+${REPO}@${sha.slice(0, 7)}`));
    expect(await page.getByTestId('hub-origin').innerText()).toBe(`${REPO}, fp32, commit ${sha} (main)`);
    expect(await page.getByTestId('hub-download').innerText()).toMatch(/^[\d.]+ KB downloaded now$/);
    expect(fileRequests(since(from)).length).toBe(NEEDED.length);
    expectOnlyStudioAndHub(from);
    await screenshot(page, 'model-hub');
  });

  async function openDemo(p: Page): Promise<void> {
    await tab(p, 'Dataset');
    await p.getByRole('button', { name: 'Try the demo dataset' }).click();
    await p.getByTestId('dataset-summary').waitFor({ timeout: 2 * MINUTE });
    await setNumber(p, 'Training images to use (0 = all)', 8);
    await setNumber(p, 'Validation images to use (0 = all)', 4);
  }

  test('trains a few steps on the demo dataset, evaluates, saves and downloads the adapter', async () => {
    test.setTimeout(20 * MINUTE);
    const from = hub.log.length;
    await openDemo(page);
    await tab(page, 'Train');
    await setNumber(page, 'Batch size', 2);
    await setNumber(page, 'Length', 3);
    await setNumber(page, 'Warm-up steps', 1);
    if (!(await page.getByLabel('Validate every (steps)').isVisible())) await page.getByText('More settings').click();
    await setNumber(page, 'Validate every (steps)', 0);
    await page.getByLabel('Adapter name').fill('hub captions');
    await page.getByRole('button', { name: 'Start training' }).click();
    await expect.poll(() => page.getByTestId('run-status').innerText(), { timeout: 15 * MINUTE, intervals: [2000] }).toBe('Done');
    const trainLoss = (await page.getByTestId('train-loss').innerText()).split(' → ').map(Number);
    console.log(`train loss ${trainLoss.join(' → ')}`);
    expect(trainLoss.every(Number.isFinite)).toBe(true);

    await tab(page, 'Evaluate');
    expect(await page.getByTestId('metrics-table').innerText()).toMatch(/CIDEr-D/);
    expect(await page.getByTestId('gallery-row').count()).toBeGreaterThan(0);

    await tab(page, 'Train');
    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Download adapter (.safetensors)' }).click();
    const saved = await download;
    expect(saved.suggestedFilename()).toBe('hub-captions.safetensors');
    adapterPath = await saved.path();
    const bytes = readFileSync(adapterPath);
    const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8'));
    expect(header.__metadata__.base_model).toBe(`hub:${REPO}@${sha}`);
    // Training and evaluating asked nothing of the Hub.
    expect(since(from)).toEqual([]);
    expectOnlyStudioAndHub(studioFrom);
  });

  test('after a reload it loads again from this browser: no file is downloaded again', async () => {
    test.setTimeout(6 * MINUTE);
    await page.reload();
    await page.getByRole('tab', { name: /Model/ }).waitFor();
    const from = hub.log.length;
    const started = Date.now();
    await loadFromHub(page);
    console.log(`loaded from the Hub in ${(firstLoad / 1000).toFixed(1)} s, again from the cache in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(fileRequests(since(from))).toEqual([]);
    expect(since(from).map((e) => e.url)).toEqual([`/api/models/${REPO}/revision/main?blobs=true`]);
    expect(await page.getByTestId('hub-download').innerText()).toMatch(/^nothing downloaded, [\d.]+ KB already in this browser$/);
    expect(await page.getByTestId('model-card').innerText()).toContain(`hub:${REPO}@${sha}`);
    await tab(page, 'Adapters');
    await expect.poll(() => page.getByTestId('adapter-name').allInnerTexts()).toContain('hub captions');
    expectOnlyStudioAndHub(studioFrom);
  });

  test('a reload mid-run: the studio loads the Hub model again by itself, from this browser, and the run resumes', async () => {
    test.setTimeout(15 * MINUTE);
    await openDemo(page);
    await tab(page, 'Train');
    await setNumber(page, 'Batch size', 2);
    await setNumber(page, 'Length', 8);
    await setNumber(page, 'Warm-up steps', 1);
    if (!(await page.getByLabel('Checkpoint every (steps)').isVisible())) await page.getByText('More settings').click();
    await setNumber(page, 'Validate every (steps)', 0);
    await setNumber(page, 'Checkpoint every (steps)', 2);
    await page.getByLabel('Adapter name').fill('hub resumed');
    await page.getByRole('button', { name: /^Start (training|a new run)$/ }).click();
    const checkpointStep = async () => Number(/step (\d+)/.exec(await page.getByTestId('checkpoint-step').innerText().catch(() => ''))?.[1] ?? -1);
    await expect.poll(checkpointStep, { timeout: 10 * MINUTE, intervals: [200] }).toBeGreaterThanOrEqual(2);
    await page.reload();
    await page.getByRole('tab', { name: /Model/ }).waitFor();
    await tab(page, 'Train');
    const offer = page.getByTestId('interrupted-run');
    await offer.waitFor({ timeout: MINUTE });
    expect(await offer.innerText()).toContain(`model hub:${REPO}@${sha}, which the studio loads again from hf://${REPO}@${sha}`);
    const from = hub.log.length;
    await offer.getByRole('button', { name: 'Resume' }).click();
    await expect.poll(() => page.getByTestId('run-status').innerText(), { timeout: 10 * MINUTE, intervals: [1000] }).toBe('Done');
    expect(await page.getByTestId('status-line').innerText()).toContain(`Model: hub:${REPO}@${sha}`);
    // The commit was known: neither the revision nor a file was asked of the Hub.
    expect(since(from)).toEqual([]);
    expectOnlyStudioAndHub(studioFrom);
  });

  test('its adapter, imported on the bundled default model, is refused with what to do', async () => {
    test.setTimeout(5 * MINUTE);
    await tab(page, 'Model');
    await page.getByRole('button', { name: 'Load the default model' }).click();
    await expect.poll(() => page.getByTestId('model-card').innerText(), { timeout: 4 * MINUTE }).toMatch(/pali-scenes-default/);
    await tab(page, 'Adapters');
    await page.getByTestId('adapter-drop-files').setInputFiles([file('hub-captions.safetensors', new Uint8Array(readFileSync(adapterPath)))]);
    const text = await alertText(page);
    expect(text).toMatch(new RegExp(`trained for model "hub:${REPO}@${sha}", the loaded model is "pali-scenes-default"`));
    expect(text).toMatch(new RegExp(`What to do: Load model "hub:${REPO}@${sha}" first`));
    await dismissAlerts(page);
    expectOnlyStudioAndHub(studioFrom);
  });
});

test.describe('the production build: the Hub is huggingface.co, whatever the page\'s address says', () => {
  let production: { url: string; close(): Promise<void> };
  let page: Page;

  test.beforeAll(async () => {
    test.setTimeout(HOOK_TIMEOUT);
    production = await startProductionServer();
    page = await openStudio(browser, `${production.url}/?hubEndpoint=${encodeURIComponent(hub.url)}`);
    // Nothing may leave the machine: any request to the Hub's hosts is cut here, before the network.
    await page.context().route(/^https:\/\/([\w-]+\.)*(huggingface\.co|hf\.co)\//, (route) => route.abort('internetdisconnected'));
  });

  test.afterAll(async () => {
    await page?.context().close();
    await production?.close();
  });

  test('?hubEndpoint is ignored: the studio asks huggingface.co (cut off here), never the stand-in', async () => {
    test.setTimeout(3 * MINUTE);
    await tab(page, 'Model');
    const card = page.getByTestId('hub-card');
    expect(await card.innerText()).not.toMatch(/Development build/);
    const from = hub.log.length;
    await card.getByLabel('Repository').fill(REPO);
    await card.getByRole('button', { name: 'Download from the Hub' }).click();
    const alert = card.getByRole('alert');
    await alert.waitFor({ timeout: MINUTE });
    expect(await alert.innerText()).toMatch(/Cannot reach the Hugging Face Hub \(huggingface\.co\)[\s\S]*What to do: Check your connection/);
    expect(since(from)).toEqual([]);
    // The error names the host the worker asked: huggingface.co. The request was cut off by the route, or refused
    // by the worker's Content-Security-Policy before it left (Chromium does not always report a worker's refusal
    // to the console, so neither is required here).
    const asked = recordedRequests(page).filter((u) => /^https:\/\/([\w-]+\.)*(huggingface\.co|hf\.co)\//.test(u));
    console.log(`production: asked of the Hub's hosts (cut off by the test): ${asked.join(' | ') || 'nothing'}; `
      + `refused by the Content-Security-Policy: ${policyRefusals(page).join(' | ') || 'nothing reported'}`);
    expect(recordedRequests(page).filter((u) => u.startsWith(hub.url))).toEqual([]);
  });
});
