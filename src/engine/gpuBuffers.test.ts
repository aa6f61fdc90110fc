/**
 * gpuIdle must wait for the work submitted before it: the benchmarks time GPU work with it and the CLI's exit
 * drains the device with it (Dawn crashes a process that exits with work in flight).
 */
import { expect, it } from 'vitest';
import { getTestDevice } from '../kernels/testing/nodeDevice.ts';
import { gpuIdle, storageUsage } from './gpuBuffers.ts';

it('gpuIdle resolves only after the work submitted before it has finished', async () => {
  const device = await getTestDevice();
  const bytes = 16 << 20;
  const [a, b] = [0, 1].map(() => device.createBuffer({ size: bytes, usage: storageUsage() }));
  // Some tens of milliseconds of copies, even on a fast GPU.
  const encoder = device.createCommandEncoder();
  for (let i = 0; i < 64; i++) encoder.copyBufferToBuffer(i % 2 ? a : b, 0, i % 2 ? b : a, 0, bytes);
  device.queue.submit([encoder.finish()]);
  let finished = false;
  void device.queue.onSubmittedWorkDone().then(() => { finished = true; });
  await gpuIdle(device);
  expect(finished).toBe(true);
  a.destroy();
  b.destroy();
});
