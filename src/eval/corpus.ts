/**
 * Turns the caller's `{ id: references[] }` and `{ id: candidate }` into one tokenised list of items,
 * checking on the way what the COCO scorers assert (the same ids on both sides, at least one reference
 * per id, one string per candidate), so that every metric can assume well-formed input.
 *
 * Empty strings are not errors: the official scorers score an empty candidate (0 for it) and accept an
 * empty reference, so the metrics take them as they are.
 */
import { MetricInputError } from '../errors.ts';
import { tokenize } from './tokenize.ts';

export interface CorpusItem {
  readonly id: string;
  readonly candidate: string[];
  readonly references: string[][];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function buildCorpus(refs: Record<string, string[]>, cands: Record<string, string>): CorpusItem[] {
  if (!isRecord(refs)) {
    throw new MetricInputError('references are not an object of id → list of captions', 'refs',
      'Pass references as { [id]: string[] }.');
  }
  if (!isRecord(cands)) {
    throw new MetricInputError('candidates are not an object of id → caption', 'cands',
      'Pass candidates as { [id]: string }.');
  }
  for (const id of Object.keys(cands)) {
    if (!Object.hasOwn(refs, id)) {
      throw new MetricInputError(`candidate "${id}" has no references`, `id "${id}"`,
        'Add its reference captions, or leave the candidate out of the scored set.');
    }
  }
  const items: CorpusItem[] = [];
  for (const [id, references] of Object.entries(refs as Record<string, unknown>)) {
    if (!Object.hasOwn(cands, id)) {
      throw new MetricInputError(`references for "${id}" have no candidate`, `id "${id}"`,
        'Give a candidate for every id (an empty string if the model produced nothing), or leave its references out.');
    }
    const candidate: unknown = cands[id];
    if (typeof candidate !== 'string') {
      throw new MetricInputError(`candidate "${id}" is a ${typeof candidate}, not a string`, `id "${id}"`,
        'Pass exactly one caption string per id.');
    }
    if (!Array.isArray(references)) {
      throw new MetricInputError(`references for "${id}" are not a list`, `id "${id}"`,
        'Pass the references of an id as an array of caption strings.');
    }
    if (references.length === 0) {
      throw new MetricInputError(`references for "${id}" are an empty list`, `id "${id}"`,
        'Every id needs at least one reference caption; add one or leave the id out of the scored set.');
    }
    references.forEach((reference: unknown, index) => {
      if (typeof reference !== 'string') {
        throw new MetricInputError(`reference ${index} of "${id}" is a ${typeof reference}, not a string`,
          `id "${id}", reference ${index}`, 'References must be caption strings.');
      }
    });
    items.push({ id, candidate: tokenize(candidate), references: (references as string[]).map(tokenize) });
  }
  if (items.length === 0) {
    throw new MetricInputError('there is nothing to score', 'refs and cands are both empty',
      'Pass at least one id with a candidate and its references.');
  }
  return items;
}
