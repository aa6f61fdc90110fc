/**
 * All caption metrics of one scored set, corpus-level as the COCO scorers compute them:
 * BLEU-1…4 (Bleu(4), 'closest'), CIDEr-D (n 4, σ 6, document frequencies from these references),
 * ROUGE-L (β 1.2) and exact match. Captions are tokenised by `tokenize` first.
 *
 * Throws MetricInputError when the ids of references and candidates differ, an id has no references,
 * or there is nothing to score.
 */
import { corpusBleu } from './bleu.ts';
import { corpusCiderD } from './cider.ts';
import { buildCorpus } from './corpus.ts';
import { corpusExactMatch } from './exactMatch.ts';
import { corpusRougeL } from './rouge.ts';

export interface CaptionScores {
  'BLEU-1': number;
  'BLEU-2': number;
  'BLEU-3': number;
  'BLEU-4': number;
  'CIDEr-D': number;
  /**
   * The shared vectors' format allows null here (its note says the official scorer divides by zero on
   * an empty candidate). The scorer on tokenised captions never does — an empty candidate scores 0 for
   * its item, which is what the vectors hold — so this implementation always returns a number.
   */
  'ROUGE-L': number | null;
  exactMatch: number;
}

export function scoreCaptions(refs: Record<string, string[]>, cands: Record<string, string>): CaptionScores {
  const items = buildCorpus(refs, cands);
  const [bleu1, bleu2, bleu3, bleu4] = corpusBleu(items, 4);
  return {
    'BLEU-1': bleu1,
    'BLEU-2': bleu2,
    'BLEU-3': bleu3,
    'BLEU-4': bleu4,
    'CIDEr-D': corpusCiderD(items, { n: 4, sigma: 6 }),
    'ROUGE-L': corpusRougeL(items, 1.2),
    exactMatch: corpusExactMatch(items),
  };
}
