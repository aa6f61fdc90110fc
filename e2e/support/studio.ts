/**
 * Driving the studio page as a person would: tabs by their names, buttons by their labels, files
 * through the drop zones' pickers. Screenshots go to e2e/screenshots/ (git-ignored).
 */
import { mkdirSync } from 'node:fs';
import { expect, type Browser, type Page } from '@playwright/test';
import { recordRequests } from './requests.ts';

export const SCREENSHOTS = 'e2e/screenshots';
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };
export type TabName = 'Model' | 'Dataset' | 'Train' | 'Evaluate' | 'Adapters' | 'Playground';

/** Opens the studio in a context of its own; its requests (and its workers') are recorded for expectOnlyOwnOrigin. */
export async function openStudio(browser: Browser, url: string, viewport = DESKTOP): Promise<Page> {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  recordRequests(page, url);
  page.on('console', (m) => {
    if (m.type() === 'error') console.error(`[page] ${m.text()}`);
  });
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  // A file the server could not give (the worker's script, a module) explains a later timeout.
  page.on('response', (r) => {
    if (r.status() >= 400) console.error(`[page] HTTP ${r.status()} ${r.url()}`);
  });
  await page.goto(url);
  await page.getByRole('tab', { name: /Model/ }).waitFor();
  return page;
}

export async function tab(page: Page, name: TabName): Promise<void> {
  await page.getByRole('tab', { name: new RegExp(name) }).click();
  await page.getByTestId(`panel-${name.toLowerCase()}`).waitFor();
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: `${SCREENSHOTS}/${name}.png`, fullPage: true });
}

/** The error box's text, once one appears in the current panel. */
export async function alertText(page: Page, timeout = 60_000): Promise<string> {
  const alert = page.getByRole('alert').first();
  await alert.waitFor({ timeout });
  return alert.innerText();
}

export async function dismissAlerts(page: Page): Promise<void> {
  while (await page.getByRole('alert').count() > 0) {
    const dismiss = page.getByRole('alert').first().getByRole('button', { name: 'Dismiss' });
    if (await dismiss.count() === 0) break;
    await dismiss.click();
  }
}

export async function loadModelFromUrl(page: Page, url: string, timeout = 180_000): Promise<void> {
  await tab(page, 'Model');
  await page.getByLabel('Model package URL').fill(url);
  await page.getByRole('button', { name: 'Load from URL' }).click();
  await page.getByTestId('model-card').waitFor({ timeout });
}

export async function setNumber(page: Page, label: string | RegExp, value: number): Promise<void> {
  await page.getByLabel(label, { exact: typeof label === 'string' }).fill(String(value));
}

/** The page is no wider than the viewport: nothing to scroll sideways. */
export async function expectNoSidewaysScroll(page: Page): Promise<void> {
  const { scroll, width } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
  expect(scroll, 'page wider than the screen').toBeLessThanOrEqual(width);
}

/** Starts recording main-thread long tasks (PerformanceObserver 'longtask'). */
export async function recordLongTasks(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { longTasks: Array<{ start: number; duration: number; scripts?: string }> };
    w.longTasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.longTasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask' });
    // Long animation frames say which script ran in them: kept alongside, to explain a long task.
    new PerformanceObserver((list) => {
      type Frame = PerformanceEntry & {
        renderStart: number; styleAndLayoutStart: number;
        scripts?: Array<{ invoker: string; sourceFunctionName: string; duration: number; forcedStyleAndLayoutDuration: number }>;
      };
      for (const e of list.getEntries() as Frame[]) {
        if (e.duration > 50) {
          const end = e.startTime + e.duration;
          // Where the frame's time went: scripts, then rendering (style and layout, then paint), the rest waiting.
          const scripts = (e.scripts ?? []).map((x) => `${x.invoker} ${x.sourceFunctionName} ${x.duration.toFixed(0)} ms`
            + (x.forcedStyleAndLayoutDuration > 1 ? ` (forced layout ${x.forcedStyleAndLayoutDuration.toFixed(0)} ms)` : '')).join('; ') || 'no script';
          const render = e.renderStart > 0 ? `render ${(end - e.renderStart).toFixed(0)} ms (style+layout ${(end - e.styleAndLayoutStart).toFixed(0)} ms)` : 'no render';
          w.longTasks.push({ start: e.startTime, duration: -e.duration, scripts: `${scripts}; ${render}` });
        }
      }
    }).observe({ type: 'long-animation-frame' });
  });
}

