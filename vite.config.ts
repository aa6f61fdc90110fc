import { defineConfig, type Plugin } from 'vite';

/**
 * What the production page may load (issue 6, privacy): everything from its own origin — the models and
 * onnxruntime-web's .wasm are served with the app — and, for a model the person asks for by name, the Hugging
 * Face Hub's files (huggingface.co, which redirects large files to its CDN hosts under hf.co; only
 * src/worker/hubSource.ts asks them, only for model files). Nothing from anywhere else. `wasm-unsafe-eval`
 * lets WebAssembly compile (ORT); images and downloads are also `blob:` and `data:` URLs made in the page;
 * React sets `style` attributes, hence 'unsafe-inline' for styles (no inline scripts are allowed).
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "connect-src 'self' https://huggingface.co https://*.huggingface.co https://*.hf.co",
  "img-src 'self' blob: data:",
  "worker-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
].join('; ');

/**
 * The policy as a <meta> in the built index.html, for any static host. Only for the build: the dev server
 * injects inline scripts of its own. A <meta> policy binds the page; the engine worker is bound by the policy
 * of its own response, so `vite preview` sends it as a header too (a host should do the same).
 */
function contentSecurityPolicy(): Plugin {
  return {
    name: 'adalink-content-security-policy',
    apply: 'build',
    transformIndexHtml: () => [{ tag: 'meta', attrs: { 'http-equiv': 'Content-Security-Policy', content: CONTENT_SECURITY_POLICY }, injectTo: 'head-prepend' }],
  };
}

export default defineConfig({
  plugins: [contentSecurityPolicy()],
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
  preview: { host: '127.0.0.1', headers: { 'Content-Security-Policy': CONTENT_SECURITY_POLICY } },
});
