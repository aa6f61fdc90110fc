/**
 * The dataset the studio works on, in the worker: read (any format src/data knows), every image checked
 * by decoding it (a damaged image is listed with its reason, its rows dropped) and fingerprinted
 * (SHA-256 of its bytes), a preview for the UI, and the train/validation choice the person makes.
 */
import { readDataset, type CaptionDataset, type CaptionExample } from '../data/dataset.ts';
import { checkImage, decodeImage, IMAGE_FORMATS, type RgbImage } from '../data/images.ts';
import { sha256Hex } from '../formats/digest.ts';
import { inOrder } from '../data/inOrder.ts';
import { resampleRgb } from '../data/resample.ts';
import { tasksOf, type SplitChoice } from '../data/splits.ts';
import { AdaLinkError, DatasetError } from '../errors.ts';
import type { DatasetInput, DatasetSummary, PreviewItem, Progress, SourceOrigin, SplitSummary } from '../shared/engineApi.ts';
import { datasetSource } from './sources.ts';

const PREVIEW_ITEMS = 24;
const THUMBNAIL_SIDE = 128;
/** Images being decoded at once while the dataset is checked. */
const DECODE_AHEAD = 8;

export interface OpenedDataset {
  /** Readable examples only (rows of undecodable images removed). */
  dataset: CaptionDataset;
  summary: DatasetSummary;
  thumbnails: Map<string, Blob>;
  /** A new number for every dataset opened: keys the caches built on it. */
  serial: number;
  /** Where it came from (a URL can be opened again without the person). */
  origin: SourceOrigin;
  /** SHA-256 (hex) of each readable image's bytes, by path. */
  imageDigests: Map<string, string>;
}

let serial = 0;


/** A small PNG of an image (longest side THUMBNAIL_SIDE), made off the UI thread from a Pillow-style downscale. */
export async function thumbnail(image: RgbImage): Promise<Blob | undefined> {
  if (typeof OffscreenCanvas === 'undefined') return undefined;
  const scale = Math.min(1, THUMBNAIL_SIDE / Math.max(image.width, image.height));
  const width = Math.max(1, Math.round(image.width * scale));
  const height = Math.max(1, Math.round(image.height * scale));
  const rgb = resampleRgb(image.rgb, image.width, image.height, width, height, 'bilinear');
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    rgba[p * 4] = rgb[p * 3];
    rgba[p * 4 + 1] = rgb[p * 3 + 1];
    rgba[p * 4 + 2] = rgb[p * 3 + 2];
    rgba[p * 4 + 3] = 255;
  }
  const canvas = new OffscreenCanvas(width, height);
  canvas.getContext('2d')!.putImageData(new ImageData(rgba, width, height), 0, 0);
  return canvas.convertToBlob({ type: 'image/png' });
}

function words(caption: string): number {
  return caption.trim().split(/\s+/).filter(Boolean).length;
}

function histogram(values: number[]): { edges: number[]; counts: number[] } {
  const max = Math.max(1, ...values);
  const width = Math.max(1, Math.ceil((max + 1) / 12));
  const bins = Math.ceil((max + 1) / width);
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.floor(v / width))]++;
  return { edges: Array.from({ length: bins + 1 }, (_, i) => i * width), counts };
}

export function splitCounts(examples: CaptionExample[]): Array<{ split: string; images: number; examples: number }> {
  const bySplit = new Map<string, { images: Set<number>; examples: number }>();
  for (const e of examples) {
    const entry = bySplit.get(e.split) ?? { images: new Set<number>(), examples: 0 };
    entry.images.add(e.imageIndex);
    entry.examples++;
    bySplit.set(e.split, entry);
  }
  return [...bySplit].map(([split, { images, examples: n }]) => ({ split, images: images.size, examples: n }));
}

