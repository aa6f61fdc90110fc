import { defineConfig } from 'vite';

export default defineConfig({
  // onnxruntime-web finds its .wasm next to its own module; pre-bundling would move the module away.
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  worker: { format: 'es' },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
});
