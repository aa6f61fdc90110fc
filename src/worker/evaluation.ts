/**
 * What the frozen model and an adapter say about images: captions of the validation split scored with CIDEr-D /
 * BLEU-4 / ROUGE-L, and one image's caption for the playground (the validation loss is the trainer's:
 * Trainer.validationLoss). All on the GPU through CaptionGenerator; only text comes back.
 */
import { IMAGE_FORMATS } from '../data/images.ts';
import { DatasetError } from '../errors.ts';
import { evaluateCaptions, evaluationItems, type Evaluation, type EvaluationItem } from '../engine/evaluate.ts';
import { cacheImageFeatures } from '../engine/featureCache.ts';
import type { AdapterChoice, CaptionGenerator } from '../engine/generate.ts';
import type { ModelPackage } from '../engine/modelPackage.ts';
import type { AdapterWeights } from '../formats/adapterFile.ts';
import type { EvaluationResult, GalleryItem, PlaygroundResult, Progress, TaskRoute } from '../shared/engineApi.ts';
import type { PreparedSplit } from '../engine/preparedSplit.ts';
import { thumbnail } from './datasetSession.ts';
import { blobSource } from './sources.ts';

const DROP_AN_IMAGE = `Drop a PNG or JPEG image (${IMAGE_FORMATS} are read).`;

/** Images captioned per run of the graphs (and per progress report). */
const CAPTION_BATCH = 8;
/** Gallery items shown with a picture (the others as text). */
export const GALLERY_IMAGES = 48;

/** Each task's adapter (the newest saved for it on this model), for an evaluation that routes by task. */
export type TaskAdapters = Map<string, { weights: AdapterWeights[]; name: string }>;

/**
 * The items of an evaluation, with the adapter each goes through: one adapter for all, or each example through
 * its task's adapter (examples of a task without one, or without a task, through the frozen model). Items of
 * different tasks are never merged, even on one image and prompt.
 */
function routedItems(pkg: ModelPackage, prepared: PreparedSplit, adapter: AdapterWeights[] | TaskAdapters): {
  items: EvaluationItem[]; choice: AdapterChoice; tasks: (string | undefined)[]; routes?: TaskRoute[];
} {
  const split = { ...prepared.dataset, examples: prepared.validation };
  if (Array.isArray(adapter)) {
    const items = evaluationItems(pkg, split, prepared.features);
    return { items, choice: adapter, tasks: items.map(() => undefined) };
  }
  const names = [...new Set(prepared.validation.map((e) => e.task))];
  const sets = [...adapter.values()].map((a) => a.weights);
  const index = new Map([...adapter.keys()].map((task, i) => [task, i]));
  const items: EvaluationItem[] = [];
  const route: number[] = [];
  const tasks: (string | undefined)[] = [];
  const routes: TaskRoute[] = [];
  for (const task of names) {
    const examples = prepared.validation.filter((e) => e.task === task);
    if (!examples.some((e) => prepared.features.ok[e.imageIndex])) continue;
    const part = evaluationItems(pkg, { ...split, examples }, prepared.features);
    const i = task === undefined ? -1 : index.get(task) ?? -1;
    items.push(...part);
    part.forEach(() => { route.push(i); tasks.push(task); });
    routes.push({ task: task ?? '(no task)', adapterName: i >= 0 ? adapter.get(task!)!.name : undefined, items: part.length });
  }
  if (items.length === 0) throw new DatasetError('nothing to evaluate: no example has a readable image', prepared.dataset.label, 'Check the validation report.');
  return { items, choice: { adapters: sets, route }, tasks, routes };
}

/**
 * The validation split captioned by the frozen model and with `adapter` (one for all examples, or each task's
 * own), scored by the engine's evaluation (src/engine/evaluate.ts, as `npm run evaluate` and the report), with
 * the thumbnails made when the split's features were cached (the first GALLERY_IMAGES images). The frozen
 * model's captions are computed once per split.
 */
export async function evaluateValidation(pkg: ModelPackage, generator: CaptionGenerator, prepared: PreparedSplit & { frozen?: Evaluation },
  adapter: AdapterWeights[] | TaskAdapters, onProgress: ((p: Progress) => void) | undefined, thumbnails: Map<string, Blob>,
): Promise<Omit<EvaluationResult, 'adapterId' | 'adapterName'>> {
  const { items, choice, tasks, routes } = routedItems(pkg, prepared, adapter);
  const captions = (weights: AdapterChoice, phase: Progress['phase']) => {
    onProgress?.({ phase, done: 0, total: items.length });
    return evaluateCaptions(pkg, items, prepared.features, weights, {
      generator, batchSize: CAPTION_BATCH, onProgress: (done, total) => onProgress?.({ phase, done, total }),
    });
  };
  prepared.frozen ??= await captions([], 'captioning (frozen model)');
  const frozen = prepared.frozen;
  const adapted = await captions(choice, 'captioning (adapted)');
  const gallery: GalleryItem[] = [];
  for (const [i, item] of items.entries()) {
    const thumb = i < GALLERY_IMAGES ? thumbnails.get(item.image) : undefined;
    gallery.push({
      path: item.image, thumbnail: thumb, references: item.references, prompt: item.prompt,
      frozen: frozen.captions[i].caption, adapted: adapted.captions[i].caption, ...(tasks[i] === undefined ? {} : { task: tasks[i] }),
    });
  }
  return { images: items.length, before: frozen.scores, after: adapted.scores, items: gallery, ...(routes ? { routes } : {}) };
}

/** One image dropped on the playground: its caption by the frozen model and, given an adapter, with it. */
export async function captionImage(pkg: ModelPackage, generator: CaptionGenerator, image: Blob, prompt: string,
  adapter: AdapterWeights[] | undefined, onProgress?: (p: Progress) => void): Promise<Omit<PlaygroundResult, 'adapterName'>> {
  const source = blobSource('dropped image', [{ path: 'image', file: image }]);
  onProgress?.({ phase: 'captioning', done: 0, total: adapter ? 2 : 1 });
  // One decode: the thumbnail is made from the pixels decoded for the vision graph.
  let thumb: Promise<Blob | undefined> = Promise.resolve(undefined);
  const features = await cacheImageFeatures(pkg, { label: 'dropped image', source, images: ['image'] }, undefined,
    (_, pixels) => { thumb = thumbnail(pixels).catch(() => undefined); });
  try {
    if (!features.ok[0]) throw new DatasetError(features.skipped[0]?.reason ?? 'the image cannot be read', 'the dropped image', DROP_AN_IMAGE);
    const inputs = { features, imageIndices: [0], promptIds: [pkg.text.promptIds(prompt)] };
    const [frozen] = await generator.generate(inputs);
    onProgress?.({ phase: 'captioning', done: 1, total: adapter ? 2 : 1 });
    const adapted = adapter ? (await generator.generate(inputs, adapter))[0].caption : undefined;
    onProgress?.({ phase: 'captioning', done: adapter ? 2 : 1, total: adapter ? 2 : 1 });
    return { thumbnail: await thumb, prompt, frozen: frozen.caption, adapted };
  } finally {
    features.buffer.destroy();
  }
}
