/**
 * Scoring models on a dataset split from the command line: the frozen model and adapters, one after the
 * other, with a progress line each; and the Markdown table the evaluate command and the report print.
 */
import { evaluateCaptions, evaluationItems, type Evaluation } from '../engine/evaluate.ts';
import { CaptionGenerator, type GenerationOptions } from '../engine/generate.ts';
import type { ModelPackage } from '../engine/modelPackage.ts';
import type { PreparedSplit } from '../engine/preparedSplit.ts';
import type { AdapterWeights } from '../formats/adapterFile.ts';
import { progress } from './progress.ts';

/** One scored model: the frozen one (no adapter) or an adapter file. */
export interface ScoredRun {
  label: string;
  evaluation: Evaluation;
  seconds: number;
}

export type EvaluateOptions = Pick<GenerationOptions, 'numBeams' | 'maxTokens'>;

/** Scores the frozen model and each adapter on every (image, prompt) of the split's validation examples. */
export async function scoreRuns(
  pkg: ModelPackage, split: PreparedSplit,
  adapters: Array<{ label: string; weights: readonly AdapterWeights[] }>, options: EvaluateOptions = {},
): Promise<ScoredRun[]> {
  const { features } = split;
  const items = evaluationItems(pkg, { ...split.dataset, examples: split.validation }, features);
  // One generator (its GPU embedding table and scratch buffers) for every model scored.
  const generator = new CaptionGenerator(pkg);
  const runs: ScoredRun[] = [];
  try {
    for (const { label, weights } of [{ label: 'frozen model', weights: [] }, ...adapters]) {
      const started = performance.now();
      const bar = progress(`captions (${label})`, items.length);
      const evaluation = await evaluateCaptions(pkg, items, features, weights, { ...options, generator, onProgress: (done) => bar.update(done) });
      bar.stop();
      runs.push({ label, evaluation, seconds: (performance.now() - started) / 1000 });
    }
  } finally {
    generator.destroy();
  }
  return runs;
}

/** The scores as a Markdown table, ×100 as papers report them. */
export function scoreTable(runs: ScoredRun[]): string {
  const pct = (v: number | null) => (v === null ? '–' : (100 * v).toFixed(1));
  return [
    '| model | CIDEr-D | BLEU-4 | ROUGE-L | exact match % |',
    '|---|---:|---:|---:|---:|',
    ...runs.map(({ label, evaluation: { scores } }) =>
      `| ${label} | ${pct(scores['CIDEr-D'])} | ${pct(scores['BLEU-4'])} | ${pct(scores['ROUGE-L'])} | ${pct(scores.exactMatch)} |`),
  ].join('\n');
}
