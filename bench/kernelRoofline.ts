/**
 * Kernel roofline (issue 5, item 2): the AdaLink forward and backward kernels on a real GPU against the
 * device's own ceilings, a plain copy kernel's bandwidth and f32 fma throughput (bench/kernelTiming.ts):
 *
 *   npm run bench:kernels -- [--d 256,768,1024] [--r 4,64,256] [--n 1024,4096,16384,32768,65536]
 *                            [--dropout 0.1] [--no-check] [--tiles <bench:kernel-tiles JSON>]
 *                            [--out bench/results/kernel-roofline.json]
 *   (a smoke run on SwiftShader: --d 64 --r 4 --n 256 --copy-mib 1 --fma-groups 4)
 *
 * On a bare GPU machine: `node bench/gpu-runtime/build.mjs` here, then (carry .devcarry)
 * `. .devcarry/setup.sh && $NODE .devcarry/bench-kernels.mjs …`. Prints the command, the machine and every
 * figure, and writes them as JSON. Per (d, r, N), for adalinkForward, adalinkBackward and the two together:
 *  - time: GPU time per call (median of 5 passes of many calls, inputs rotated so that they come from memory);
 *  - effective bandwidth: the bytes that must move at least (each input read once, each output written once:
 *    forward E in, Ẽ and H out; backward E, G, H, valid in, dWdown and dWup out; the weights) over the time,
 *    and that as a fraction of the copy kernel's bandwidth;
 *  - achieved FLOP/s (forward 4·N·d·r, backward 6·N·d·r, an fma counted as 2) and its fraction of the fma peak;
 *  - the floor: max(bytes / copy bandwidth, FLOP / fma peak), and the time as a multiple of it.
 * Unless --no-check, the outputs at the smallest N of each (d, r) are compared with float64 references
 * (‖gpu − ref‖ / ‖ref‖, which f32 keeps far under 1e-4).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { runCli, useDevice } from '../src/cli/runCli.ts';
import { gpuIdle } from '../src/engine/gpuBuffers.ts';
import { adalinkBackward } from '../src/kernels/adalinkBackward.ts';
import { adalinkForward } from '../src/kernels/adalinkForward.ts';
import { refAdalinkBackward, refAdalinkDown, refAdalinkUp } from '../src/kernels/testing/reference.ts';
import { reductionChunks } from '../src/kernels/adalinkBackward.ts';
import { chooseTile, kSlicing, setTileOverride, tileClass, type TileConfig, type TiledKernel } from '../src/kernels/tiledMatmul.ts';
import {
  backwardBytes, backwardFlops, benchDevice, forwardBytes, forwardFlops, KEY, makeSets, measureCopy, measureFma, timeCalls,
  type InputSet,
} from './kernelTiming.ts';

async function read(device: GPUDevice, buffer: GPUBuffer, floats: number): Promise<Float32Array> {
  const staging = device.createBuffer({ size: floats * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const e = device.createCommandEncoder();
  e.copyBufferToBuffer(buffer, 0, staging, 0, floats * 4);
  device.queue.submit([e.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(staging.getMappedRange().slice(0));
  staging.destroy();
  return out;
}

function relErr(gpu: Float32Array, ref: Float64Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    num += (gpu[i] - ref[i]) ** 2;
    den += ref[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-300));
}

/** Runs forward + backward once on set 0 and compares with the float64 references. */
async function check(device: GPUDevice, set: InputSet, N: number, d: number, r: number, p: number) {
  const e = device.createCommandEncoder();
  adalinkForward(device, e, { ...set, N, d, r, p, key: KEY });
  adalinkBackward(device, e, { ...set, N, d, r, p, key: KEY });
  device.queue.submit([e.finish()]);
  const [E, G, Wdown, Wup, H, adapted, dWdown, dWup] = await Promise.all(
    [[set.E, N * d], [set.G, N * d], [set.Wdown, d * r], [set.Wup, r * d], [set.H, N * r], [set.adapted, N * d], [set.dWdown, d * r], [set.dWup, r * d]]
      .map(([b, n]) => read(device, b as GPUBuffer, n as number)),
  );
  const valid = new Uint32Array(N).fill(1);
  const back = refAdalinkBackward({ E, G, valid, H, Wup, N, d, r, p, key: KEY });
  return {
    H: relErr(H, refAdalinkDown(E, Wdown, N, d, r, p, KEY).value),
    adapted: relErr(adapted, refAdalinkUp(E, H, Wup, N, d, r).value),
    dWup: relErr(dWup, back.dWup.value),
    dWdown: relErr(dWdown, back.dWdown.value),
  };
}

