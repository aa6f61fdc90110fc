/**
 * Exact match for short answers (e.g. VQA-style "two", "red"):
 *
 *   EM(i) = 1 if tokens(c_i) = tokens(r) for some reference r of item i, else 0
 *   EM    = mean_i EM(i)
 *
 * Compared after the metrics' tokenisation, so case, punctuation and spacing do not count
 * ("Two." matches "two"); word order and every word do.
 */
import type { CorpusItem } from './corpus.ts';

function sameTokens(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((token, i) => token === b[i]);
}

export function corpusExactMatch(items: readonly CorpusItem[]): number {
  const hits = items.filter((item) => item.references.some((r) => sameTokens(item.candidate, r))).length;
  return hits / items.length;
}
