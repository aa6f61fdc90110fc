// Builds .devcarry/: the engine's command-line programs bundled into plain ES modules plus the runtime a bare
// GPU machine lacks (runtime.mjs), so that they run there in Node over Dawn with no npm and no network.
// Usage, from the repository root:
//   echo /.devcarry/ >> .git/info/exclude   # once
//   node bench/gpu-runtime/build.mjs
// then through the device tool (carry [".devcarry"]):
//   . .devcarry/setup.sh && $NODE --liftoff-only .devcarry/report.mjs --steps 1000
// Each bundle takes the same arguments as its `npm run` script (package.json).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { esbuild, packGpuRuntime, packOnnxRuntimeWeb, rawImports, root, SETUP_SH } from './runtime.mjs';

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
    // Both load native code or wasm relative to their own files: they stay packages (packed below).
    external: ['webgpu', 'onnxruntime-web', 'onnxruntime-web/*'],
    // CommonJS dependencies (cli-progress) call require(): give the bundle one.
    banner: { js: "import { createRequire as __adalinkRequire } from 'node:module'; const require = __adalinkRequire(import.meta.url);" },
    plugins: [rawImports],
    logLevel: 'warning',
  });
}
packGpuRuntime(out);
packOnnxRuntimeWeb(out);
writeFileSync(join(out, 'setup.sh'), SETUP_SH);
console.log(`built ${out}: ${Object.keys(ENTRIES).join(', ')} + runtime`);