const list = (s: string) => s.split(',').map(Number);

/** The tile (and k slices) each product gets at this shape, for the JSON. */
function tilesUsed(N: number, d: number, r: number): Record<string, string> | undefined {
  try {
    const { chunkRows, chunks } = reductionChunks(N);
    const describe = (kernel: TiledKernel, rows: number, cols: number, depth: number, outputs: number, most?: number) => {
      const t = chooseTile(kernel, rows, cols, depth);
      const { slices } = kSlicing(depth, t, outputs, most);
      return `${tileClass(kernel, rows, cols, depth)}: ${t.wgX}x${t.wgY} inv, ${t.tm}x${t.tn} each, BK ${t.bk}${slices > 1 ? `, ${slices} k slices` : ''}`;
    };
    const most = Math.max(32 * r * d, 2 ** 22);
    return {
      down: describe('adalinkDown', N, r, d, N * r),
      up: describe('adalinkUp', N, d, r, N * d),
      hidden: describe('adalinkHiddenGrad', N, r, d, N * r),
      dWupPartials: describe('maskedXtYChunkPartials', r, d, chunkRows, chunks * r * d, most),
      dWdownPartials: describe('maskedXtYChunkPartials', d, r, chunkRows, chunks * r * d, most),
    };
  } catch {
    return undefined; // the kernels before tiledMatmul.ts
  }
}
const fmt = (x: number, digits = 3) => x.toPrecision(digits);

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      d: { type: 'string', default: '256,768,1024' },
      r: { type: 'string', default: '4,64,256' },
      n: { type: 'string', default: '1024,4096,16384,32768,65536' },
      dropout: { type: 'string', default: '0.1' },
      'no-check': { type: 'boolean', default: false },
      /** Size of the copy measurement, and work of the fma one: small only for a smoke run on SwiftShader. */
      'copy-mib': { type: 'string', default: '256' },
      'fma-groups': { type: 'string', default: '4096' },
      out: { type: 'string', default: 'bench/results/kernel-roofline.json' },
      /** bench:kernel-tiles JSON files (comma-separated) whose `best` tiles replace the defaults of their classes. */
      tiles: { type: 'string' },
    },
  });
  let tiles: Partial<Record<TiledKernel, Record<string, TileConfig>>> | undefined;
  for (const file of (args.tiles ?? '').split(',').filter((f) => existsSync(f))) {
    // Several files: the later ones win, class by class.
    const best = JSON.parse(readFileSync(file, 'utf8')).best as typeof tiles;
    tiles ??= {};
    for (const [k, byClass] of Object.entries(best ?? {}) as [TiledKernel, Record<string, TileConfig>][]) tiles[k] = { ...tiles[k], ...byClass };
  }
  if (tiles) {
    for (const [kernel, byClass] of Object.entries(tiles ?? {}) as [TiledKernel, Record<string, TileConfig>][]) {
      setTileOverride(kernel, (rows, cols, depth) => byClass[tileClass(kernel, rows, cols, depth)]);
    }
    console.log(`tiles from ${args.tiles} (other classes: the defaults): ${JSON.stringify(tiles)}`);
  }
  const command = `npm run bench:kernels -- ${process.argv.slice(2).join(' ')}`.trim();
  console.log(`command: ${command}`);
  const { device, machine } = await benchDevice();
  useDevice(device); // drained and destroyed by runCli at exit
  console.log(`GPU: ${machine.gpu} (${JSON.stringify(machine.adapterInfo)})`);
  console.log(`machine: ${machine.cpus}, Node ${machine.node}; timestamps: ${machine.timestamps}; features: ${machine.features.join(' ')}`);
  const p = Number(args.dropout);

  const copy = await measureCopy(device, Number(args['copy-mib']));
  console.log(`copy kernel (vec4, ${copy.bytes / 2 ** 20} MiB): ${copy.kernelGBs.toFixed(0)} GB/s, 4 per invocation ${copy.kernel4GBs.toFixed(0)} GB/s (read + written bytes)`);
  const fma = await measureFma(device, Number(args['fma-groups']));
  console.log(`f32 fma peak: ${(fma / 1e12).toFixed(1)} TFLOP/s`);
  const bw = copy.bestGBs * 1e9;

  const rows: Record<string, unknown>[] = [];
  const checks: Record<string, unknown>[] = [];
  const header = 'kernel            d     r      N     time ms   GB/s  of copy  TFLOP/s  of fma  floor ms  ×floor  SM MHz';
  console.log(`\n${header}`);
  const row = (kernel: string, d: number, r: number, N: number, ms: number, bytes: number, flops: number, clock: [number, number] | null) => {
    const floorMs = Math.max(bytes / bw, flops / fma) * 1e3;
    const result = {
      kernel, d, r, N, ms, bytes, flops,
      GBs: bytes / (ms * 1e6), copyFraction: bytes / (ms * 1e-3) / bw,
      TFLOPs: flops / (ms * 1e9), fmaFraction: flops / (ms * 1e-3) / fma,
      floorMs, timesFloor: ms / floorMs, smClockMHz: clock,
    };
    rows.push(result);
    console.log(
      `${kernel.padEnd(16)} ${String(d).padStart(5)} ${String(r).padStart(5)} ${String(N).padStart(6)} ${ms.toFixed(4).padStart(10)} ` +
        `${result.GBs.toFixed(0).padStart(6)} ${(result.copyFraction * 100).toFixed(1).padStart(7)}% ${result.TFLOPs.toFixed(2).padStart(8)} ` +
        `${(result.fmaFraction * 100).toFixed(1).padStart(6)}% ${floorMs.toFixed(4).padStart(9)} ${result.timesFloor.toFixed(2).padStart(6)}  ${clock ? `${clock[0]}–${clock[1]}` : '—'}`,
    );
  };

  for (const d of list(args.d!)) {
    for (const r of list(args.r!)) {
      for (const [index, N] of list(args.n!).entries()) {
        const { sets, destroy } = makeSets(device, N, d, r);
        await gpuIdle(device);
        if (index === 0 && !args['no-check']) {
          const errors = await check(device, sets[0], N, d, r, p);
          checks.push({ d, r, N, ...errors });
          console.log(`check d=${d} r=${r} N=${N}: ‖gpu − ref‖/‖ref‖ ${Object.entries(errors).map(([k, v]) => `${k} ${fmt(v, 2)}`).join(', ')}`);
          if (Object.values(errors).some((x) => !(x < 1e-4))) process.exitCode = 1;
        }
        const fwd = await timeCalls(device, (pass, i) => adalinkForward(device, pass, { ...sets[i % sets.length], N, d, r, p, key: KEY }));
        const bwd = await timeCalls(device, (pass, i) => adalinkBackward(device, pass, { ...sets[i % sets.length], N, d, r, p, key: KEY }));
        row('forward', d, r, N, fwd.ms, forwardBytes(N, d, r), forwardFlops(N, d, r), fwd.smClockMHz);
        row('backward', d, r, N, bwd.ms, backwardBytes(N, d, r), backwardFlops(N, d, r), bwd.smClockMHz);
        const both = fwd.smClockMHz && bwd.smClockMHz ? [Math.min(fwd.smClockMHz[0], bwd.smClockMHz[0]), Math.max(fwd.smClockMHz[1], bwd.smClockMHz[1])] as [number, number] : null;
        row('fwd+bwd', d, r, N, fwd.ms + bwd.ms, forwardBytes(N, d, r) + backwardBytes(N, d, r), forwardFlops(N, d, r) + backwardFlops(N, d, r), both);
        const used = tilesUsed(N, d, r);
        if (used) for (const x of rows.slice(-3)) x.tiles = used;
        destroy();
      }
    }
  }
  const result = {
    command, date: new Date().toISOString(), machine, dropout: p, tiles: tiles ?? 'defaults',
    copy: { ...copy, referenceGBs: copy.bestGBs }, fmaPeakTFLOPs: fma / 1e12,
    bytesCounted: 'forward 4·(2Nd + Nr + 2dr), backward 4·(2Nd + Nr + N + 3dr); FLOP forward 4Ndr, backward 6Ndr',
    checks, rows,
  };
  mkdirSync(dirname(args.out!), { recursive: true });
  writeFileSync(args.out!, `${JSON.stringify(result, null, 1)}\n`);
  console.log(`\nwrote ${args.out}`);
}

runCli(main);
