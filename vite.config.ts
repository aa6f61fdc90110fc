import { defineConfig } from 'vite';

export default defineConfig({
  // onnxruntime-web finds its .wasm next to its own module; pre-bundling would move the module away.
  optimizeDeps: {
    exclude: ['onnxruntime-web'],
    // The dev server pre-bundles what its scan finds, and its scan does not follow `new Worker(…)`: without
    // the worker here its dependencies were found only when a page first ran it, and re-bundling them then
    // could leave that worker waiting on a module that never came.
    entries: ['index.html', 'e2e/pages/*.html', 'src/worker/engineWorker.ts'],
  },
  worker: { format: 'es' },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
});
