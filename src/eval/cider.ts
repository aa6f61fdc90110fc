/**
 * Corpus CIDEr-D as pycocoevalcap's Cider() computes it (n = 4, σ = 6, document frequencies from the
 * scored corpus's own references). On the scorer's scale: a perfect match is 10, papers print ×100.
 *
 * With N items in the corpus and df(g) = number of items whose references contain the n-gram g:
 *   w_x(g)   = tf_x(g) · (ln N − ln max(1, df(g)))            tf-idf weight of g in caption x
 *   sim_k(c, r) = Σ_{g ∈ c, |g|=k} min(w_c(g), w_r(g)) · w_r(g) / (‖w_c‖_k · ‖w_r‖_k)
 *              · exp(−(ℓ_c − ℓ_r)² / (2σ²))                  (0 when either norm is 0)
 *   CIDEr-D(i)  = 10 · (1/4) Σ_{k=1..4} (1/|R_i|) Σ_{r ∈ R_i} sim_k(c_i, r)
 *   CIDEr-D     = mean_i CIDEr-D(i)
 *
 * The min(…) clips a candidate that repeats an n-gram more often than the reference (the "-D");
 * the Gaussian penalises length differences. ℓ is the caption's length: the scorer counts its bigrams,
 * which differs from the word count by the same 1 on both sides unless a side is empty — and an empty
 * side has norm 0, so it scores 0 either way; the word count is used here.
 * Note ln N is the log of the number of *items* (images), not of references per item; with one item
 * every weight is 0 and so is the score.
 */
import type { CorpusItem } from './corpus.ts';
import { MetricInputError } from '../errors.ts';
import { countNgrams, type NgramCounts } from './ngrams.ts';

export interface CiderOptions {
  n?: number;
  sigma?: number;
}

interface Weighted {
  weights: Map<string, number>[];
  norms: number[];
  length: number;
}

export function corpusCiderD(items: readonly CorpusItem[], { n = 4, sigma = 6 }: CiderOptions = {}): number {
  const refCounts = items.map((item) => item.references.map((r) => countNgrams(r, n)));

  // Document frequency: in how many items' reference sets each n-gram occurs. One map for all orders
  // is safe: a k-gram's key has k−1 spaces, so keys of different orders never collide.
  const df = new Map<string, number>();
  refCounts.forEach((counts) => {
    const seen = new Set<string>();
    for (const c of counts) c.forEach((order) => { for (const g of order.keys()) seen.add(g); });
    for (const g of seen) df.set(g, (df.get(g) ?? 0) + 1);
  });
  if (df.size === 0) {
    throw new MetricInputError('every reference is empty after tokenisation, so CIDEr-D has no document frequencies',
      `all ${items.length} ids`, 'Give references with at least one letter or digit.');
  }
  const logItems = Math.log(items.length);

  const weigh = (counts: NgramCounts, length: number): Weighted => {
    const weights = counts.map((order) => {
      const w = new Map<string, number>();
      for (const [g, tf] of order) w.set(g, tf * (logItems - Math.log(Math.max(1, df.get(g) ?? 0))));
      return w;
    });
    const norms = weights.map((w) => Math.sqrt([...w.values()].reduce((s, x) => s + x * x, 0)));
    return { weights, norms, length };
  };

  const similarity = (c: Weighted, r: Weighted): number[] => {
    const delta = c.length - r.length;
    const penalty = Math.exp(-(delta * delta) / (2 * sigma * sigma));
    return c.weights.map((cw, k) => {
      let dot = 0;
      for (const [g, wc] of cw) {
        const wr = r.weights[k].get(g) ?? 0;
        dot += Math.min(wc, wr) * wr;
      }
      if (c.norms[k] !== 0 && r.norms[k] !== 0) dot /= c.norms[k] * r.norms[k];
      return dot * penalty;
    });
  };

  let total = 0;
  items.forEach((item, i) => {
    const candidate = weigh(countNgrams(item.candidate, n), item.candidate.length);
    const perOrder = new Array<number>(n).fill(0);
    item.references.forEach((reference, j) => {
      similarity(candidate, weigh(refCounts[i][j], reference.length)).forEach((s, k) => { perOrder[k] += s; });
    });
    const mean = perOrder.reduce((s, x) => s + x, 0) / n;
    total += (mean / item.references.length) * 10;
  });
  return total / items.length;
}
