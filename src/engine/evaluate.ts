/**
 * Captions for a dataset's images, scored against the dataset's own captions (src/eval): what the studio's
 * Evaluate panel, `npm run evaluate` and the default-model report show.
 *
 * One scored item per (image, prompt): its references are every caption the dataset gives that image
 * under that prompt, its candidate the caption the model generates for it (greedy unless options say
 * otherwise). Images whose features could not be computed are left out, as in training.
 */
import type { CaptionDataset } from '../data/imagefolder.ts';
import { scoreCaptions, type CaptionScores } from '../eval/metrics.ts';
import { ConfigError, DatasetError } from '../errors.ts';
import type { FeatureCache } from './featureCache.ts';
import { CaptionGenerator, type AdapterChoice, type GenerationOptions, type RoutedAdapters } from './generate.ts';
import type { ModelPackage } from './modelPackage.ts';

export interface EvaluationItem {
  /** Image path inside the dataset. */
  image: string;
  imageIndex: number;
  /** The prompt the caption answers (the package's default prompt when the dataset gives none). */
  prompt: string;
  references: string[];
}

export interface ScoredCaption extends EvaluationItem {
  caption: string;
}

export interface Evaluation {
  scores: CaptionScores;
  captions: ScoredCaption[];
}

/** The (image, prompt) pairs of `dataset` with their reference captions, in dataset order. */
export function evaluationItems(pkg: ModelPackage, dataset: CaptionDataset, features: Pick<FeatureCache, 'ok'>): EvaluationItem[] {
  const byKey = new Map<string, EvaluationItem>();
  for (const example of dataset.examples) {
    if (!features.ok[example.imageIndex]) continue;
    const prompt = example.prompt ?? pkg.manifest.text.default_prompt;
    const key = JSON.stringify([example.imageIndex, prompt]);
    let item = byKey.get(key);
    if (!item) {
      item = { image: dataset.images[example.imageIndex], imageIndex: example.imageIndex, prompt, references: [] };
      byKey.set(key, item);
    }
    item.references.push(example.caption);
  }
  if (byKey.size === 0) {
    throw new DatasetError('nothing to evaluate: no example has a readable image', dataset.label,
      'Check the validation report: every image of this split was skipped.');
  }
  return [...byKey.values()];
}

export interface EvaluationOptions extends GenerationOptions {
  /** Called after each batch of captions with (captions done, captions in all). */
  onProgress?: (done: number, total: number) => void;
  /** A generator of `pkg` to use and leave open (the studio keeps one between calls); by default one is made for this call. */
  generator?: CaptionGenerator;
}

/**
 * Generates a caption for every item and scores them all; `adapter` empty or absent = the frozen model, or
 * RoutedAdapters whose route is aligned with `items` (item i through adapters[route[i]], −1 = frozen).
 */
export async function evaluateCaptions(
  pkg: ModelPackage, items: EvaluationItem[], features: Pick<FeatureCache, 'buffer' | 'ok'>,
  adapter: AdapterChoice = [], options: EvaluationOptions = {},
): Promise<Evaluation> {
  const { onProgress, generator: given, ...generation } = options;
  const chunk = generation.batchSize ?? 16;
  if (!Array.isArray(adapter) && (adapter as RoutedAdapters).route?.length !== items.length) {
    throw new ConfigError(`${(adapter as RoutedAdapters).route?.length ?? 'no'} routes for ${items.length} items`, 'routed adapters',
      'Give one route per evaluation item (its adapter set\'s index, or -1 for the frozen model).');
  }
  const generator = given ?? new CaptionGenerator(pkg);
  const captions: ScoredCaption[] = [];
  try {
    for (let start = 0; start < items.length; start += chunk) {
      const part = items.slice(start, start + chunk);
      const generated = await generator.generate({
        features,
        imageIndices: part.map((item) => item.imageIndex),
        promptIds: part.map((item) => pkg.text.promptIds(item.prompt)),
      }, routeOf(adapter, start, part.length), { ...generation, batchSize: chunk });
      part.forEach((item, i) => captions.push({ ...item, caption: generated[i].caption }));
      onProgress?.(captions.length, items.length);
    }
  } finally {
    if (!given) generator.destroy();
  }
  const refs: Record<string, string[]> = {};
  const cands: Record<string, string> = {};
  captions.forEach((c, i) => {
    refs[i] = c.references;
    cands[i] = c.caption;
  });
  return { scores: scoreCaptions(refs, cands), captions };
}

/** The part of an adapter choice for items [start, start + count): a routed choice's slice of the route. */
function routeOf(adapter: AdapterChoice, start: number, count: number): AdapterChoice {
  if (Array.isArray(adapter)) return adapter;
  const routed = adapter as RoutedAdapters;
  return { adapters: routed.adapters, route: routed.route.slice(start, start + count) };
}
