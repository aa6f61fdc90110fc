/**
 * Which examples each step trains on (docs/ENGINE.md §3): every epoch is a permutation drawn from the
 * seed, epochs follow each other, and step s takes positions [s·B, (s+1)·B). The order is a pure
 * function of (seed, step), so a saved state needs only those two numbers to continue exactly.
 */
import { randU32, STREAM_DATA_ORDER, streamKey } from '../kernels/random.ts';

export function epochOrder(seed: number, epoch: number, count: number): Uint32Array {
  const key = streamKey(seed, STREAM_DATA_ORDER + epoch);
  const draws = Array.from({ length: count }, (_, i) => [randU32(key, i), i] as const);
  draws.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return Uint32Array.from(draws, ([, i]) => i);
}

/** Example indices of steps, computing each epoch's permutation once. */
export class DataOrder {
  private cached = new Map<number, Uint32Array>();

  constructor(readonly seed: number, readonly count: number, readonly batchSize: number) {}

  batch(step: number): number[] {
    const indices: number[] = [];
    for (let position = step * this.batchSize; position < (step + 1) * this.batchSize; position++) {
      const epoch = Math.floor(position / this.count);
      let order = this.cached.get(epoch);
      if (!order) {
        this.cached.clear();
        order = epochOrder(this.seed, epoch, this.count);
        this.cached.set(epoch, order);
      }
      indices.push(order[position % this.count]);
    }
    return indices;
  }
}
