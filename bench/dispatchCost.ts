/**
 * What one small compute dispatch costs the host in Node over Dawn — the floor under any graph of many small
 * operators (the vjp graph is ~950 of them), whoever issues them: ONNX Runtime, its graph-capture replay or us.
 *
 *   npm run bench:dispatch [-- --dispatches 1000 --repeat 20]
 *
 * Each variant issues `--dispatches` dispatches of a one-workgroup kernel (64 invocations, one float each):
 * - `bind group per dispatch`: createBindGroup + setPipeline + setBindGroup + dispatch, 16 dispatches per
 *   compute pass and a submit per pass — the way ORT's WebGPU provider (and its replay) issues them;
 * - `bind groups made once`: the same, with the bind groups created before the clock starts;
 * - `one pass, bind groups made once`: all dispatches in one pass, one submit.
 * It prints the median host time to encode and submit (per dispatch), the median until the GPU is done, and —
 * where the adapter has timestamps — the GPU time from the first dispatch to the last.
 */
import { parseArgs } from 'node:util';
import { gpuIdle } from '../src/engine/gpuBuffers.ts';
import { runCli, useDevice } from '../src/cli/runCli.ts';
import { benchDevice } from './kernelTiming.ts';

const SHADER = /* wgsl */ `
@group(0) @binding(0) var<storage, read> source: array<f32>;
@group(0) @binding(1) var<storage, read_write> result: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  result[id.x] = source[id.x] * 0.5 + 1.0;
}`;
const PER_PASS = 16;

async function main(): Promise<void> {
  const { values: args } = parseArgs({ options: { dispatches: { type: 'string', default: '1000' }, repeat: { type: 'string', default: '20' } } });
  console.log(`command: npm run bench:dispatch -- ${process.argv.slice(2).join(' ')}`);
  const { device, machine } = await benchDevice();
  useDevice(device);
  console.log(`GPU: ${machine.gpu}; CPU: ${machine.cpus}; Node ${machine.node}`);
  const count = Number(args.dispatches);
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: SHADER }), entryPoint: 'main' } });
  // A chain through a few buffers, as operators feed each other.
  const buffers = Array.from({ length: 8 }, () => device.createBuffer({ size: 256, usage: GPUBufferUsage.STORAGE }));
  const makeGroup = (i: number) => device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: buffers[i % 8] } }, { binding: 1, resource: { buffer: buffers[(i + 1) % 8] } }],
  });
  const querySet = machine.timestamps ? device.createQuerySet({ type: 'timestamp', count: 2 }) : undefined;
  const resolve = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const readTimes = device.createBuffer({ size: 16, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });

  const variants: Record<string, (groups: GPUBindGroup[] | undefined) => void> = {
    'bind group per dispatch': () => issue(undefined, PER_PASS),
    'bind groups made once': (groups) => issue(groups, PER_PASS),
    'one pass, bind groups made once': (groups) => issue(groups, count),
  };
  function issue(groups: GPUBindGroup[] | undefined, perPass: number): void {
    for (let first = 0; first < count; first += perPass) {
      const encoder = device.createCommandEncoder();
      const last = Math.min(count, first + perPass);
      const stamps = querySet && (first === 0 || last === count)
        ? { querySet, ...(first === 0 ? { beginningOfPassWriteIndex: 0 } : {}), ...(last === count ? { endOfPassWriteIndex: 1 } : {}) }
        : undefined;
      const pass = encoder.beginComputePass(stamps ? { timestampWrites: stamps } : undefined);
      pass.setPipeline(pipeline);
      for (let i = first; i < last; i++) {
        pass.setBindGroup(0, groups ? groups[i] : makeGroup(i));
        pass.dispatchWorkgroups(1);
      }
      pass.end();
      if (querySet && last === count) {
        encoder.resolveQuerySet(querySet, 0, 2, resolve, 0);
        encoder.copyBufferToBuffer(resolve, 0, readTimes, 0, 16);
      }
      device.queue.submit([encoder.finish()]);
    }
  }
  const groups = Array.from({ length: count }, (_, i) => makeGroup(i));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  for (const [name, variant] of Object.entries(variants)) {
    const host: number[] = [];
    const total: number[] = [];
    const gpu: number[] = [];
    for (let r = 0; r < Number(args.repeat) + 2; r++) {
      await gpuIdle(device);
      const started = performance.now();
      variant(groups);
      const encoded = performance.now();
      await readTimes.mapAsync(GPUMapMode.READ);
      const done = performance.now();
      const [begin, end] = new BigUint64Array(readTimes.getMappedRange().slice(0));
      readTimes.unmap();
      if (r < 2) continue; // warm-up
      host.push(encoded - started);
      total.push(done - started);
      if (querySet) gpu.push(Number(end - begin) / 1e6);
    }
    console.log(`${name}: ${count} dispatches — host ${median(host).toFixed(2)} ms (${(1000 * median(host) / count).toFixed(1)} µs each), `
      + `until done ${median(total).toFixed(2)} ms${querySet ? `, GPU first→last ${median(gpu).toFixed(2)} ms` : ''} (medians of ${host.length})`);
  }
}

runCli(main);
