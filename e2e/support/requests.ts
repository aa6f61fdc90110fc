/**
 * The page talks to no one but its own origin (issue 6, privacy): every request of a page, of the
 * workers it starts and of any other page in its browser context is recorded from the moment the page
 * is opened (openStudio, openPage), and a test ends with expectOnlyOwnOrigin. data: and blob: URLs are
 * made in the page and are its own. Chromium reports a dedicated worker's requests on its context (and
 * page): e2e/ownOrigin.test.ts shows the recorder catching a foreign request from a page and from a worker.
 * What the page's Content-Security-Policy refused (the production build has one) is recorded too, from
 * the console: a refusal is something the app tried that its own policy forbids.
 */
import { expect, type ConsoleMessage, type Page } from '@playwright/test';

interface RequestLog {
  origin: string;
  urls: string[];
  refusals: string[];
}

const logs = new WeakMap<Page, RequestLog>();

/** Starts recording every request of the page's context; `appUrl` gives the app's own origin. */
export function recordRequests(page: Page, appUrl: string): void {
  const log: RequestLog = { origin: new URL(appUrl).origin, urls: [], refusals: [] };
  logs.set(page, log);
  page.context().on('request', (request) => log.urls.push(request.url()));
  page.on('websocket', (ws) => log.urls.push(ws.url()));
  const refusal = (message: ConsoleMessage) => {
    if (/Content Security Policy/.test(message.text())) log.refusals.push(message.text());
  };
  page.on('console', refusal);
  page.on('worker', (worker) => worker.on('console', refusal));
}

/** Whether `url` is the app's: its origin (a WebSocket to the same host and port included), or data: / blob:. */
function isOwn(url: string, origin: string): boolean {
  const parsed = new URL(url);
  if (parsed.protocol === 'data:' || parsed.protocol === 'blob:') return true;
  if (parsed.protocol === 'ws:' || parsed.protocol === 'wss:') return parsed.host === new URL(origin).host;
  return parsed.origin === origin;
}

function logOf(page: Page): RequestLog {
  const log = logs.get(page);
  if (!log) throw new Error('requests of this page are not recorded: open it with openStudio or openPage, or call recordRequests');
  return log;
}

/** Every request recorded so far. */
export function recordedRequests(page: Page): string[] {
  return [...logOf(page).urls];
}

/** The recorded requests to any origin but the app's, each once. */
export function foreignRequests(page: Page): string[] {
  const { origin, urls } = logOf(page);
  return [...new Set(urls.filter((url) => !isOwn(url, origin)))];
}

/** What the page's Content-Security-Policy refused, as the console said it, each once. */
export function policyRefusals(page: Page): string[] {
  return [...new Set(logOf(page).refusals)];
}

/**
 * Fails the test, listing them, if the page or its workers asked any other origin for anything, or tried
 * something its Content-Security-Policy refused.
 */
export function expectOnlyOwnOrigin(page: Page): void {
  const { origin } = logOf(page);
  expect({ foreignRequests: foreignRequests(page), policyRefusals: policyRefusals(page) }, `requests to origins other than ${origin}`)
    .toEqual({ foreignRequests: [], policyRefusals: [] });
}
