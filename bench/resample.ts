/**
 * How long Pillow's resize takes on a camera photo's size: src/data/resample.ts on the CPU, and the feature
 * cache's GPU kernels (src/kernels/resampleImage.ts: resampleRows.wgsl + resampleColumns.wgsl, the upload of
 * the decoded bytes included) in Node over Dawn.
 *
 *   npm run bench:resample -- [--runs 7] [--no-gpu]
 *
 * A 4000×3000 RGB image (seeded noise on a gradient) resized to 768×768 bicubic and to 64×64 bilinear; it
 * prints the median wall time of `--runs` runs of each, after one warm-up run (GPU: to the GPU's idle).
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { installNodeWebGpu } from '../src/cli/nodeGpu.ts';
import { resampleRgb, type ResampleFilter } from '../src/data/resample.ts';
import { gpuIdle } from '../src/engine/gpuBuffers.ts';
import { ImageResampler } from '../src/kernels/resampleImage.ts';

const WIDTH = 4000;
const HEIGHT = 3000;
const CASES: { outWidth: number; outHeight: number; filter: ResampleFilter }[] = [
  { outWidth: 768, outHeight: 768, filter: 'bicubic' },
  { outWidth: 64, outHeight: 64, filter: 'bilinear' },
];

function photo(): Uint8Array {
  const rgb = new Uint8Array(WIDTH * HEIGHT * 3);
  let state = 12345;
  for (let y = 0, i = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++, i += 3) {
      state = (Math.imul(state, 1664525) + 1013904223) | 0;
      const noise = (state >>> 27) - 16;
      rgb[i] = Math.max(0, Math.min(255, ((x * 255) / WIDTH + noise) | 0));
      rgb[i + 1] = Math.max(0, Math.min(255, ((y * 255) / HEIGHT + noise) | 0));
      rgb[i + 2] = Math.max(0, Math.min(255, 128 + noise * 4));
    }
  }
  return rgb;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function timed(runs: number, work: () => unknown | Promise<unknown>): Promise<number[]> {
  await work(); // warm-up: compile the loops or the pipelines
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await work();
    times.push(performance.now() - t0);
  }
  return times;
}

const line = (what: string, times: number[]) => `${what}: ${median(times).toFixed(1)} ms median of ${times.length} ` +
  `(min ${Math.min(...times).toFixed(1)}, max ${Math.max(...times).toFixed(1)})`;

async function main(): Promise<void> {
  const argv = process.argv.slice(2).filter((a) => a !== '--'); // `npm run … -- --runs 9` passes the `--` on
  const { values: args } = parseArgs({ args: argv, options: { runs: { type: 'string', default: '7' }, 'no-gpu': { type: 'boolean' } } });
  const runs = Math.max(1, Number(args.runs));
  const cpus = os.cpus();
  console.log(`command: npm run bench:resample -- ${argv.join(' ')}`.trimEnd());
  console.log(`machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, Node ${process.version}`);
  const rgb = photo();
  for (const { outWidth, outHeight, filter } of CASES) {
    console.log(line(`CPU ${WIDTH}×${HEIGHT} → ${outWidth}×${outHeight} ${filter}`, await timed(runs, () => resampleRgb(rgb, WIDTH, HEIGHT, outWidth, outHeight, filter))));
  }
  if (args['no-gpu']) return;
  installNodeWebGpu();
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter (see src/cli/nodeGpu.ts)');
  const device = await adapter.requestDevice({ requiredLimits: { maxBufferSize: adapter.limits.maxBufferSize, maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize } });
  console.log(`GPU: ${adapter.info.vendor} ${adapter.info.description}`.trim());
  for (const { outWidth, filter } of CASES) {
    const resampler = new ImageResampler(device, { size: outWidth, resample: filter, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
    const pixels = device.createBuffer({ size: resampler.floatsPerImage * 4, usage: GPUBufferUsage.STORAGE });
    const image = { width: WIDTH, height: HEIGHT, rgb };
    console.log(line(`GPU ${WIDTH}×${HEIGHT} → ${outWidth}×${outWidth} ${filter}, upload included`, await timed(runs, async () => {
      await resampler.resize(image, pixels, 0);
      await gpuIdle(device);
    })));
    resampler.destroy();
    pixels.destroy();
  }
  device.destroy();
}

main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
