// Wall-clock timings of the kernels for the device check (KERNEL_BENCH=1). `gpu` is submit → done of one
// command buffer holding `iters` calls, divided by iters; `encode` is the CPU time of encoding one call.
import { adafactor } from '../../src/kernels/adafactor.ts';
import { adalinkBackward } from '../../src/kernels/adalinkBackward.ts';
import { adalinkForward } from '../../src/kernels/adalinkForward.ts';
import { adamw } from '../../src/kernels/adamw.ts';
import { bindBuffers, f32, getKernel, u32, uniformBuffer } from '../../src/kernels/common.ts';
import adamwCode from '../../src/kernels/adamw.wgsl?raw';
import { gradNorm } from '../../src/kernels/gradNorm.ts';
import stepStatusWgsl from '../../src/kernels/stepStatus.wgsl?raw';
import { upload, zeros } from '../../src/kernels/testing/gpu.ts';
import { TestRng } from '../../src/kernels/testing/rng.ts';

async function time(device, label, flops, bytes, encode, iters = 20) {
  const once = async () => {
    const e = device.createCommandEncoder();
    encode(e);
    device.queue.submit([e.finish()]);
    await device.queue.onSubmittedWorkDone();
  };
  await once();
  await once();
  const t0 = performance.now();
  const e = device.createCommandEncoder();
  for (let i = 0; i < iters; i++) encode(e);
  const cb = e.finish();
  const t1 = performance.now();
  device.queue.submit([cb]);
  await device.queue.onSubmittedWorkDone();
  const ms = (performance.now() - t1) / iters;
  console.log(
    `bench ${label}: gpu ${ms.toFixed(3)} ms/call, encode ${((t1 - t0) / iters).toFixed(3)} ms/call` +
      (flops ? `, ${(flops / ms / 1e9).toFixed(2)} TFLOP/s` : '') +
      (bytes ? `, ${(bytes / ms / 1e6).toFixed(0)} GB/s` : ''),
  );
}

/** Per-call overhead: one AdamW dispatch with a reused bind group vs the wrapper (new uniforms + group). */
export async function overhead(device) {
  const n = 65536;
  const rng = new TestRng(3);
  const [param, grad, m, v] = [upload(device, rng.normals(n)), upload(device, rng.normals(n)), zeros(device, n * 4), zeros(device, n * 4)];
  const status = upload(device, new Float32Array([0, 0, 1, 0]));
  const kernel = getKernel(device, {
    name: 'adamw.main',
    code: stepStatusWgsl + '\n' + adamwCode,
    entryPoint: 'main',
    bindings: [[0, 'uniform'], [1, 'read'], [2, 'read'], [3, 'read_write'], [4, 'read_write'], [5, 'read_write']],
  });
  const uniforms = uniformBuffer(device, 'u', [u32(n), f32(1e-3), f32(0.9), f32(0.1), f32(0.999), f32(0.001), f32(1e-8), f32(0), f32(0.1), f32(0.001)]);
  const group = bindBuffers(device, kernel, { 0: uniforms, 1: status, 2: grad, 3: param, 4: m, 5: v });
  const bytes = n * 28;
  await time(device, 'adamw 65536, reused bind group', 0, bytes, (e) => {
    const p = e.beginComputePass();
    p.setPipeline(kernel.pipeline);
    p.setBindGroup(0, group);
    p.dispatchWorkgroups(256);
    p.end();
  }, 100);
  await time(device, 'adamw 65536 via the wrapper', 0, bytes, (e) => adamw(device, e, { param, grad, m, v, status, count: n, lr: 1e-3, step: 3 }), 100);
  await time(device, 'empty pass', 0, 0, (e) => e.beginComputePass().end(), 100);
}

export async function bench(device) {
  const rng = new TestRng(1);
  for (const [N, d, r] of [[16384, 1024, 64], [16384, 1024, 4], [4096, 1024, 256], [65536, 768, 64]]) {
    const E = upload(device, rng.normals(N * d));
    const G = upload(device, rng.normals(N * d));
    const valid = upload(device, new Uint32Array(N).fill(1));
    const Wdown = upload(device, rng.normals(d * r));
    const Wup = upload(device, rng.normals(r * d));
    const H = zeros(device, N * r * 4);
    const adapted = zeros(device, N * d * 4);
    const dWdown = zeros(device, d * r * 4);
    const dWup = zeros(device, r * d * 4);
    const matmul = 2 * N * d * r;
    await time(device, `forward N=${N} d=${d} r=${r}`, 2 * matmul, 0, (e) =>
      adalinkForward(device, e, { E, Wdown, Wup, H, adapted, N, d, r, p: 0.1, key: 5 }),
    );
    await time(device, `backward N=${N} d=${d} r=${r}`, 3 * matmul, 0, (e) =>
      adalinkBackward(device, e, { E, G, valid, H, Wup, dWdown, dWup, N, d, r, p: 0.1, key: 5 }),
    );
    for (const b of [E, G, valid, Wdown, Wup, H, adapted, dWdown, dWup]) b.destroy();
  }
  const [d, r] = [1024, 64];
  const tensor = () => ({ param: upload(device, rng.normals(d * r)), grad: upload(device, rng.normals(d * r)) });
  const ps = [tensor(), tensor(), tensor(), tensor()];
  const loss = upload(device, new Float32Array([1]));
  const status = zeros(device, 16);
  await time(device, 'gradNorm 4 × 65536', 0, 4 * d * r * 4, (e) =>
    gradNorm(device, e, { grads: ps.map((p) => ({ buffer: p.grad, count: d * r })), loss, lossOffset: 0, clip: 1, status }),
  );
  const st = ps.map(() => ({ m: zeros(device, d * r * 4), v: zeros(device, d * r * 4), row: zeros(device, d * 4), col: zeros(device, d * 4) }));
  await time(device, 'adamw 4 × 65536', 0, 4 * d * r * 4 * 7, (e) =>
    ps.forEach((p, i) => adamw(device, e, { ...p, m: st[i].m, v: st[i].v, status, count: d * r, lr: 1e-3, step: 3 })),
  );
  await time(device, 'adafactor 4 × (1024×64 | 64×1024)', 0, 0, (e) =>
    ps.forEach((p, i) =>
      adafactor(device, e, { ...p, row: st[i].row, col: st[i].col, status, rows: i % 2 ? r : d, cols: i % 2 ? d : r, lr: 1e-3, step: 3 }),
    ),
  );
}
