// Builds .kernelcheck/ at the repository root: the kernel tests (+ timings) bundled into one ES module
// that plain Node runs without vitest, plus what a bare GPU machine lacks (the node binary, dawn.node and
// the Vulkan loader, compressed). Usage, from the repository root:
//   echo /.kernelcheck/ >> .git/info/exclude   # once
//   node bench/kernels-on-gpu/build.mjs [--no-runtime]
// then on the device machine (carry [".kernelcheck"]): bash .kernelcheck/run.sh
// Locally, over SwiftShader: node .kernelcheck/kernels.check.mjs (needs node_modules/webgpu).
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const out = join(root, '.kernelcheck');
const { build } = await import(join(root, 'node_modules/esbuild/lib/main.js'));

const raw = {
  name: 'wgsl-raw',
  setup(b) {
    b.onResolve({ filter: /\?raw$/ }, (args) => ({ path: resolve(args.resolveDir, args.path.slice(0, -4)), namespace: 'raw' }));
    b.onLoad({ filter: /.*/, namespace: 'raw' }, async (args) => ({ contents: await readFile(args.path, 'utf8'), loader: 'text' }));
  },
};
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
  const webgpu = join(out, 'node_modules/webgpu');
  mkdirSync(join(webgpu, 'dist/linux-x64'), { recursive: true });
  for (const f of ['index.js', 'package.json']) copyFileSync(join(root, 'node_modules/webgpu', f), join(webgpu, f));
  const xz = (from, to) => existsSync(to) || writeFileSync(to, execFileSync('xz', ['-T0', '-6', '-c', from], { maxBuffer: 1 << 30 }));
  xz(join(root, 'node_modules/webgpu/dist/linux-x64/dawn.node'), join(webgpu, 'dist/linux-x64/dawn.node.xz'));
  xz(process.execPath, join(out, 'node.xz'));
  mkdirSync(join(out, 'gl'), { recursive: true });
  if (!readdirSync(join(out, 'gl')).some((f) => f.startsWith('libvulkan1'))) {
    // The NVIDIA ICD needs the Vulkan loader and libglvnd (GPU machines have neither).
    mkdirSync('/tmp/amd64/partial', { recursive: true });
    const o = ['-oAPT::Architecture=amd64', '-oAPT::Architectures=amd64', '-oDir::State::Lists=/tmp/amd64'];
    execFileSync('apt-get', [...o, 'update'], { stdio: 'ignore' });
    execFileSync('apt-get', [...o, 'download', 'libvulkan1', 'libegl1', 'libglvnd0', 'libopengl0', 'libgl1', 'libglx0', 'libgles2'], {
      cwd: join(out, 'gl'),
      stdio: 'ignore',
    });
  }
  copyFileSync(join(here, 'run.sh'), join(out, 'run.sh'));
}
console.log(`built ${out}`);
