/**
 * How the tile shapes of src/kernels/tiledMatmul.ts's defaultTile were chosen: for each shape, each tiled
 * kernel and each candidate tile, the GPU time of the wrapper that runs it (adalinkDown, adalinkUp alone;
 * adalinkBackward for the hidden-state gradient and the two partial products, the other tiles left at
 * their defaults). Not part of the table in docs/BENCHMARKS.md; a tuning aid:
 *
 *   npm run bench:kernel-tiles -- [--shapes 1024x64x32768,1024x4x32768,1024x256x32768] [--out …json]
 *
 * The JSON's `best` holds the fastest tile per kernel and tile class (tiledMatmul.ts's tileClass); the
 * roofline applies them with `--tiles <file>`, and tiledMatmul.ts's TUNED table holds the committed ones
 * (from bench/results/kernel-tiles-large.json: the defaults above; kernel-tiles-small.json:
 * --shapes 1024x64x4096,1024x64x1024,1024x4x4096,1024x4x1024,1024x256x4096,1024x256x1024,
 * 1024x4x32768:down+hidden+dWupPartials+dWdownPartials — later shapes win a class).
 * (shapes are d×r×N). On a bare GPU machine: `$NODE .devcarry/bench-kernel-tiles.mjs` after setup.sh.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { runCli, useDevice } from '../src/cli/runCli.ts';
import { gpuIdle } from '../src/engine/gpuBuffers.ts';
import { adalinkBackward, reductionChunks } from '../src/kernels/adalinkBackward.ts';
import { adalinkDown } from '../src/kernels/adalinkDown.ts';
import { adalinkUp } from '../src/kernels/adalinkUp.ts';
import { checkTileConfig, defaultTile, setTileOverride, tileClass, type TileConfig, type TiledKernel } from '../src/kernels/tiledMatmul.ts';
import { benchDevice, KEY, makeSets, timeCalls } from './kernelTiming.ts';

const C = (wgX: number, wgY: number, tm: number, tn: number, bk: number): TileConfig => ({ wgX, wgY, tm, tn, bk });
const WIDE = [
  C(16, 16, 4, 4, 16), C(16, 16, 4, 4, 8), C(16, 16, 8, 4, 16), C(16, 16, 8, 4, 8), C(16, 16, 4, 8, 16), C(16, 16, 4, 8, 8),
  C(16, 16, 8, 8, 8), C(16, 16, 8, 8, 4), C(16, 8, 8, 4, 16), C(8, 16, 8, 8, 16), C(8, 32, 4, 8, 16), C(8, 8, 8, 8, 16),
];
const NARROW = [
  C(1, 64, 4, 4, 8), C(1, 64, 4, 4, 4), C(1, 32, 4, 4, 8), C(1, 32, 4, 4, 16), C(1, 16, 4, 4, 16), C(1, 128, 4, 4, 4), C(1, 256, 4, 4, 2),
  C(1, 64, 8, 4, 4), C(1, 32, 8, 4, 8),
];
const FEW_ROWS = NARROW.map((c) => C(c.wgY, c.wgX, c.tn, c.tm, c.bk));
/** Small products (N ≤ 8192): smaller tiles, for more workgroups. */
const WIDE_SMALL = [
  C(16, 16, 4, 4, 16), C(16, 8, 4, 4, 16), C(8, 8, 4, 4, 16), C(16, 16, 8, 4, 16), C(8, 32, 4, 8, 16), C(16, 16, 4, 8, 16), C(16, 8, 8, 4, 16),
];
const key = (c: TileConfig) => `${c.wgX}x${c.wgY}.${c.tm}x${c.tn}.k${c.bk}${c.ks ? `.s${c.ks}` : ''}`;

