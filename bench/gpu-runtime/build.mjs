// Builds .devcarry/: the engine's command-line programs bundled into plain ES modules plus the runtime a bare
// GPU machine lacks (runtime.mjs), so that they run there in Node over Dawn with no npm and no network.
// Usage, from the repository root:
//   echo /.devcarry/ >> .git/info/exclude   # once
//   node bench/gpu-runtime/build.mjs [--only adapter-parity,bench-kernels] [--no-sharp]
// --only bundles just those programs; --no-sharp leaves sharp and libvips (7.6 MB) out, so that the carry and the
// working tree (29 MB) fit in one call's 64 MiB: PNG and GIF still decode (src/data/images.ts decodes them in
// JavaScript), any other image fails saying sharp was not carried.
// then through the device tool (carry [".devcarry"]):
//   . .devcarry/setup.sh && $NODE --require .devcarry/threadPool.cjs --liftoff-only .devcarry/report.mjs --steps 1000
// Each bundle takes the same arguments as its `npm run` script (package.json).
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { esbuild, packGpuRuntime, packOnnxRuntimeWeb, packSharp, rawImports, root, SETUP_SH } from './runtime.mjs';

/** Bundle name → entry point. */
const ENTRIES = {
  train: 'src/cli/train.ts',
  evaluate: 'src/cli/evaluate.ts',
  'adapter-parity': 'src/cli/adapterParity.ts',
  report: 'src/cli/report.ts',
  'bench-gpu': 'bench/sideBySide.ts',
  'bench-train': 'bench/trainStep.ts',
  'bench-vjp': 'bench/vjpRun.ts',
  'bench-dispatch': 'bench/dispatchCost.ts',
  'bench-kernels': 'bench/kernelRoofline.ts',
  'bench-kernel-tiles': 'bench/kernelTiles.ts',
  'bench-images': 'bench/imageCache.ts',
};

const { values: args } = parseArgs({ options: { only: { type: 'string' }, 'no-sharp': { type: 'boolean', default: false } } });
const wanted = args.only ? args.only.split(',') : Object.keys(ENTRIES);
const unknown = wanted.filter((name) => !(name in ENTRIES));
if (unknown.length) throw new Error(`--only: no program ${unknown.join(', ')} (there are ${Object.keys(ENTRIES).join(', ')})`);

/** Without --no-sharp's libraries, sharp's import is a module that says so when an image needs it. */
const noSharp = {
  name: 'no-sharp',
  setup(b) {
    b.onResolve({ filter: /^sharp$/ }, () => ({ path: 'sharp', namespace: 'no-sharp' }));
    b.onLoad({ filter: /.*/, namespace: 'no-sharp' }, () => ({
      contents: "export default function sharp() { throw new Error('this bundle was built with --no-sharp (bench/gpu-runtime/build.mjs): only PNG and GIF images decode here'); }",
      loader: 'js',
    }));
  },
};

const out = join(root, '.devcarry');
mkdirSync(out, { recursive: true });
// Bundles of an earlier build, and its sharp under --no-sharp, would travel too (the packed runtime is kept: xz is slow).
for (const f of readdirSync(out)) if (f.endsWith('.mjs')) rmSync(join(out, f));
if (args['no-sharp']) for (const name of ['sharp', '@img', 'detect-libc', 'semver']) rmSync(join(out, 'node_modules', name), { recursive: true, force: true });
const { build } = await esbuild();
for (const [name, entry] of Object.entries(ENTRIES).filter(([name]) => wanted.includes(name))) {
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
    plugins: args['no-sharp'] ? [rawImports, noSharp] : [rawImports],
    logLevel: 'warning',
  });
}
packGpuRuntime(out);
packOnnxRuntimeWeb(out);
if (!args['no-sharp']) packSharp(out);
writeFileSync(join(out, 'setup.sh'), SETUP_SH);
copyFileSync(join(root, 'src/cli/threadPool.cjs'), join(out, 'threadPool.cjs'));
console.log(`built ${out}: ${wanted.join(', ')} + runtime${args['no-sharp'] ? ' (no sharp: PNG and GIF only)' : ''}`);
