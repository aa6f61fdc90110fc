/**
 * The privacy checks can fail, shown without a network: a page served by Playwright routes (origin
 * http://app.test) asks http://example.invalid for something, from the page, from a worker of its own
 * origin and from a blob: worker.
 * - Without a policy the requests leave the page (each routed to an abort here, so nothing goes out): the
 *   recorder that every e2e test ends with (expectOnlyOwnOrigin) sees all three and fails.
 * - With the studio's Content-Security-Policy (vite.config.ts; the production build's <meta>, and the
 *   header `vite preview` sends with the worker's script) the browser refuses them before they leave.
 */
import { expect, test, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { CONTENT_SECURITY_POLICY } from '../vite.config.ts';
import { HOOK_TIMEOUT, launchChromium } from './support/browser.ts';
import { expectOnlyOwnOrigin, foreignRequests, policyRefusals, recordedRequests, recordRequests } from './support/requests.ts';

const APP = 'http://app.test';
const FOREIGN = 'http://example.invalid';

/** Reports a CSP refusal (securitypolicyviolation) to the page, then asks the foreign origin from a worker. */
const workerScript = (from: string) => `
  self.addEventListener('securitypolicyviolation', (e) => postMessage('refused ' + e.blockedURI));
  fetch('${FOREIGN}/from-${from}').then(() => postMessage('answered'), () => postMessage('failed'));`;

const pageHtml = (policy: string | undefined) => `<!doctype html><html><head>
  ${policy ? `<meta http-equiv="Content-Security-Policy" content="${policy}">` : ''}
  <script src="/main.js"></script></head><body></body></html>`;

/** Counts what happened: refusals by the policy (page and workers), and the three fetches settling (or failing to start). */
const mainScript = `
  window.outcome = { refused: [], settled: 0 };
  const note = (m) => { if (m.startsWith('refused')) window.outcome.refused.push(m.slice(8)); else window.outcome.settled++; };
  document.addEventListener('securitypolicyviolation', (e) => note('refused ' + e.blockedURI));
  fetch('${FOREIGN}/from-page').then(() => note('answered'), () => note('failed'));
  new Worker('/worker.js').onmessage = (e) => note(e.data);
  // A blob: worker the policy refuses does not start: its error event settles it.
  const blob = new Worker(URL.createObjectURL(new Blob([${JSON.stringify(workerScript('blob-worker'))}], { type: 'text/javascript' })));
  blob.onmessage = (e) => note(e.data);
  blob.onerror = () => note('failed');`;

let browser: Browser;

test.beforeAll(async () => {
  test.setTimeout(HOOK_TIMEOUT);
  browser = await launchChromium();
});

test.afterAll(async () => {
  await browser?.close();
});

/** A page of origin APP served by routes, with or without the studio's policy; the foreign origin's requests are aborted. */
async function routedPage(policy: string | undefined): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext();
  const headers = policy ? { 'Content-Security-Policy': policy } : undefined;
  await context.route(`${APP}/**`, (route) => {
    const path = new URL(route.request().url()).pathname;
    if (path === '/main.js') return route.fulfill({ contentType: 'text/javascript', body: mainScript, headers });
    if (path === '/worker.js') return route.fulfill({ contentType: 'text/javascript', body: workerScript('worker'), headers });
    return route.fulfill({ contentType: 'text/html', body: pageHtml(policy), headers });
  });
  await context.route(`${FOREIGN}/**`, (route) => route.abort('addressunreachable'));
  const page = await context.newPage();
  recordRequests(page, APP);
  await page.goto(`${APP}/`);
  await page.waitForFunction(() => (window as unknown as { outcome: { settled: number } }).outcome?.settled === 3, undefined, { timeout: 30_000 });
  return { context, page };
}

test.describe('requests to other origins', () => {
  test('without a policy: the recorder sees the page\'s and its workers\' foreign requests, and expectOnlyOwnOrigin fails', async () => {
    const { context, page } = await routedPage(undefined);
    try {
      expect(foreignRequests(page).sort()).toEqual([`${FOREIGN}/from-blob-worker`, `${FOREIGN}/from-page`, `${FOREIGN}/from-worker`]);
      expect(recordedRequests(page)).toContain(`${APP}/worker.js`);
      expect(() => expectOnlyOwnOrigin(page)).toThrow(/requests to origins other than http:\/\/app\.test/);
      expect(policyRefusals(page)).toEqual([]);
    } finally {
      await context.close();
    }
  });

  test('with the studio\'s Content-Security-Policy: the browser refuses them all before they leave', async () => {
    const { context, page } = await routedPage(CONTENT_SECURITY_POLICY);
    try {
      const { refused } = await page.evaluate(() => (window as unknown as { outcome: { refused: string[] } }).outcome);
      // The page's fetch and its worker's are refused by connect-src, the blob: worker by worker-src.
      expect([...new Set(refused)].sort()).toEqual(['blob', `${FOREIGN}/from-page`, `${FOREIGN}/from-worker`]);
      // Nothing reached the network, and the recorder reports the refusals it read in the console.
      expect(foreignRequests(page)).toEqual([]);
      expect(policyRefusals(page).join('\n')).toMatch(/Connecting to 'http:\/\/example\.invalid\/from-page' violates the following Content Security Policy directive: "connect-src 'self' https:\/\/huggingface\.co/);
      expect(() => expectOnlyOwnOrigin(page)).toThrow(/requests to origins other than/);
    } finally {
      await context.close();
    }
  });
});
