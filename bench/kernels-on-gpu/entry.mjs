// Entry of the device-check bundle: every kernel test file, run by vitestShim.mjs, then (KERNEL_BENCH=1)
// the timings of bench.mjs. Built by build.mjs; not a vitest file.
import '../../src/kernels/random.test.ts';
import '../../src/kernels/embeddingLookup.test.ts';
import '../../src/kernels/adalinkForward.test.ts';
import '../../src/kernels/adalinkBackward.test.ts';
import '../../src/kernels/gradNorm.test.ts';
import '../../src/kernels/adamw.test.ts';
import '../../src/kernels/adafactor.test.ts';
import { runAll } from 'vitest';
import { getTestDevice } from '../../src/kernels/testing/nodeDevice.ts';
import { bench, overhead } from './bench.mjs';

const device = await getTestDevice();
console.log(`device: maxStorageBufferBindingSize ${device.limits.maxStorageBufferBindingSize}`);
const failed = process.env.KERNEL_BENCH_ONLY ? 0 : await runAll();
if (process.env.KERNEL_BENCH) {
  await overhead(device);
  await bench(device);
}
process.exit(failed);