export async function openDataset(input: DatasetInput, onProgress?: (p: Progress) => void): Promise<OpenedDataset> {
  onProgress?.({ phase: 'reading dataset', done: 0, total: 1 });
  const source = await datasetSource(input);
  const read = await readDataset(source);
  onProgress?.({ phase: 'reading dataset', done: 1, total: 1 });

  // Decode every image, several at a time: a damaged one is reported now, for that image alone.
  const skipped = [...read.skipped];
  const good = read.images.map(() => false);
  const thumbnails = new Map<string, Blob>();
  const imageDigests = new Map<string, string>();
  const previewImages = new Set(read.examples.slice(0, 4 * PREVIEW_ITEMS).map((e) => e.imageIndex));
  const checked = inOrder(read.images.length, DECODE_AHEAD, async (index) => {
    const path = read.images[index];
    try {
      const bytes = await source.read(path);
      const where = `${source.label}/${path}`;
      // The pixels only of an image the preview may show; the others are only decoded (a photo's pixels are
      // tens of megabytes, and the feature cache decodes them again when it needs them).
      const image = previewImages.has(index) ? await decodeImage(bytes, where) : (await checkImage(bytes, where), undefined);
      return { image, digest: await sha256Hex(bytes) };
    } catch (e) {
      return { reason: e instanceof AdaLinkError ? e.problem : `cannot be read: ${(e as Error).message}` };
    }
  });
  for (const [index, path] of read.images.entries()) {
    const result = (await checked.next()).value!;
    if ('reason' in result) {
      skipped.push({ where: path, reason: result.reason });
    } else {
      good[index] = true;
      imageDigests.set(path, result.digest);
      if (result.image && thumbnails.size < PREVIEW_ITEMS) {
        // A picture for the preview only: an image that decoded stays in the dataset whatever happens here.
        const blob = await thumbnail(result.image).catch(() => undefined);
        if (blob) thumbnails.set(path, blob);
      }
    }
    if (index % 16 === 15 || index === read.images.length - 1) onProgress?.({ phase: 'checking images', done: index + 1, total: read.images.length });
  }
  const dropped = read.examples.filter((e) => !good[e.imageIndex]).length;
  if (dropped === read.examples.length) {
    throw new DatasetError(`none of the ${read.images.length} images could be decoded`, source.label,
      `Use ${IMAGE_FORMATS} images; the first reason is listed above.`);
  }
  const dataset: CaptionDataset = { ...read, examples: read.examples.filter((e) => good[e.imageIndex]), skipped };

  // Preview: the first images, each with all its captions.
  const byImage = new Map<number, CaptionExample[]>();
  for (const e of dataset.examples) byImage.set(e.imageIndex, [...(byImage.get(e.imageIndex) ?? []), e]);
  const preview: PreviewItem[] = [...byImage].slice(0, PREVIEW_ITEMS).map(([index, examples]) => ({
    path: dataset.images[index], thumbnail: thumbnails.get(dataset.images[index]),
    captions: examples.map((e) => e.caption), prompt: examples[0].prompt, split: examples[0].split,
    ...(examples[0].task === undefined ? {} : { task: examples[0].task }),
  }));
  const images = new Set(dataset.examples.map((e) => e.imageIndex));
  const summary: DatasetSummary = {
    label: source.label, format: dataset.format, images: images.size, examples: dataset.examples.length,
    splits: splitCounts(dataset.examples), skipped,
    lengthHistogram: histogram(dataset.examples.map((e) => words(e.caption))),
    hasPrompts: dataset.examples.some((e) => e.prompt !== undefined),
    maxCaptionsPerImage: Math.max(...[...byImage.values()].map((list) => list.length)),
    tasks: tasksOf(dataset),
    preview,
  };
  const origin: SourceOrigin = 'url' in input ? { label: source.label, url: input.url } : { label: source.label };
  return { dataset, summary, thumbnails, serial: ++serial, origin, imageDigests };
}

/**
 * SHA-256 (hex) of a split: its examples in order, each as its image's digest, caption and prompt. The
 * data order and every batch follow from the training examples, the validation loss from the others: a
 * run resumes only on the split with the same fingerprint.
 */
export async function splitFingerprint(opened: OpenedDataset, choice: SplitChoice): Promise<string> {
  const rows = (examples: CaptionExample[]) =>
    examples.map((e) => [opened.imageDigests.get(opened.dataset.images[e.imageIndex]) ?? '', e.caption, e.prompt ?? null]);
  return sha256Hex(new TextEncoder().encode(JSON.stringify({ train: rows(choice.train), validation: rows(choice.validation) })));
}

export function describeSplit(choice: SplitChoice): SplitSummary {
  const count = (list: CaptionExample[]) => ({ images: new Set(list.map((e) => e.imageIndex)).size, examples: list.length });
  return { train: count(choice.train), validation: count(choice.validation) };
}
