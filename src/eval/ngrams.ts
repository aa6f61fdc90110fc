/**
 * n-gram counts of a token list, shared by BLEU and CIDEr-D:
 *
 *   counts[k-1][g] = #{ i : tokens[i .. i+k-1] = g }   for k = 1 … n
 *
 * An n-gram's key is its tokens joined by a space: tokens never contain one, so the key is unambiguous,
 * and counts are kept per order, so keys of different orders never meet.
 */
export type NgramCounts = Map<string, number>[];

export function countNgrams(tokens: readonly string[], n: number): NgramCounts {
  const counts: NgramCounts = [];
  for (let k = 1; k <= n; k++) {
    const order = new Map<string, number>();
    for (let i = 0; i + k <= tokens.length; i++) {
      const key = tokens.slice(i, i + k).join(' ');
      order.set(key, (order.get(key) ?? 0) + 1);
    }
    counts.push(order);
  }
  return counts;
}
