/**
 * Which Chromium the browser tests drive, and how: Debian's, with WebGPU over SwiftShader on machines
 * without a GPU (docs/TESTING.md). One definition for playwright.config.ts and e2e/support/browser.ts.
 * No import here beyond Node's: the config loads this in Playwright's runner process as well.
 */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS: string[] = [
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader',
  '--no-sandbox',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  // Extra flags for an experiment (e.g. E2E_CHROMIUM_ARGS='--js-flags=--trace-wasm'); none in the test command.
  ...(process.env.E2E_CHROMIUM_ARGS ? process.env.E2E_CHROMIUM_ARGS.split(' ') : []),
];