type Target = 'down' | 'up' | 'hidden' | 'dWupPartials' | 'dWdownPartials';
const KERNEL: Record<Target, TiledKernel> = {
  down: 'adalinkDown', up: 'adalinkUp', hidden: 'adalinkHiddenGrad',
  dWupPartials: 'maskedXtYChunkPartials', dWdownPartials: 'maskedXtYChunkPartials',
};

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      /** d×r×N, optionally :target+target (default: all five). */
      shapes: { type: 'string', default: '1024x64x32768,1024x4x32768,1024x256x32768' },
      dropout: { type: 'string', default: '0.1' },
      out: { type: 'string', default: 'bench/results/kernel-tiles.json' },
    },
  });
  console.log(`command: npm run bench:kernel-tiles -- ${process.argv.slice(2).join(' ')}`);
  const { device, machine } = await benchDevice();
  useDevice(device); // drained and destroyed by runCli at exit
  console.log(`GPU: ${machine.gpu}`);
  const p = Number(args.dropout);
  const results: Record<string, unknown>[] = [];
  /** The fastest tile per kernel and class: what `npm run bench:kernels -- --tiles <this file>` applies. */
  const best: Partial<Record<TiledKernel, Record<string, TileConfig>>> = {};
  for (const item of args.shapes!.split(',')) {
    const [shape, only] = item.split(':');
    const [d, r, N] = shape.split('x').map(Number);
    const { chunkRows } = reductionChunks(N);
    const { sets, destroy } = makeSets(device, N, d, r);
    await gpuIdle(device);
    // rows, cols, depth of each target's product
    const dims: Record<Target, [number, number, number]> = {
      down: [N, r, d], up: [N, d, r], hidden: [N, r, d], dWupPartials: [r, d, chunkRows], dWdownPartials: [d, r, chunkRows],
    };
    for (const target of (only ? only.split('+') : Object.keys(dims)) as Target[]) {
      const [rows, cols, depth] = dims[target];
      const kernel = KERNEL[target];
      const fallback = defaultTile(kernel, rows, cols, depth);
      const small = N <= 8192;
      const partials = target.endsWith('Partials');
      const fewRows = partials && rows < 48 && rows < cols;
      const narrow = fewRows || cols < 48;
      const list = fewRows ? FEW_ROWS : cols < 48 ? NARROW : small ? WIDE_SMALL : WIDE;
      // k slices (a second pass adds them): where the product has few outputs or few rows of k per chunk.
      const slices: (number | undefined)[] =
        target === 'up' || (!small && !narrow) ? [undefined] : partials ? [undefined, small ? 128 : 256, small ? 64 : 128] : [undefined, 256, 128];
      const seen = new Set<string>();
      const candidates = [fallback, ...list.flatMap((c) => slices.map((ks) => (ks ? { ...c, ks } : c)))]
        .map((c) => ({ ...c, bk: Math.min(c.bk, Math.max(4, Math.ceil(depth / 4) * 4)) }))
        .map((c) => (c.ks && c.ks % c.bk ? { ...c, ks: Math.ceil(c.ks / c.bk) * c.bk } : c))
        .filter((c) => {
          try {
            checkTileConfig(c);
          } catch {
            return false;
          }
          if (seen.has(key(c))) return false;
          seen.add(key(c));
          return true;
        });
      const timings: { tile: string; config: TileConfig; ms: number; isDefault: boolean }[] = [];
      for (const c of candidates) {
        setTileOverride(kernel, (r0, c0) => (r0 === rows && c0 === cols ? c : undefined));
        const t = await timeCalls(device, (pass, i) => {
          const s = sets[i % sets.length];
          if (target === 'down') adalinkDown(device, pass, { ...s, N, d, r, p, key: KEY });
          else if (target === 'up') adalinkUp(device, pass, { ...s, N, d, r });
          else adalinkBackward(device, pass, { ...s, N, d, r, p, key: KEY });
        }, { targetMs: small ? 8 : 15, repeats: 3 });
        timings.push({ tile: key(c), config: c, ms: t.ms, isDefault: c === candidates[0] });
        setTileOverride(kernel, undefined);
      }
      timings.sort((a, b) => a.ms - b.ms);
      // down and up time their own product; the others time the whole backward (6·N·d·r).
      const flops = target === 'down' || target === 'up' ? 2 * N * d * r : 6 * N * d * r;
      console.log(
        `d=${d} r=${r} N=${N} ${target.padEnd(15)} ${tileClass(kernel, rows, cols, depth)}: default ${key(fallback)} ` +
          `${timings.find((t) => t.isDefault)!.ms.toFixed(4)} ms | ` +
          timings.slice(0, 5).map((t) => `${t.tile} ${t.ms.toFixed(4)}`).join(', ') +
          ` | best ${(flops / timings[0].ms / 1e9).toFixed(1)} TFLOP/s`,
      );
      const cls = tileClass(kernel, rows, cols, depth);
      (best[kernel] ??= {})[cls] = timings[0].config;
      results.push({ d, r, N, target, class: cls, default: key(fallback), timings });
    }
    destroy();
  }
  mkdirSync(dirname(args.out!), { recursive: true });
  writeFileSync(args.out!, `${JSON.stringify({ machine, best, results }, null, 1)}\n`);
  console.log(`best: ${JSON.stringify(best)}`);
}

runCli(main);
