/**
 * What one small compute dispatch costs the host, measured on any WebGPU device — Node's Dawn
 * (bench/dispatchCost.ts) or a page in Chromium (bench/pages/dispatchPage.ts), so that the two are set side by
 * side on the same GPU. Plain WebGPU: no Node or DOM import.
 *
 * Each variant issues `count` dispatches of a one-workgroup kernel (64 invocations, one float each):
 * - `bind group per dispatch`: createBindGroup + setPipeline + setBindGroup + dispatch, 16 dispatches per
 *   compute pass and a submit per pass — the way ORT's WebGPU provider (and its replay) issues them;
 * - `bind groups made once`: the same, with the bind groups created before the clock starts;
 * - `one pass, bind groups made once`: all dispatches in one pass, one submit.
 * Per variant: the median host time to encode and submit, the median until the GPU is done, and — where the
 * device has timestamps — the GPU time from the first dispatch to the last.
 */
import { gpuIdle } from '../src/engine/gpuBuffers.ts';

const SHADER = /* wgsl */ `
@group(0) @binding(0) var<storage, read> source: array<f32>;
@group(0) @binding(1) var<storage, read_write> result: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  result[id.x] = source[id.x] * 0.5 + 1.0;
}`;
const PER_PASS = 16;

export const DISPATCH_VARIANTS = ['bind group per dispatch', 'bind groups made once', 'one pass, bind groups made once'] as const;

export interface DispatchCost {
  variant: (typeof DISPATCH_VARIANTS)[number];
  dispatches: number;
  /** Medians over `repeat` runs, milliseconds for all the dispatches. */
  hostMs: number;
  untilDoneMs: number;
  gpuMs: number | null;
  runs: number;
}

export async function measureDispatchCost(device: GPUDevice, count: number, repeat: number): Promise<DispatchCost[]> {
  const timestamps = device.features.has('timestamp-query');
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: SHADER }), entryPoint: 'main' } });
  // A chain through a few buffers, as operators feed each other.
  const buffers = Array.from({ length: 8 }, () => device.createBuffer({ size: 256, usage: GPUBufferUsage.STORAGE }));
  const makeGroup = (i: number) => device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: buffers[i % 8] } }, { binding: 1, resource: { buffer: buffers[(i + 1) % 8] } }],
  });
  const querySet = timestamps ? device.createQuerySet({ type: 'timestamp', count: 2 }) : undefined;
  const resolve = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const readTimes = device.createBuffer({ size: 16, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });

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
      if (last === count) {
        if (querySet) encoder.resolveQuerySet(querySet, 0, 2, resolve, 0);
        encoder.copyBufferToBuffer(resolve, 0, readTimes, 0, 16);
      }
      device.queue.submit([encoder.finish()]);
    }
  }
  const variants: Record<DispatchCost['variant'], (groups: GPUBindGroup[]) => void> = {
    'bind group per dispatch': () => issue(undefined, PER_PASS),
    'bind groups made once': (groups) => issue(groups, PER_PASS),
    'one pass, bind groups made once': (groups) => issue(groups, count),
  };
  const groups = Array.from({ length: count }, (_, i) => makeGroup(i));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  const results: DispatchCost[] = [];
  for (const variant of DISPATCH_VARIANTS) {
    const host: number[] = [];
    const total: number[] = [];
    const gpu: number[] = [];
    for (let r = 0; r < repeat + 2; r++) {
      await gpuIdle(device);
      const started = performance.now();
      variants[variant](groups);
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
    results.push({ variant, dispatches: count, hostMs: median(host), untilDoneMs: median(total), gpuMs: querySet ? median(gpu) : null, runs: host.length });
  }
  for (const b of [...buffers, resolve, readTimes]) b.destroy();
  querySet?.destroy();
  return results;
}
