/**
 * The caption metrics reproduce the pycocoevalcap reference vectors (`src/eval/testing/public_vectors.json`) to 1e-6, reject malformed input with a MetricInputError that names the id, and
 * give the hand-checkable values on tiny inputs.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { corpusBleu } from './bleu.ts';
import { corpusCiderD } from './cider.ts';
import { buildCorpus } from './corpus.ts';
import { MetricInputError } from '../errors.ts';
import { lcsLength } from './rouge.ts';
import { scoreCaptions, type CaptionScores } from './metrics.ts';
import { tokenize } from './tokenize.ts';

const vectorsPath = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'testing/public_vectors.json');

interface VectorCase {
  name: string;
  refs: Record<string, string[]>;
  cands: Record<string, string>;
  scores: Record<string, number | null>;
}
const vectors = JSON.parse(readFileSync(vectorsPath, 'utf8')) as { tokenisation: string; cases: VectorCase[] };

const TOLERANCE = 1e-6;

describe('the shared reference vectors', () => {
  it('has cases to check', () => {
    expect(vectors.cases.length).toBeGreaterThan(0);
  });

  let maxError = 0;
  for (const c of vectors.cases) {
    it(`reproduces every score of "${c.name}"`, () => {
      const scores = scoreCaptions(c.refs, c.cands);
      const keys = Object.keys(c.scores);
      expect(keys.length).toBeGreaterThan(0);
      for (const key of keys) {
        expect(Object.hasOwn(scores, key), `metric ${key} is not computed`).toBe(true);
        const expected = c.scores[key];
        const actual = scores[key as keyof CaptionScores];
        if (expected === null) {
          expect(actual, `${c.name} ${key}`).toBeNull();
          continue;
        }
        expect(actual, `${c.name} ${key}`).not.toBeNull();
        const error = Math.abs((actual as number) - expected);
        maxError = Math.max(maxError, error);
        expect(error, `${c.name} ${key}: got ${actual}, expected ${expected}`).toBeLessThanOrEqual(TOLERANCE);
      }
    });
  }

  it(`stays within ${TOLERANCE} over all cases`, () => {
    console.log(`caption metrics: max absolute error over the shared vectors = ${maxError}`);
    expect(maxError).toBeLessThanOrEqual(TOLERANCE);
  });
});

describe('tokenize', () => {
  it('lowercases, keeps apostrophes, turns punctuation into separators', () => {
    expect(tokenize("The cat's toy -- a yellow star.")).toEqual(['the', "cat's", 'toy', 'a', 'yellow', 'star']);
    expect(tokenize('A Red Circle, Above a BLUE square!')).toEqual(['a', 'red', 'circle', 'above', 'a', 'blue', 'square']);
  });

  it('treats letters and digits as Python str.isalnum does (values checked against Python 3.11)', () => {
    expect(tokenize('İstanbul café №5 ½ ΟΔΟΣ')).toEqual(['i', 'stanbul', 'café', '5', '½', 'οδος']);
    expect(tokenize('tab\there\u00a0nbsp\u2003em\u200bzw')).toEqual(['tab', 'here', 'nbsp', 'em', 'zw']);
    expect(tokenize('don’t')).toEqual(['don', 't']); // only the ASCII apostrophe is kept
  });

  it('gives no tokens for empty or punctuation-only text', () => {
    expect(tokenize('')).toEqual([]);
    expect(tokenize(' ...!? ')).toEqual([]);
  });
});

describe('malformed input', () => {
  function inputError(refs: unknown, cands: unknown): MetricInputError {
    try {
      scoreCaptions(refs as Record<string, string[]>, cands as Record<string, string>);
    } catch (e) {
      expect(e).toBeInstanceOf(MetricInputError);
      return e as MetricInputError;
    }
    throw new Error('expected a MetricInputError');
  }

  it('a candidate id with no references is named', () => {
    const e = inputError({ a: ['a cat'] }, { a: 'a cat', 'img-7': 'a dog' });
    expect(e.message).toContain('img-7');
    expect(e.message).toMatch(/no references/);
    expect(e.where).toContain('img-7');
  });

  it('references with no candidate are named', () => {
    const e = inputError({ a: ['a cat'], b: ['a dog'] }, { a: 'a cat' });
    expect(e.message).toContain('"b"');
    expect(e.message).toMatch(/no candidate/);
  });

  it('an empty reference list is named', () => {
    const e = inputError({ a: ['a cat'], b: [] }, { a: 'a cat', b: 'a dog' });
    expect(e.message).toContain('"b"');
    expect(e.message).toMatch(/empty list/);
  });

  it('non-string captions and non-list references are rejected', () => {
    expect(inputError({ a: ['a cat'] }, { a: ['a cat'] }).message).toMatch(/candidate "a" is a object/);
    expect(inputError({ a: 'a cat' }, { a: 'a cat' }).message).toMatch(/references for "a" are not a list/);
    expect(inputError({ a: ['a cat', 3] }, { a: 'a cat' }).message).toMatch(/reference 1 of "a" is a number/);
    expect(inputError(null, {}).message).toMatch(/references are not an object/);
  });

  it('an empty set is rejected', () => {
    expect(inputError({}, {}).message).toMatch(/nothing to score/);
  });

  it('references that are all empty after tokenisation are rejected (the scorer fails on them too)', () => {
    expect(inputError({ a: ['...'], b: [''] }, { a: 'a cat', b: 'a dog' }).message).toMatch(/every reference is empty/);
  });

  it('messages say what to do', () => {
    const e = inputError({ a: ['a cat'] }, { a: 'a cat', z: 'x' });
    expect(e.fix.length).toBeGreaterThan(0);
    expect(e.message).toContain(e.fix);
    expect(e.name).toBe('MetricInputError');
  });
});

describe('hand-checked tiny cases', () => {
  const same = {
    refs: { 1: ['a red circle above a blue square'], 2: ['two dogs running on the beach'] },
    cands: { 1: 'a red circle above a blue square', 2: 'Two dogs running on the beach.' },
  };

  it('a candidate identical to its only reference scores 1 (BLEU, ROUGE-L, exact match) and 10 (CIDEr-D)', () => {
    const s = scoreCaptions(same.refs, same.cands);
    for (const key of ['BLEU-1', 'BLEU-2', 'BLEU-3', 'BLEU-4'] as const) expect(s[key]).toBeCloseTo(1, 8);
    expect(s['ROUGE-L']).toBe(1);
    expect(s['CIDEr-D']).toBeCloseTo(10, 12);
    expect(s.exactMatch).toBe(1);
  });

  it('BLEU clips repeated words: "the the the the" vs "the cat" has unigram precision 1/4', () => {
    const [bleu1] = corpusBleu(buildCorpus({ x: ['the cat'] }, { x: 'the the the the' }));
    expect(bleu1).toBeCloseTo(0.25, 9); // 4 words ≥ 2, so no brevity penalty
  });

  it("BLEU 'closest' breaks a length tie towards the shorter reference", () => {
    // 5 words; references of 4 and 6 are equally close: the 4 is taken, so no brevity penalty
    // (taking 6 would give exp(1 − 6/5) ≈ 0.819).
    const [bleu1] = corpusBleu(buildCorpus({ x: ['a b c d', 'a b c d e f'] }, { x: 'a b c d e' }));
    expect(bleu1).toBeCloseTo(1, 9);
  });

  it('BLEU applies the brevity penalty on the corpus lengths', () => {
    // 2 of 4 reference words, both matching: precisions 1, BP = exp(1 − 4/2) = e⁻¹.
    const [bleu1] = corpusBleu(buildCorpus({ x: ['a b c d'] }, { x: 'a b' }));
    expect(bleu1).toBeCloseTo(Math.exp(-1), 9);
  });

  it('ROUGE-L of "a b c" against "a c d e" is the β=1.2 F of P=2/3, R=1/2', () => {
    expect(lcsLength(['a', 'c', 'd', 'e'], ['a', 'b', 'c'])).toBe(2);
    const s = scoreCaptions({ x: ['a c d e'] }, { x: 'a b c' });
    expect(s['ROUGE-L']).toBeCloseTo(0.5570776255707762, 12);
  });

  it('an empty candidate scores 0 for its item and the rest is averaged over all items', () => {
    const s = scoreCaptions({ x: ['a b c'], y: ['d e f'] }, { x: 'a b c', y: '' });
    expect(s['ROUGE-L']).toBe(0.5);
    expect(s.exactMatch).toBe(0.5);
    expect(Number.isFinite(s['BLEU-4'])).toBe(true);
    expect(Number.isFinite(s['CIDEr-D'])).toBe(true);
  });

  it('an empty candidate against an empty reference scores ROUGE-L 1, as the scorer does', () => {
    const s = scoreCaptions({ x: ['', 'a b'], y: ['c d'] }, { x: '!!', y: 'c d' });
    expect(s['ROUGE-L']).toBe(1);
  });

  it('CIDEr-D of a one-item set is 0: every n-gram occurs in every item, so its idf is ln 1 = 0', () => {
    expect(corpusCiderD(buildCorpus({ x: ['a red circle'] }, { x: 'a red circle' }))).toBe(0);
  });

  it('exact match ignores case and punctuation but not words', () => {
    const s = scoreCaptions({ q1: ['two', '2'], q2: ['red'], q3: ['yes'] }, { q1: 'Two.', q2: 'dark red', q3: 'YES' });
    expect(s.exactMatch).toBeCloseTo(2 / 3, 15);
  });
});
