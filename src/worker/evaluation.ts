/**
 * What the frozen model and an adapter say about images: the validation loss (teacher forcing on the
 * references), captions of the validation split scored with CIDEr-D / BLEU-4 / ROUGE-L, and one image's
 * caption for the playground. All on the GPU through CaptionGenerator; only text comes back.
 */
import { decodeImage } from '../data/images.ts';
import { AdaLinkError, DatasetError } from '../engine/errors.ts';
import { cacheImageFeatures } from '../engine/featureCache.ts';
import type { CaptionGenerator } from '../engine/generate.ts';
import type { ModelPackage } from '../engine/modelPackage.ts';
import { scoreCaptions } from '../eval/metrics.ts';
import type { AdapterWeights } from '../formats/adapterFile.ts';
import type { EvaluationResult, GalleryItem, PlaygroundResult, Progress } from '../shared/engineApi.ts';
import { thumbnail } from './datasetSession.ts';
import { validationGroups, type Prepared } from './prepared.ts';
import { blobSource } from './sources.ts';

/** Validation examples scored for the loss curve: enough for a steady number, few enough to be quick. */
const VALIDATION_LOSS_EXAMPLES = 64;
/** Images captioned per run of the graphs (and per progress report). */
const CAPTION_BATCH = 8;

/** Mean cross-entropy per target token of the validation references, with the adapter (no dropout). */
export async function validationLoss(pkg: ModelPackage, generator: CaptionGenerator, prepared: Prepared, adapter: AdapterWeights[]): Promise<number> {
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

async function captions(pkg: ModelPackage, generator: CaptionGenerator, prepared: Prepared, groups: ReturnType<typeof validationGroups>,
  adapter: AdapterWeights[] | undefined, phase: Progress['phase'], onProgress?: (p: Progress) => void): Promise<string[]> {
  const out: string[] = [];
  for (let start = 0; start < groups.length; start += CAPTION_BATCH) {
    onProgress?.({ phase, done: start, total: groups.length });
    const batch = groups.slice(start, start + CAPTION_BATCH);
    const result = await generator.generate({
      features: prepared.features,
      imageIndices: batch.map((g) => g.imageIndex),
      promptIds: batch.map((g) => pkg.text.promptIds(g.prompt)),
    }, adapter, { batchSize: CAPTION_BATCH });
    out.push(...result.map((c) => c.caption));
  }
  onProgress?.({ phase, done: groups.length, total: groups.length });
  return out;
}

export async function evaluateCaptions(pkg: ModelPackage, generator: CaptionGenerator, prepared: Prepared, adapter: AdapterWeights[],
  onProgress: ((p: Progress) => void) | undefined, thumbnails: Map<string, Blob>): Promise<Omit<EvaluationResult, 'adapterId' | 'adapterName'>> {
  const groups = validationGroups(prepared, pkg.manifest.text.default_prompt);
  prepared.frozenCaptions ??= await captions(pkg, generator, prepared, groups, undefined, 'captioning (frozen model)', onProgress);
  const frozen = prepared.frozenCaptions;
  const adapted = await captions(pkg, generator, prepared, groups, adapter, 'captioning (adapted)', onProgress);
  const refs = Object.fromEntries(groups.map((g, i) => [String(i), g.references]));
  const before = scoreCaptions(refs, Object.fromEntries(frozen.map((c, i) => [String(i), c])));
  const after = scoreCaptions(refs, Object.fromEntries(adapted.map((c, i) => [String(i), c])));
  const items: GalleryItem[] = [];
  for (const [i, g] of groups.entries()) {
    const path = prepared.dataset.images[g.imageIndex];
    let thumb = thumbnails.get(path);
    if (!thumb && i < 48) {
      try {
        thumb = await thumbnail(await decodeImage(await prepared.dataset.source.read(path), path));
        if (thumb) thumbnails.set(path, thumb);
      } catch {
        // The features were cached, so the image decoded before; a thumbnail is only a picture.
      }
    }
    items.push({ path, thumbnail: thumb, references: g.references, prompt: g.prompt, frozen: frozen[i], adapted: adapted[i] });
  }
  return { images: groups.length, before, after, items };
}

/** One image dropped on the playground: its caption by the frozen model and, given an adapter, with it. */
export async function captionImage(pkg: ModelPackage, generator: CaptionGenerator, image: Blob, prompt: string,
  adapter: AdapterWeights[] | undefined, onProgress?: (p: Progress) => void): Promise<Omit<PlaygroundResult, 'adapterName'>> {
  const source = blobSource('dropped image', [{ path: 'image', file: image }]);
  let thumb: Blob | undefined;
  try {
    thumb = await thumbnail(await decodeImage(await source.read('image'), 'the dropped image'));
  } catch (e) {
    if (e instanceof AdaLinkError) throw new DatasetError(e.problem, 'the dropped image', 'Drop a PNG or JPEG image.');
    throw e;
  }
  onProgress?.({ phase: 'captioning', done: 0, total: adapter ? 2 : 1 });
  const features = await cacheImageFeatures(pkg, { label: 'dropped image', source, format: 'imagefolder', images: ['image'], examples: [], splits: [], skipped: [] });
  try {
    if (!features.ok[0]) throw new DatasetError(features.skipped[0]?.reason ?? 'the image cannot be read', 'the dropped image', 'Drop a PNG or JPEG image.');
    const inputs = { features, imageIndices: [0], promptIds: [pkg.text.promptIds(prompt)] };
    const [frozen] = await generator.generate(inputs);
    onProgress?.({ phase: 'captioning', done: 1, total: adapter ? 2 : 1 });
    const adapted = adapter ? (await generator.generate(inputs, adapter))[0].caption : undefined;
    onProgress?.({ phase: 'captioning', done: adapter ? 2 : 1, total: adapter ? 2 : 1 });
    return { thumbnail: thumb, prompt, frozen: frozen.caption, adapted };
  } finally {
    features.buffer.destroy();
  }
}