/**
 * Starts counting the WebGPU work the page's own thread submits (queue.submit, buffers made): training runs in
 * the engine's worker, so this stays 0 while it trains. Read with `mainThreadGpuWork`.
 */
export async function recordMainThreadGpuWork(page: Page): Promise<void> {
  const counted = await page.evaluate(async () => {
    const counts = { submits: 0, buffers: 0 };
    (window as unknown as { mainThreadGpuWork: typeof counts }).mainThreadGpuWork = counts;
    const submit = GPUQueue.prototype.submit;
    GPUQueue.prototype.submit = function (this: GPUQueue, ...args: Parameters<GPUQueue['submit']>) {
      counts.submits++;
      return submit.apply(this, args);
    };
    const createBuffer = GPUDevice.prototype.createBuffer;
    GPUDevice.prototype.createBuffer = function (this: GPUDevice, ...args: Parameters<GPUDevice['createBuffer']>) {
      counts.buffers++;
      return createBuffer.apply(this, args);
    };
    // The counters count: one buffer and one submit of the page's own, then back to 0.
    const device = await (await navigator.gpu.requestAdapter())!.requestDevice();
    device.createBuffer({ size: 4, usage: GPUBufferUsage.COPY_DST }).destroy();
    device.queue.submit([device.createCommandEncoder().finish()]);
    const counted = counts.submits === 1 && counts.buffers === 1;
    device.destroy();
    counts.submits = 0;
    counts.buffers = 0;
    return counted;
  });
  expect(counted, 'the page\'s WebGPU calls are counted').toBe(true);
}

export async function mainThreadGpuWork(page: Page): Promise<{ submits: number; buffers: number }> {
  return page.evaluate(() => (window as unknown as { mainThreadGpuWork: { submits: number; buffers: number } }).mainThreadGpuWork);
}

/** Long tasks (duration > 0) and long animation frames (duration < 0, with the scripts that ran). */
export async function longTasks(page: Page): Promise<Array<{ start: number; duration: number; scripts?: string }>> {
  return page.evaluate(() => (window as unknown as { longTasks: Array<{ start: number; duration: number; scripts?: string }> }).longTasks);
}

export function file(name: string, data: Uint8Array | string, mimeType = 'application/octet-stream') {
  return { name, mimeType, buffer: Buffer.from(typeof data === 'string' ? new TextEncoder().encode(data) : data) };
}

/**
 * The studio as people get it: a production build (`vite build`, into a temporary folder) served by
 * `vite preview`. React's development build, which the dev server serves, is several times slower, and
 * main-thread timings are about the shipped app.
 */
export async function startProductionServer(): Promise<{ url: string; close(): Promise<void> }> {
  const { build, preview } = await import('vite');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const outDir = mkdtempSync(join(tmpdir(), 'adalink-studio-'));
  // Vite builds for the NODE_ENV it finds, and a test runner may have set it (vitest: 'test'): that bundle
  // would be React's development build (several times slower to render, and what the long-task check would
  // then measure).
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({ configFile: 'vite.config.ts', mode: 'production', logLevel: 'error', build: { outDir, emptyOutDir: true } });
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  }
  const server = await preview({ configFile: 'vite.config.ts', logLevel: 'error', build: { outDir }, preview: { port: 0, strictPort: false } });
  const address = server.httpServer.address();
  if (!address || typeof address === 'string') throw new Error('vite preview did not listen on a TCP port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    async close() {
      await server.close();
      rmSync(outDir, { recursive: true, force: true });
    },
  };
}
