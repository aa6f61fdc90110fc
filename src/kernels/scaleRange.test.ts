/**
 * scaleRange against the float64 reference: one f32 product per element, so bit-exact; elements outside the
 * range are untouched.
 */
import { describe, it } from 'vitest';
import { scaleRange } from './scaleRange.ts';
import { expectClose } from './testing/compare.ts';
import { readF32, run, upload } from './testing/gpu.ts';
import { getTestDevice } from './testing/nodeDevice.ts';
import { refScaleRange } from './testing/reference.ts';
import { TestRng } from './testing/rng.ts';

const cases = [
  { length: 1, offset: 0, count: 1, scale: 0.5 },
  { length: 300, offset: 7, count: 257, scale: 0.3 },
  { length: 100_000, offset: 25_000, count: 50_000, scale: 1 / 3 },
  { length: 64, offset: 10, count: 0, scale: 7 },
];

describe('scaleRange', () => {
  it.each(cases)('scales [offset, offset + count) exactly, the rest untouched: $length floats, offset $offset, count $count', async ({ length, offset, count, scale }) => {
    const device = await getTestDevice();
    const x = new TestRng(length + offset).normals(length, 10);
    const buffer = upload(device, x);
    await run(device, (encoder) => scaleRange(device, encoder, { x: buffer, offset, count, scale }));
    expectClose(`offset ${offset} count ${count}`, await readF32(device, buffer), refScaleRange(x, offset, count, scale), () => 0);
  });
});
