/**
 * The searches on toy decoders whose logits are a function of (example, prefix): greedy decoding's
 * eos, tie and length rules, beam search against hand-worked cases, beam search with one beam = greedy,
 * and the beams' prefixes followed through the reorders. CPU only.
 */
import { describe, expect, it } from 'vitest';
import { hash32 } from '../kernels/random.ts';
import { beamSearch, greedySearch, logSumExp, topK, type StepDecoder } from './search.ts';

const EOS = 2;
const PAD = 0;

/** A decoder over `logitsOf(example, prefix)`, keeping each row's prefix; records the tokens it was fed. */
class ToyDecoder implements StepDecoder {
  prefixes: number[][];
  fed: number[][] = [];

  constructor(readonly examples: number, readonly vocabSize: number, private readonly beams: number,
    private readonly logitsOf: (example: number, prefix: number[]) => number[]) {
    this.prefixes = Array.from({ length: examples * beams }, () => []);
  }

  row(row: number): Float32Array {
    return Float32Array.from(this.logitsOf(Math.floor(row / this.beams), this.prefixes[row]));
  }

  async step(tokens: number[], sourceRows?: number[]): Promise<void> {
    this.fed.push([...tokens]);
    const source = sourceRows ?? this.prefixes.map((_, r) => r);
    this.prefixes = source.map((s, row) => [...this.prefixes[s], tokens[row]]);
  }
}

/** Logits of a fixed table: prefix (ids joined by ',') → logits; unknown prefixes end with eos. */
function table(entries: Record<string, number[]>, V: number) {
  return (_: number, prefix: number[]) => entries[prefix.join(',')] ?? Array.from({ length: V }, (_, v) => (v === EOS ? 0 : -10));
}

/** Pseudo-random logits from a hash of (seed, example, prefix), eos more likely as the prefix grows. */
function randomModel(seed: number, V: number) {
  return (example: number, prefix: number[]) => {
    let h = hash32(seed ^ hash32(example + 1));
    for (const id of prefix) h = hash32(h ^ hash32(id + 7));
    return Array.from({ length: V }, (_, v) => (hash32(h ^ hash32(v + 1000)) / 2 ** 32) * 4 + (v === EOS ? prefix.length * 0.6 - 2 : 0));
  };
}

/** log p(ids) under a model, by teacher forcing. */
function logprobOf(model: (example: number, prefix: number[]) => number[], example: number, ids: number[]): number {
  return ids.reduce((sum, id, t) => {
    const logits = Float32Array.from(model(example, ids.slice(0, t)));
    return sum + logits[id] - logSumExp(logits);
  }, 0);
}

describe('greedy search', () => {
  it('appends the argmax until eos (included), feeding pad to finished rows, lowest id on ties', async () => {
    const V = 5;
    const model = (example: number, prefix: number[]) => {
      const tables: Array<Record<string, number[]>> = [
        { '': [0, 1, 0, 3, 3], '3': [0, 0, 9, 0, 0] }, // a tie 3 = 4 → 3; then eos
        { '': [0, 2, 0, 0, 0], '1': [0, 0, 0, 5, 0], '1,3': [0, 0, 0, 0, 1], '1,3,4': [0, 0, 4, 0, 0] },
      ];
      return table(tables[example], V)(example, prefix);
    };
    const decoder = new ToyDecoder(2, V, 1, model);
    const result = await greedySearch(decoder, 10, EOS, PAD);
    expect(result.map((h) => h.ids)).toEqual([[3, EOS], [1, 3, 4, EOS]]);
    expect(decoder.fed).toEqual([[3, 1], [PAD, 3], [PAD, 4]]);
    result.forEach((h, b) => expect(h.logprob).toBeCloseTo(logprobOf(model, b, h.ids), 10));
  });

  it('stops after maxTokens ids without eos', async () => {
    const decoder = new ToyDecoder(3, 7, 1, randomModel(1, 7));
    const result = await greedySearch(decoder, 2, EOS, PAD);
    for (const h of result) expect(h.ids.length).toBeLessThanOrEqual(2);
    expect(decoder.fed.length).toBeLessThanOrEqual(1);
  });
});

