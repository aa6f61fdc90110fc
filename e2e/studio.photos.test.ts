/**
 * Photos as a new user brings them (issue 12), in headless Chromium with real WebGPU: a zip of mixed formats —
 * baseline, progressive, grey, CMYK, YCCK and EXIF-rotated JPEGs, WebP (one in a subfolder), AVIF, GIF, BMP,
 * PNG of every kind, a 1×1 PNG — listed by a metadata.jsonl with a BOM and CRLF line ends, plus three files
 * that are not images. The studio uses every image, reports the three bad files and leaves them out of the
 * counts, trains without NaN and downloads an adapter; `npm run train` on the same zip reads the same
 * examples (src/cli/photos.test.ts). The production build, as people get it.
 */
import { readFileSync } from 'node:fs';
import { expect, test, type Browser, type Page } from '@playwright/test';
import { mixedPhotoZip, photoFixtures } from '../src/data/testing/photoFixtures.ts';
import { HOOK_TIMEOUT, launchChromium, lowerGpuProcessPriority } from './support/browser.ts';
import { expectOnlyOwnOrigin } from './support/requests.ts';
import { file, openStudio, screenshot, setNumber, startProductionServer, tab } from './support/studio.ts';

const MINUTE = 60_000;
const fixtures = photoFixtures();
const good = fixtures.filter((f) => !f.bad);
const bad = fixtures.filter((f) => f.bad);
/** The split's training images, all of which the run uses (the first test reads them). */
let trainImages = 0;

let server: { url: string; close(): Promise<void> };
let browser: Browser;
let page: Page;

test.beforeAll(async () => {
  test.setTimeout(HOOK_TIMEOUT);
  server = await startProductionServer();
  browser = await launchChromium();
  page = await openStudio(browser, server.url);
});

test.afterEach(() => {
  if (page) expectOnlyOwnOrigin(page);
});

test.afterAll(async () => {
  await browser?.close();
  await server?.close();
});

test.describe('studio, a zip of photos in every format', () => {
  // The second test trains on what the first loaded: after a failure, the rest does not run.
  test.describe.configure({ mode: 'serial' });

  test('uses every image, reports the bad files and leaves them out of the counts', async () => {
    test.setTimeout(8 * MINUTE);
    await tab(page, 'Model');
    await page.getByRole('button', { name: 'Load the default model' }).click();
    await page.getByTestId('model-card').waitFor({ timeout: 4 * MINUTE });
    await tab(page, 'Dataset');
    await page.getByTestId('dataset-drop-files').setInputFiles([file('mixed-photos.zip', mixedPhotoZip(), 'application/zip')]);
    await page.getByTestId('dataset-summary').waitFor({ timeout: 3 * MINUTE });
    expect(await page.getByTestId('dataset-images').innerText()).toBe(String(good.length));
    const report = await page.getByTestId('skipped-report').innerText();
    for (const f of bad) expect(report, `${f.file} reported`).toContain(f.file);
    for (const f of good) expect(report, `${f.file} not reported`).not.toContain(f.file);
    // Every readable image is in the split, for training or validation.
    const split = (await page.getByTestId('split-summary').innerText()).replace(/\s+/g, ' ');
    console.log(`split: ${split}`);
    const [, train, validation] = split.match(/Training: (\d+) images.*Validation: (\d+) images/) ?? [];
    expect(Number(train) + Number(validation)).toBe(good.length);
    trainImages = Number(train);
    await screenshot(page, 'dataset-mixed-photos');
  });

  // The run trains on every training image of the split; the evaluation after it, which captions each validation
  // image frozen and adapted (several seconds each on SwiftShader), on one (every image was decoded by the test
  // above; e2e/images.browser.test.ts compares each format's pixels in Chromium with Pillow's).
  test('trains without NaN and downloads the adapter', async () => {
    test.setTimeout(14 * MINUTE);
    await tab(page, 'Dataset');
    await setNumber(page, 'Validation images to use (0 = all)', 1);
    await expect.poll(async () => (await page.getByTestId('split-summary').innerText()).replace(/\s+/g, ' '))
      .toMatch(new RegExp(`Training: ${trainImages} images.*Validation: 1 images`));
    await tab(page, 'Train');
    await setNumber(page, 'Batch size', 2);
    await setNumber(page, 'Length', 3);
    await setNumber(page, 'Warm-up steps', 1);
    await page.getByText('More settings').click();
    await setNumber(page, 'Validate every (steps)', 0);
    await page.getByLabel('Adapter name').fill('mixed photos');
    const restorePriority = lowerGpuProcessPriority();
    try {
      await page.getByRole('button', { name: 'Start training' }).click();
      await expect.poll(() => page.getByTestId('run-status').innerText(), { timeout: 10 * MINUTE, intervals: [2000] }).toMatch(/Evaluating|Done|Stopped/);
    } finally {
      restorePriority();
    }
    expect(await page.getByRole('alert').allInnerTexts(), 'no error').toEqual([]);
    await expect.poll(() => page.getByTestId('run-status').innerText(), { timeout: 10 * MINUTE, intervals: [2000] }).toBe('Done');
    const trainLoss = (await page.getByTestId('train-loss').innerText()).split(' → ').map(Number);
    console.log(`train loss ${trainLoss.join(' → ')}`);
    expect(trainLoss.every(Number.isFinite)).toBe(true);
    await screenshot(page, 'train-mixed-photos');

    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Download adapter (.safetensors)' }).click();
    const bytes = readFileSync(await (await download).path());
    const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8'));
    expect(header.__metadata__.base_model).toBe('pali-scenes-default');
    expect(header['image.wup'].shape).toEqual([64, 256]);
  });
});
