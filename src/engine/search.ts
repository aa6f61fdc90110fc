/**
 * The searches of docs/ENGINE.md §7 over a decoder that gives the newest logits of each row and takes one
 * more token per row: greedy decoding and beam search (Hugging Face's, early_stopping=True, length
 * penalty 1). Plain CPU code over the logits; the decoder behind it (generate.ts) runs the ONNX graphs.
 */

/** What a search needs of a decoder. Greedy uses one row per example; beam search k rows (row b·k + i). */
export interface StepDecoder {
  /** Examples in the batch. */
  readonly examples: number;
  readonly vocabSize: number;
  /** The newest position's logits of row `row`, [V]. */
  row(row: number): Float32Array;
  /** Appends tokens[row] to every row; with sourceRows, row j first takes over the prefix of row sourceRows[j]. */
  step(tokens: number[], sourceRows?: number[]): Promise<void>;
}

/** A finished or growing sequence: generated ids and their summed log-probability. */
export interface Hypothesis {
  ids: number[];
  logprob: number;
}

/** A beam that must not be chosen: the starting score of beams 1 … k−1 (as Hugging Face's beam search). */
const NEVER = -1e9;

/** log Σ exp(logits), in float64. */
export function logSumExp(logits: Float32Array): number {
  let max = -Infinity;
  for (const x of logits) if (x > max) max = x;
  let sum = 0;
  for (const x of logits) sum += Math.exp(x - max);
  return max + Math.log(sum);
}

/** The index of the largest logit; the lowest index on ties. */
export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
  return best;
}

/**
 * Greedy decoding: each row appends the argmax of its logits until eos or maxTokens ids. A finished row
 * is fed pad_id while the others go on, and its outputs are ignored.
 */
export async function greedySearch(decoder: StepDecoder, maxTokens: number, eos: number, pad: number): Promise<Hypothesis[]> {
  const B = decoder.examples;
  const hypotheses: Hypothesis[] = Array.from({ length: B }, () => ({ ids: [], logprob: 0 }));
  const done = new Array<boolean>(B).fill(false);
  for (;;) {
    const next = new Array<number>(B).fill(pad);
    for (let b = 0; b < B; b++) {
      if (done[b]) continue;
      const logits = decoder.row(b);
      const id = argmax(logits);
      hypotheses[b].ids.push(id);
      hypotheses[b].logprob += logits[id] - logSumExp(logits);
      done[b] = id === eos || hypotheses[b].ids.length === maxTokens;
      if (!done[b]) next[b] = id;
    }
    if (done.every(Boolean)) return hypotheses;
    await decoder.step(next);
  }
}

/**
 * The k best of candidates scored `score(i)` for i < count: indices by score descending, then index
 * ascending (the lowest id wins a tie). One pass keeping a sorted list of k.
 */
export function topK(count: number, k: number, score: (i: number) => number): number[] {
  const best: number[] = [];
  const scores: number[] = [];
  for (let i = 0; i < count; i++) {
    const s = score(i);
    if (best.length === k && !(s > scores[k - 1])) continue;
    let at = best.length === k ? k - 1 : best.length;
    while (at > 0 && s > scores[at - 1]) at--;
    best.splice(at, 0, i);
    scores.splice(at, 0, s);
    if (best.length > k) {
      best.pop();
      scores.pop();
    }
  }
  return best;
}

/** Up to k finished hypotheses of one example, by score = logprob / length (Hugging Face's BeamHypotheses). */
class FinishedHypotheses {
  readonly list: Array<Hypothesis & { score: number }> = [];

  constructor(private readonly k: number) {}

  get full(): boolean {
    return this.list.length >= this.k;
  }

  add(h: Hypothesis): void {
    const score = h.logprob / h.ids.length;
    if (this.full && !(score > this.worst())) return;
    this.list.push({ ...h, score });
    this.list.sort((a, b) => b.score - a.score);
    if (this.list.length > this.k) this.list.pop();
  }

  worst(): number {
    return this.list.at(-1)!.score;
  }

  best(): Hypothesis {
    return this.list[0];
  }
}

/**
 * Beam search (docs/ENGINE.md §7, Hugging Face's with early_stopping=True and length_penalty 1): per
 * example, k live prefixes by summed log-probability. Each step takes the 2k best continuations over all
 * k·V (beam, token) pairs; one ending in eos among the first k is finished with score logprob / length,
 * the others refill the k live beams. An example is done once it has k finished hypotheses; at maxTokens
 * the live beams join the finished ones. The answer is the best finished hypothesis.
 *
 * The past keys/values follow the beams: row b·k + j continues row b·k + (its source beam), reordered on
 * the GPU by buffer copies before the next step.
 */
export async function beamSearch(decoder: StepDecoder, k: number, maxTokens: number, eos: number, pad: number): Promise<Hypothesis[]> {
  const B = decoder.examples;
  const V = decoder.vocabSize;
  // Beams 1 … k−1 start at NEVER, so the first step expands beam 0 alone (the k rows are equal then).
  const live: Hypothesis[][] = Array.from({ length: B }, () => Array.from({ length: k }, (_, i) => ({ ids: [], logprob: i === 0 ? 0 : NEVER })));
  const finished = Array.from({ length: B }, () => new FinishedHypotheses(k));
  const done = new Array<boolean>(B).fill(false);

  for (let length = 1; ; length++) {
    const tokens = new Array<number>(B * k).fill(pad);
    const sourceRows = Array.from({ length: B * k }, (_, row) => row);
    for (let b = 0; b < B; b++) {
      if (done[b]) continue;
      // Log-probabilities of every (beam i, token v), flattened as i·V + v.
      const rows = live[b].map((_, i) => decoder.row(b * k + i));
      const normalizers = rows.map(logSumExp);
      const total = (c: number) => {
        const i = Math.floor(c / V);
        return live[b][i].logprob + rows[i][c % V] - normalizers[i];
      };
      const candidates = topK(k * V, 2 * k, total);
      const next: Hypothesis[] = [];
      for (const [rank, c] of candidates.entries()) {
        const [i, token] = [Math.floor(c / V), c % V];
        const extended = { ids: [...live[b][i].ids, token], logprob: total(c) };
        if (token === eos) {
          if (rank < k) finished[b].add(extended);
        } else {
          sourceRows[b * k + next.length] = b * k + i;
          tokens[b * k + next.length] = token;
          next.push(extended);
        }
        if (next.length === k) break;
      }
      live[b] = next;
      done[b] = finished[b].full;
    }
    if (length === maxTokens) {
      live.forEach((beams, b) => { if (!done[b]) beams.forEach((h) => finished[b].add(h)); });
      break;
    }
    if (done.every(Boolean)) break;
    await decoder.step(tokens, sourceRows);
  }
  return finished.map((f) => f.best());
}