describe('beam search', () => {
  it('finds the sequence greedy misses (hand-worked case)', async () => {
    // Greedy: 3 (p .6) then a flat choice among 5 tokens (p .2 each). Beam 2 keeps 4 (p .4), whose eos has p .9.
    const V = 5;
    const ln = Math.log;
    const model = table({ '': [-50, -50, -50, ln(0.6), ln(0.4)], '3': [-50, ln(0.2), ln(0.2), ln(0.2), ln(0.4)], '4': [-50, -50, ln(0.9), ln(0.1), -50] }, V);
    const greedy = await greedySearch(new ToyDecoder(1, V, 1, model), 2, EOS, PAD);
    const beam = await beamSearch(new ToyDecoder(1, V, 2, model), 2, 2, EOS, PAD);
    expect(greedy[0].ids).toEqual([3, 4]);
    expect(beam[0].ids).toEqual([4, EOS]);
    expect(beam[0].logprob).toBeCloseTo(ln(0.4 * 0.9), 5);
    expect(beam[0].logprob / 2).toBeGreaterThan(greedy[0].logprob / 2);
  });

  it('ranks finished hypotheses by logprob / length and stops once k are finished', async () => {
    // eos right away scores ln .5 / 1; [3, eos] scores ln(.5·.99)/2 — better per token though lower in sum.
    const V = 4;
    const ln = Math.log;
    const model = table({ '': [-50, -50, ln(0.5), ln(0.5)], '3': [-50, -50, ln(0.99), ln(0.01)], '3,3': [-50, -50, ln(0.5), ln(0.5)] }, V);
    const decoder = new ToyDecoder(1, V, 2, model);
    const [best] = await beamSearch(decoder, 2, 5, EOS, PAD);
    expect(best.ids).toEqual([3, EOS]);
    // Finished after step 2: [eos] and [3, eos] are two hypotheses for two beams.
    expect(decoder.fed.length).toBe(1);
  });

  it('with one beam equals greedy, eos or not', async () => {
    for (let seed = 0; seed < 20; seed++) {
      const model = randomModel(seed, 11);
      const greedy = await greedySearch(new ToyDecoder(4, 11, 1, model), 8, EOS, PAD);
      const beam = await beamSearch(new ToyDecoder(4, 11, 1, model), 1, 8, EOS, PAD);
      expect(beam.map((h) => h.ids)).toEqual(greedy.map((h) => h.ids));
      beam.forEach((h, b) => expect(h.logprob).toBeCloseTo(greedy[b].logprob, 9));
    }
  });

  it('returns ids whose teacher-forced logprob is the reported one (the beams follow their prefixes)', async () => {
    let endedWithEos = 0;
    for (let seed = 0; seed < 20; seed++) {
      const model = randomModel(100 + seed, 9);
      const decoder = new ToyDecoder(3, 9, 4, model);
      const result = await beamSearch(decoder, 4, 7, EOS, PAD);
      result.forEach((h, b) => {
        expect(h.ids.length).toBeLessThanOrEqual(7);
        expect(h.ids.slice(0, -1)).not.toContain(EOS);
        expect(h.logprob).toBeCloseTo(logprobOf(model, b, h.ids), 4);
        if (h.ids.at(-1) === EOS) endedWithEos++;
      });
    }
    expect(endedWithEos).toBeGreaterThan(10);
  });
});

describe('topK', () => {
  it('orders by score, then lowest index', () => {
    const scores = [1, 5, 3, 5, 3, 0];
    expect(topK(scores.length, 4, (i) => scores[i])).toEqual([1, 3, 2, 4]);
    expect(topK(scores.length, 10, (i) => scores[i])).toEqual([1, 3, 2, 4, 0, 5]);
  });
});
