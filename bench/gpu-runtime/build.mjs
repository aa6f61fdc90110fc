// Builds .devcarry/: the engine's command-line programs bundled into plain ES modules plus the runtime a bare
// GPU machine lacks (runtime.mjs), so that they run there in Node over Dawn with no npm and no network.
// Usage, from the repository root:
//   echo /.devcarry/ >> .git/info/exclude   # once
//   node bench/gpu-runtime/build.mjs
// then through the device tool (carry [".devcarry"]):
//   . .devcarry/setup.sh && $NODE --require .devcarry/threadPool.cjs --liftoff-only .devcarry/report.mjs --steps 1000
// Each bundle takes the same arguments as its `npm run` script (package.json).
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { esbuild, packGpuRuntime, packOnnxRuntimeWeb, packSharp, rawImports, root, SETUP_SH } from './runtime.mjs';

/** Bundle name → entry point. */
const ENTRIES = {
  train: 'src/cli/train.ts',
  evaluate: 'src/cli/evaluate.ts',
  report: 'src/cli/report.ts',
  'bench-gpu': 'bench/sideBySide.ts',
  'bench-train': 'bench/trainStep.ts',
  'bench-vjp': 'bench/vjpRun.ts',
  'bench-dispatch': 'bench/dispatchCost.ts',
  'bench-kernels': 'bench/kernelRoofline.ts',
  'bench-kernel-tiles': 'bench/kernelTiles.ts',
  'bench-images': 'bench/imageCache.ts',
};

const out = join(root, '.devcarry');
mkdirSync(out, { recursive: true });
const { build } = await esbuild();
for (const [name, entry] of Object.entries(ENTRIES)) {
  await build({
    entryPoints: [join(root, entry)],
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: join(out, `${name}.mjs`),
    // These load native code or wasm relative to their own files: they stay packages (packed below).
    external: ['webgpu', 'onnxruntime-web', 'onnxruntime-web/*', 'sharp'],
    // CommonJS dependencies (cli-progress) call require(): give the bundle one.
    banner: { js: "import { createRequire as __adalinkRequire } from 'node:module'; const require = __adalinkRequire(import.meta.url);" },
    plugins: [rawImports],
    logLevel: 'warning',
  });
}
packGpuRuntime(out);
packOnnxRuntimeWeb(out);
packSharp(out);
writeFileSync(join(out, 'setup.sh'), SETUP_SH);
copyFileSync(join(root, 'src/cli/threadPool.cjs'), join(out, 'threadPool.cjs'));
console.log(`built ${out}: ${Object.keys(ENTRIES).join(', ')} + runtime`);
