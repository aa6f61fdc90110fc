/**
 * Corpus ROUGE-L as pycocoevalcap's Rouge() computes it (β = 1.2).
 *
 * Per item, with LCS the longest common subsequence of tokens:
 *   P = max_r LCS(c, r) / |c|,   R = max_r LCS(c, r) / |r|      (each maximised separately)
 *   ROUGE-L(i) = (1 + β²) · P · R / (R + β² · P)   if P ≠ 0 and R ≠ 0, else 0
 *   ROUGE-L    = mean_i ROUGE-L(i)
 *
 * The scorer splits the space-joined tokens with `split(" ")`, so an empty caption is one empty token,
 * not zero tokens: |c| is then 1 and nothing divides by zero — an empty candidate scores 0 (and, a quirk
 * kept here, an empty candidate against an empty reference scores 1).
 */
import type { CorpusItem } from './corpus.ts';

/** Tokens as the scorer sees them: an empty caption is the one token ''. */
function asSplit(tokens: readonly string[]): readonly string[] {
  return tokens.length === 0 ? [''] : tokens;
}

/** Length of the longest common subsequence (one-row dynamic programme). */
export function lcsLength(a: readonly string[], b: readonly string[]): number {
  const row = new Array<number>(b.length + 1).fill(0);
  for (const x of a) {
    let diagonal = 0; // row[j-1] of the previous line
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = x === b[j - 1] ? diagonal + 1 : Math.max(above, row[j - 1]);
      diagonal = above;
    }
  }
  return row[b.length];
}

export function itemRougeL(candidate: readonly string[], references: readonly string[][], beta = 1.2): number {
  const c = asSplit(candidate);
  let precision = 0;
  let recall = 0;
  for (const reference of references) {
    const r = asSplit(reference);
    const lcs = lcsLength(r, c);
    precision = Math.max(precision, lcs / c.length);
    recall = Math.max(recall, lcs / r.length);
  }
  if (precision === 0 || recall === 0) return 0;
  const b2 = beta * beta;
  return ((1 + b2) * precision * recall) / (recall + b2 * precision);
}

export function corpusRougeL(items: readonly CorpusItem[], beta = 1.2): number {
  return items.reduce((sum, item) => sum + itemRougeL(item.candidate, item.references, beta), 0) / items.length;
}
