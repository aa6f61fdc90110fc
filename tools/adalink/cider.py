"""CIDEr-D as pycocoevalcap's `Cider` scorer computes it (n = 4, sigma = 6, document frequencies from the
references being scored, clipped candidate counts, Gaussian length penalty, x10), on captions tokenised by
the rule of src/eval/testing/public_vectors.json: lowercase; every character that is not a letter or digit
(str.isalnum), an apostrophe or whitespace becomes a space; split on whitespace. Checked against those
vectors by tools/tests/test_cider.py. Returns the scorers' scale (papers multiply by 100).
"""
import math
from collections import defaultdict


def tokenize(s):
    return "".join(c if (c.isalnum() or c == "'" or c.isspace()) else " " for c in s.lower()).split()


def _ngrams(words, n=4):
    counts = defaultdict(int)
    for k in range(1, n + 1):
        for i in range(len(words) - k + 1):
            counts[tuple(words[i:i + k])] += 1
    return counts


def cider_d(refs, cands, n=4, sigma=6.0):
    """refs: {id: [caption, ...]}, cands: {id: caption} (same ids). Returns (corpus score, {id: score})."""
    ids = list(cands)
    crefs = {i: [_ngrams(tokenize(r), n) for r in refs[i]] for i in ids}
    ctest = {i: _ngrams(tokenize(cands[i]), n) for i in ids}
    df = defaultdict(float)
    for i in ids:
        for ngram in set(g for r in crefs[i] for g in r):
            df[ngram] += 1
    ref_len = math.log(float(len(ids)))

    def vec(counts):
        v = [defaultdict(float) for _ in range(n)]
        norm = [0.0] * n
        length = 0
        for ngram, tf in counts.items():
            k = len(ngram) - 1
            d = math.log(max(1.0, df[ngram]))
            v[k][ngram] = float(tf) * (ref_len - d)
            norm[k] += v[k][ngram] ** 2
            if k == 1:
                length += tf
        return v, [math.sqrt(x) for x in norm], length

    def sim(vh, vr, nh, nr, lh, lr):
        delta = float(lh - lr)
        val = [0.0] * n
        for k in range(n):
            for ngram in vh[k]:
                val[k] += min(vh[k][ngram], vr[k][ngram]) * vr[k][ngram]
            if nh[k] != 0 and nr[k] != 0:
                val[k] /= nh[k] * nr[k]
            val[k] *= math.e ** (-(delta ** 2) / (2 * sigma ** 2))
        return val

    scores = {}
    for i in ids:
        vh, nh, lh = vec(ctest[i])
        total = [0.0] * n
        for r in crefs[i]:
            vr, nr, lr = vec(r)
            total = [a + b for a, b in zip(total, sim(vh, vr, nh, nr, lh, lr))]
        scores[i] = sum(total) / n / len(crefs[i]) * 10.0
    return sum(scores.values()) / len(scores), scores
