import { defineConfig } from 'vitest/config';

// One GPU (SwiftShader on CI) and two cores: test files run one after another, each in its own process.
// The browser tests (e2e/) run on Playwright's runner: playwright.config.ts.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    // onnxruntime-web's wasm takes V8's optimising compiler ~40 s on its first run in Node; the baseline
    // compiler is enough, as the work is on the GPU.
    execArgv: ['--liftoff-only'],
    // Images other than PNG decode in Node through sharp, as in the command-line programs.
    setupFiles: ['src/cli/testSetup.ts'],
    testTimeout: 180_000,
    hookTimeout: 300_000,
    env: {
      VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? '/usr/lib/chromium/vk_swiftshader_icd.json',
    },
    reporters: ['default', './e2e/support/summaryReporter.ts'],
  },
});
