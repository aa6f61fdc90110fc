/**
 * Caption tokeniser of the shared metric vectors (`public_vectors.json`, field `tokenisation`):
 *
 *   tokens(s) = split_ws( map(c ↦ c if isalnum(c) or c = "'" or isspace(c) else " ", lower(s)) )
 *
 * where isalnum is Python's str.isalnum (a Unicode letter, category L*, or a number, N*), and only the
 * ASCII apostrophe U+0027 is kept ("cat's" stays one token; a typographic ’ splits).
 *
 * Whitespace needs no list of its own: every character that is not kept becomes a space, and the
 * kept whitespace would be a separator anyway, so "replace everything else by a space, split on
 * spaces" gives exactly Python's `.split()` of the mapped string.
 *
 * Lowercasing comes first, as in the Python rule (`'İ'.lower()` yields 'i' + a combining dot, which
 * is then not alphanumeric); JavaScript's toLowerCase and Python's lower agree on full case mapping
 * and the final sigma.
 */
const NOT_KEPT = /[^\p{L}\p{N}']+/gu;

export function tokenize(text: string): string[] {
  return text
    .toLowerCase()
    .replace(NOT_KEPT, ' ')
    .split(' ')
    .filter((token) => token.length > 0);
}
