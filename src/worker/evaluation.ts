/**
 * What the frozen model and an adapter say about images: the validation loss (teacher forcing on the
 * references), captions of the validation split scored with CIDEr-D / BLEU-4 / ROUGE-L, and one image's
 * caption for the playground. All on the GPU through CaptionGenerator; only text comes back.
 */
import { IMAGE_FORMATS } from '../data/images.ts';
import { DatasetError } from '../errors.ts';
import { evaluateCaptions, evaluationItems, type Evaluation } from '../engine/evaluate.ts';
import { cacheImageFeatures } from '../engine/featureCache.ts';
import type { CaptionGenerator } from '../engine/generate.ts';
import type { ModelPackage } from '../engine/modelPackage.ts';
import type { AdapterWeights } from '../formats/adapterFile.ts';
import type { EvaluationResult, GalleryItem, PlaygroundResult, Progress } from '../shared/engineApi.ts';
import type { PreparedSplit } from '../engine/preparedSplit.ts';
import { thumbnail } from './datasetSession.ts';
import { blobSource } from './sources.ts';

const DROP_AN_IMAGE = `Drop a PNG or JPEG image (${IMAGE_FORMATS} are read).`;

/** Validation examples scored for the loss curve: enough for a steady number, few enough to be quick. */
const VALIDATION_LOSS_EXAMPLES = 64;
/** Images captioned per run of the graphs (and per progress report); also validationLoss's batch. */
const CAPTION_BATCH = 8;
/** Gallery items shown with a picture (the others as text). */
export const GALLERY_IMAGES = 48;

/** Mean cross-entropy per target token of the validation references, with the adapter (no dropout). */
export async function validationLoss(pkg: ModelPackage, generator: CaptionGenerator, prepared: PreparedSplit, adapter: AdapterWeights[]): Promise<number> {
  const examples = prepared.validation.slice(0, VALIDATION_LOSS_EXAMPLES);
  const ids = examples.map((e) => pkg.text.targetIds(e.caption));
  const logprobs = await generator.logProbabilities({
    features: prepared.features,
    imageIndices: examples.map((e) => e.imageIndex),
    promptIds: examples.map((e) => pkg.text.promptIds(e.prompt ?? pkg.manifest.text.default_prompt)),
  }, ids, adapter, { batchSize: CAPTION_BATCH });
  const tokens = ids.reduce((n, row) => n + row.length, 0);
  return -logprobs.reduce((a, b) => a + b, 0) / tokens;
}

/**
 * The validation split captioned by the frozen model and with `adapter`, scored by the engine's evaluation
 * (src/engine/evaluate.ts, as `npm run evaluate` and the report), with the thumbnails made when the split's
 * features were cached (the first GALLERY_IMAGES images). The frozen model's captions are computed once per split.
 */
export async function evaluateValidation(pkg: ModelPackage, generator: CaptionGenerator, prepared: PreparedSplit & { frozen?: Evaluation }, adapter: AdapterWeights[],
  onProgress: ((p: Progress) => void) | undefined, thumbnails: Map<string, Blob>): Promise<Omit<EvaluationResult, 'adapterId' | 'adapterName'>> {
  const items = evaluationItems(pkg, { ...prepared.dataset, examples: prepared.validation }, prepared.features);
  const captions = (weights: AdapterWeights[], phase: Progress['phase']) => {
    onProgress?.({ phase, done: 0, total: items.length });
    return evaluateCaptions(pkg, items, prepared.features, weights, {
      generator, batchSize: CAPTION_BATCH, onProgress: (done, total) => onProgress?.({ phase, done, total }),
    });
  };
  prepared.frozen ??= await captions([], 'captioning (frozen model)');
  const frozen = prepared.frozen;
  const adapted = await captions(adapter, 'captioning (adapted)');
  const gallery: GalleryItem[] = [];
  for (const [i, item] of items.entries()) {
    const thumb = i < GALLERY_IMAGES ? thumbnails.get(item.image) : undefined;
    gallery.push({
      path: item.image, thumbnail: thumb, references: item.references, prompt: item.prompt,
      frozen: frozen.captions[i].caption, adapted: adapted.captions[i].caption,
    });
  }
  return { images: items.length, before: frozen.scores, after: adapted.scores, items: gallery };
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
