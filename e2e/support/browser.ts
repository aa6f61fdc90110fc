/**
 * Headless Chromium with real WebGPU (SwiftShader on machines without a GPU, DESIGN §6) against the
 * studio served by Vite on localhost — WebGPU needs a secure context.
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import { createServer, type ViteDevServer } from 'vite';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function startServer(): Promise<{ url: string; server: ViteDevServer }> {
  // No file watching or hot reload: an edit elsewhere in the tree must not reload a page mid-test.
  const server = await createServer({
    configFile: 'vite.config.ts', logLevel: 'error',
    server: { port: 0, strictPort: false, hmr: false, watch: null },
  });
  await server.listen();
  const address = server.httpServer!.address();
  if (!address || typeof address === 'string') throw new Error('vite did not listen on a TCP port');
  return { url: `http://127.0.0.1:${address.port}`, server };
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--enable-unsafe-webgpu',
      '--use-webgpu-adapter=swiftshader',
      '--no-sandbox',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
    ],
  });
}

/** Opens a page and forwards its console errors and crashes to the test output. */
export async function openPage(browser: Browser, url: string): Promise<Page> {
  const page = await browser.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') console.error(`[page] ${m.text()}`);
  });
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  await page.goto(url);
  return page;
}
