// What a bare GPU machine lacks to run the engine in Node over Dawn (docs/TESTING.md), packed into a folder that
// the device tool can carry (≤ 64 MiB): the node binary, the `webgpu` package's dawn.node, onnxruntime-web's
// WebGPU build with its wasm, and Debian's Vulkan loader + glvnd .debs (the NVIDIA ICD needs both).
// Large files are xz-compressed here and unpacked by setup.sh there. Used by build.mjs here and by
// bench/kernels-on-gpu/build.mjs.
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Lets esbuild import `*.wgsl?raw` as text, as Vite does. */
export const rawImports = {
  name: 'wgsl-raw',
  setup(b) {
    b.onResolve({ filter: /\?raw$/ }, (args) => ({ path: resolve(args.resolveDir, args.path.slice(0, -4)), namespace: 'raw' }));
    b.onLoad({ filter: /.*/, namespace: 'raw' }, async (args) => ({ contents: await readFile(args.path, 'utf8'), loader: 'text' }));
  },
};

/** esbuild, from vite's own dependency (no extra package). */
export async function esbuild() {
  return import(join(root, 'node_modules/esbuild/lib/main.js'));
}

function xz(from, to) {
  if (!existsSync(to)) writeFileSync(to, execFileSync('xz', ['-T0', '-6', '-c', from], { maxBuffer: 1 << 30 }));
}

/** Node, Dawn and the Vulkan loader into `out` (node.xz, gl/*.deb, node_modules/webgpu). */
export function packGpuRuntime(out) {
  const webgpu = join(out, 'node_modules/webgpu');
  mkdirSync(join(webgpu, 'dist/linux-x64'), { recursive: true });
  for (const f of ['index.js', 'package.json']) copyFileSync(join(root, 'node_modules/webgpu', f), join(webgpu, f));
  xz(join(root, 'node_modules/webgpu/dist/linux-x64/dawn.node'), join(webgpu, 'dist/linux-x64/dawn.node.xz'));
  // Node's symbols are 12 MB of its 99: stripped, it packs to 22 MB instead of 24.
  const stripped = join(out, 'node');
  execFileSync('strip', ['-o', stripped, process.execPath]);
  xz(stripped, join(out, 'node.xz'));
  rmSync(stripped);
  mkdirSync(join(out, 'gl'), { recursive: true });
  if (!readdirSync(join(out, 'gl')).some((f) => f.startsWith('libvulkan1'))) {
    mkdirSync('/tmp/amd64/partial', { recursive: true });
    const o = ['-oAPT::Architecture=amd64', '-oAPT::Architectures=amd64', '-oDir::State::Lists=/tmp/amd64'];
    execFileSync('apt-get', [...o, 'update'], { stdio: 'ignore' });
    execFileSync('apt-get', [...o, 'download', 'libvulkan1', 'libegl1', 'libglvnd0', 'libopengl0', 'libgl1', 'libglx0', 'libgles2'], {
      cwd: join(out, 'gl'),
      stdio: 'ignore',
    });
  }
}

/** onnxruntime-web's WebGPU build (the module Node resolves for 'onnxruntime-web/webgpu' and the wasm it loads). */
export function packOnnxRuntimeWeb(out) {
  const from = join(root, 'node_modules/onnxruntime-web');
  const to = join(out, 'node_modules/onnxruntime-web');
  mkdirSync(join(to, 'dist'), { recursive: true });
  copyFileSync(join(from, 'package.json'), join(to, 'package.json'));
  for (const f of ['ort.webgpu.bundle.min.mjs', 'ort-wasm-simd-threaded.asyncify.mjs']) copyFileSync(join(from, 'dist', f), join(to, 'dist', f));
  xz(join(from, 'dist/ort-wasm-simd-threaded.asyncify.wasm'), join(to, 'dist/ort-wasm-simd-threaded.asyncify.wasm.xz'));
}

/**
 * sharp (the Node image decoder, src/cli/nodeImageDecoder.ts) with its prebuilt libvips for linux-x64 and its
 * three small dependencies; the native libraries xz-packed (setup.sh unpacks every *.xz under node_modules).
 */
export function packSharp(out) {
  for (const name of ['sharp', '@img/colour', '@img/sharp-linux-x64', '@img/sharp-libvips-linux-x64', 'detect-libc', 'semver']) {
    const to = join(out, 'node_modules', name);
    rmSync(to, { recursive: true, force: true });
    cpSync(join(root, 'node_modules', name), to, { recursive: true, filter: (f) => !/\/(src|docs|test)$/.test(f) });
  }
  const walk = (dir) => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
  for (const file of walk(join(out, 'node_modules/@img'))) {
    if (/\.(so[.\d]*|node)$/.test(file) && statSync(file).size > 1 << 20) {
      xz(file, `${file}.xz`);
      rmSync(file);
    }
  }
}

/** The script that unpacks all of it on the GPU machine; sourced by the run scripts (sets NODE). */
export const SETUP_SH = `# Unpacks the runtime carried next to this file; source it: . <dir>/setup.sh
here="$(cd "$(dirname "\${BASH_SOURCE[0]}")" && pwd)"
for f in "$here"/gl/*.deb; do dpkg -x "$f" /; done; ldconfig
[ -x /tmp/node ] || { xz -dc "$here/node.xz" > /tmp/node && chmod +x /tmp/node; }
for f in $(find "$here/node_modules" -name '*.xz'); do [ -f "\${f%.xz}" ] || xz -dc "$f" > "\${f%.xz}"; done
if [ -z "\${VK_DRIVER_FILES:-}" ] && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
export NODE=/tmp/node
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true
`;
