/**
 * embeddingLookup against the reference. A gather copies floats, so the tolerance is 0: bit-exact.
 */
import { describe, expect, it } from 'vitest';
import { embeddingLookup } from './embeddingLookup.ts';
import { expectClose } from './testing/compare.ts';
import { poisoned, readF32, run, upload } from './testing/gpu.ts';
import { getTestDevice, uncapturedErrors } from './testing/nodeDevice.ts';
import { refEmbeddingLookup } from './testing/reference.ts';
import { TestRng } from './testing/rng.ts';

const cases = [
  { N: 1, d: 1, V: 1 },
  { N: 7, d: 5, V: 3 },
  { N: 129, d: 64, V: 160 },
  { N: 1000, d: 33, V: 50 },
  { N: 3, d: 1024, V: 20 },
  { N: 40, d: 1024, V: 1000 },
];

describe('embeddingLookup', () => {
  it.each(cases)('copies rows exactly, out-of-range ids give zeros: N=$N d=$d V=$V', async ({ N, d, V }) => {
    const device = await getTestDevice();
    const rng = new TestRng(N * 31 + d);
    const table = rng.normals(V * d, 1e3);
    // Mostly valid ids, some out of range (V, V+5, 2^32−1).
    const ids = Uint32Array.from({ length: N }, () =>
      rng.next() < 0.9 ? rng.int(0, V - 1) : rng.pick([V, V + 5, 0xffffffff]),
    );
    const bufIds = upload(device, ids);
    const bufTable = upload(device, table);
    const out = poisoned(device, N * d);
    await run(device, (encoder) => embeddingLookup(device, encoder, { ids: bufIds, table: bufTable, embeddings: out, N, d, V }));
    expectClose(`N=${N} d=${d}`, await readF32(device, out), refEmbeddingLookup(ids, table, N, d, V), () => 0);
  });

  it('N = 0 encodes nothing', async () => {
    const device = await getTestDevice();
    const empty = upload(device, new Uint32Array(0));
    const table = upload(device, new Float32Array(4));
    await run(device, (encoder) => embeddingLookup(device, encoder, { ids: empty, table, embeddings: empty, N: 0, d: 4, V: 1 }));
    expect(uncapturedErrors).toEqual([]);
  });
});
