import { setFlagsFromString } from 'node:v8';
import { defineConfig } from '@playwright/test';
import { CHROMIUM, CHROMIUM_ARGS } from './e2e/support/chromium.ts';
// The tests run some of the engine's code in Node too (e2e/engine.browser.test.ts trains over Dawn): its
// `*.wgsl?raw` imports read as Vite reads them, as in the command-line programs (package.json's scripts).
import './src/cli/rawImports.mjs';

// This file loads in Playwright's runner and again in each worker, before the test files: what
// vitest.config.ts gives its test processes is given here.
// onnxruntime-web's wasm takes V8's optimising compiler ~40 s on its first run in Node; the baseline
// compiler is enough, as the work is on the GPU (vitest: execArgv --liftoff-only).
setFlagsFromString('--liftoff-only');
// Node's WebGPU (Dawn) finds SwiftShader through Chromium's Vulkan driver (docs/TESTING.md).
process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';
// Images other than PNG decode in Node through sharp, as in the command-line programs (vitest: setupFiles).
if (process.env.TEST_WORKER_INDEX !== undefined) await import('./src/cli/testSetup.ts');

// The browser tests (e2e/*.test.ts), on Debian's Chromium with WebGPU over SwiftShader: no browser download.
// One GPU (SwiftShader on CI) and two cores: one worker, files one after another.
export default defineConfig({
  testDir: 'e2e',
  testMatch: /e2e\/[^/]+\.test\.ts$/,
  workers: 1,
  fullyParallel: false,
  retries: 0,
  // A test's own budget; a file's beforeAll sets its own (HOOK_TIMEOUT, e2e/support/browser.ts: 300 s).
  timeout: 180_000,
  reporter: [['list'], ['./e2e/support/playwrightSummaryReporter.ts']],
  // Every file is slow on SwiftShader, and they run one after another on purpose: no hint to parallelise.
  reportSlowTests: null,
  // The tests launch this Chromium themselves (e2e/support/browser.ts, one per file); Playwright's own
  // `browser` and `page` fixtures would get the same.
  use: {
    browserName: 'chromium',
    launchOptions: { executablePath: CHROMIUM, args: CHROMIUM_ARGS },
  },
});
