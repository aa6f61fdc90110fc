// Builds .kernelcheck/ at the repository root: the kernel tests (+ timings) bundled into one ES module
// that plain Node runs without vitest, plus what a bare GPU machine lacks (the node binary, dawn.node and
// the Vulkan loader, compressed). Usage, from the repository root:
//   echo /.kernelcheck/ >> .git/info/exclude   # once
//   node bench/kernels-on-gpu/build.mjs [--no-runtime]
// then on the device machine (carry [".kernelcheck"]): bash .kernelcheck/run.sh
// Locally, over SwiftShader: node .kernelcheck/kernels.check.mjs (needs node_modules/webgpu).
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { esbuild, packGpuRuntime, rawImports as raw, root } from '../gpu-runtime/runtime.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(root, '.kernelcheck');
const { build } = await esbuild();

mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(here, 'entry.mjs')],
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile: join(out, 'kernels.check.mjs'),
  external: ['webgpu'],
  alias: { vitest: join(here, 'vitestShim.mjs') },
  // random.test.ts reads tools/tests/random_vectors.json relative to __dirname; run from the repo root.
  banner: { js: "const __dirname = process.cwd() + '/src/kernels';" },
  plugins: [raw],
  logLevel: 'warning',
});

if (!process.argv.includes('--no-runtime')) {
  packGpuRuntime(out);
  copyFileSync(join(here, 'run.sh'), join(out, 'run.sh'));
}
console.log(`built ${out}`);
