/**
 * Corpus-level BLEU-1…4 as pycocoevalcap's Bleu(4) computes it (option 'closest').
 *
 * Per item i, with candidate c_i and references R_i:
 *   guess_k(i)   = max(0, |c_i| − k + 1)                       (number of candidate k-grams)
 *   correct_k(i) = Σ_g min(count_{c_i}(g), max_{r ∈ R_i} count_r(g))   (clipped k-gram matches)
 *   r_i          = the reference length closest to |c_i|; a tie goes to the shorter one
 * Over the corpus (sums over i), with tiny = 1e-15 and small = 1e-9 keeping 0/0 finite:
 *   p_k    = (Σ correct_k + tiny) / (Σ guess_k + small)
 *   BLEU-N = (p_1 · … · p_N)^(1/N) · BP,  BP = exp(1 − 1/ρ) if ρ < 1 else 1,
 *   ρ      = (Σ|c_i| + tiny) / (Σ r_i + small)
 * Precisions are pooled over the corpus before the geometric mean (not a mean of per-item BLEUs).
 */
import type { CorpusItem } from './corpus.ts';
import { countNgrams } from './ngrams.ts';

const TINY = 1e-15;
const SMALL = 1e-9;

/** The reference length nearest to the candidate's; the shorter on a tie (Python's min over (|Δ|, l)). */
function closestLength(referenceLengths: number[], candidateLength: number): number {
  let best = referenceLengths[0];
  for (const length of referenceLengths) {
    const d = Math.abs(length - candidateLength);
    const bestD = Math.abs(best - candidateLength);
    if (d < bestD || (d === bestD && length < best)) best = length;
  }
  return best;
}

/** [BLEU-1, …, BLEU-maxN] of the corpus. */
export function corpusBleu(items: readonly CorpusItem[], maxN = 4): number[] {
  const guess = new Array<number>(maxN).fill(0);
  const correct = new Array<number>(maxN).fill(0);
  let candidateLength = 0;
  let referenceLength = 0;

  for (const { candidate, references } of items) {
    // Highest count of each n-gram in any one reference (clipping limit).
    const maxRef = Array.from({ length: maxN }, () => new Map<string, number>());
    for (const reference of references) {
      countNgrams(reference, maxN).forEach((order, k) => {
        for (const [g, c] of order) maxRef[k].set(g, Math.max(maxRef[k].get(g) ?? 0, c));
      });
    }
    countNgrams(candidate, maxN).forEach((order, k) => {
      for (const [g, c] of order) correct[k] += Math.min(c, maxRef[k].get(g) ?? 0);
      guess[k] += Math.max(0, candidate.length - k);
    });
    candidateLength += candidate.length;
    referenceLength += closestLength(references.map((r) => r.length), candidate.length);
  }

  const ratio = (candidateLength + TINY) / (referenceLength + SMALL);
  const brevity = ratio < 1 ? Math.exp(1 - 1 / ratio) : 1;
  const scores: number[] = [];
  let product = 1;
  for (let k = 0; k < maxN; k++) {
    product *= (correct[k] + TINY) / (guess[k] + SMALL);
    scores.push(product ** (1 / (k + 1)) * brevity);
  }
  return scores;
}
