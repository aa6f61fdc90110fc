/**
 * The one shape every dataset reader returns (imagefolder metadata.jsonl, COCO captions JSON, CSV), and
 * the row checks they share, so that a row is accepted or skipped for the same reasons whatever the
 * format: an image path that stays inside the dataset (and exists, when the source can list its
 * files), a non-empty caption of sane length, no duplicates, text that was UTF-8.
 * A bad row is skipped with a reason a person understands; only a dataset with nothing usable fails.
 */
import { DatasetError, shorten } from '../errors.ts';
import type { FileSource } from './source.ts';

export type DatasetFormat = 'imagefolder' | 'coco' | 'csv';

export interface CaptionExample {
  /** Index into `images`. */
  imageIndex: number;
  caption: string;
  /** The example's prompt, or undefined for the model's default prompt. */
  prompt?: string;
  /** 'train', 'validation', 'test' or the dataset's own name; 'train' when the dataset gives none. */
  split: string;
  /** The example's task (a `task` column), or undefined: one adapter per task can be trained on one model. */
  task?: string;
}

export interface SkippedRow {
  where: string;
  reason: string;
}

export interface CaptionDataset {
  label: string;
  source: FileSource;
  format: DatasetFormat;
  /** Image paths inside the source, each once. */
  images: string[];
  examples: CaptionExample[];
  /** The splits that have at least one example: train, validation, test first, then others as met. */
  splits: string[];
  skipped: SkippedRow[];
}

/** A task name is a label shown in menus and kept with adapters, not text. */
export const MAX_TASK_CHARS = 100;
/** Longer captions are not captions (a pasted file, a broken export); they would be cut to a few tokens anyway. */
export const MAX_CAPTION_CHARS = 10_000;
/** Metadata files above this are refused before decoding: the browser would run out of memory first. */
export const MAX_METADATA_BYTES = 256 * 1024 * 1024;
/**
 * Skipped rows listed one by one; past this the rest are counted in one line, so a file of a million
 * broken lines cannot fill memory with its own error report.
 */
export const MAX_SKIPPED_LISTED = 10_000;

export const DEFAULT_SPLIT = 'train';

/** Split names as people and tools write them (Hugging Face's folder keywords among them) → one name each. */
const SPLIT_ALIASES: Record<string, string> = {
  train: 'train', training: 'train',
  validation: 'validation', valid: 'validation', val: 'validation', dev: 'validation', eval: 'validation', evaluation: 'validation',
  test: 'test', testing: 'test',
};
const CANONICAL_SPLITS = ['train', 'validation', 'test'];

/** The canonical name of a split ('val' → 'validation'); a name that is no alias stays as written (trimmed). */
export function normaliseSplit(name: string): string {
  const trimmed = name.trim();
  return SPLIT_ALIASES[trimmed.toLowerCase()] ?? trimmed;
}

/** Whether a folder name is one Hugging Face reads as a split (train/, validation/, val/, test/ …). */
export function isSplitFolderName(name: string): boolean {
  return Object.hasOwn(SPLIT_ALIASES, name.toLowerCase());
}

/** train, validation, test in that order, then any other split in the order given. */
export function orderSplits(names: Iterable<string>): string[] {
  const unique = [...new Set(names)];
  return [...CANONICAL_SPLITS.filter((s) => unique.includes(s)), ...unique.filter((s) => !CANONICAL_SPLITS.includes(s))];
}

/**
 * A metadata file's text. A file that is not UTF-8 is decoded anyway (bad bytes become U+FFFD) so that
 * its good rows still count; `utf8: false` tells the reader to skip the rows that carry a U+FFFD.
 */
export function decodeText(bytes: Uint8Array, where: string): { text: string; utf8: boolean } {
  if (bytes.length > MAX_METADATA_BYTES) {
    throw new DatasetError(`the file is ${(bytes.length / 2 ** 20).toFixed(0)} MiB, more than the ${MAX_METADATA_BYTES / 2 ** 20} MiB a metadata file may have`,
      where, 'Split the dataset into smaller ones, or remove rows that are not captions.');
  }
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), utf8: true };
  } catch {
    return { text: new TextDecoder('utf-8').decode(bytes), utf8: false };
  }
}

/**
 * An image path from a row, checked to stay inside the dataset: relative, '/'-separated, no '..'.
 * './' and '.' segments are dropped, since tools write them and they mean nothing.
 */
export function checkRelativePath(name: string): { path: string } | { reason: string } {
  if (name.includes('\0')) return { reason: 'the file name contains a NUL character' };
  if (name.includes('\\')) return { reason: `file name "${shorten(name)}" uses '\\': write paths with '/'` };
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return { reason: `file name "${shorten(name)}" is an absolute path: give it relative to the dataset folder` };
  const segments = name.split('/').filter((s) => s !== '.');
  if (segments.includes('..')) return { reason: `file name "${shorten(name)}" points outside the dataset folder` };
  if (segments.length === 0 || segments.includes('')) return { reason: `file name "${shorten(name)}" is not a path to a file` };
  return { path: segments.join('/') };
}

export function joinPath(dir: string, path: string): string {
  return dir === '' ? path : `${dir}/${path}`;
}

/** How the rows of one metadata file are read. */
export interface RowContext {
  /** The folder the file names are relative to ('' for the root). */
  dir: string;
  /** The split of rows that name none (the folder's, the file's, or 'train'). */
  defaultSplit: string;
  /** False when the file was not UTF-8: rows whose text holds a U+FFFD came from bad bytes. */
  utf8: boolean;
  /** The column that names the image, for messages. */
  fileColumn: string;
  /** Other folders an image may sit in (COCO's images/ or train2017/), tried when the source lists its files. */
  fallbackDirs?: string[];
}

export interface RowFields {
  file: unknown;
  /** One caption, or a list of them (several captions of one image). */
  captions: unknown;
  prompt?: unknown;
  split?: unknown;
  task?: unknown;
}

const NOT_UTF8 = 'not UTF-8 text: re-save the file as UTF-8';

/** Collects accepted examples and skipped rows from any number of metadata files of one dataset. */
export class DatasetBuilder {
  private readonly images: string[] = [];
  private readonly imageIndex = new Map<string, number>();
  private readonly examples: CaptionExample[] = [];
  private readonly skipped: SkippedRow[] = [];
  private notListed = 0;
  /** Example key → where it was first seen, to name the original in a duplicate's reason. */
  private readonly seen = new Map<string, string>();

  constructor(
    readonly source: FileSource,
    /** The source's files, when it can list them; then rows whose image is missing are skipped. */
    private readonly files: ReadonlySet<string> | undefined,
  ) {}

  skip(where: string, reason: string): void {
    if (this.skipped.length < MAX_SKIPPED_LISTED) this.skipped.push({ where, reason: shorten(reason, 300) });
    else this.notListed++;
  }

  get exampleCount(): number {
    return this.examples.length;
  }

  addRow(where: string, context: RowContext, fields: RowFields): void {
    const { utf8 } = context;
    const isBroken = (text: string) => !utf8 && text.includes('\uFFFD');
    const file = fields.file;
    if (typeof file !== 'string' || file.trim() === '') {
      this.skip(where, `no image: "${context.fileColumn}" is ${file === undefined || file === null ? 'missing' : typeof file === 'string' ? 'empty' : 'not text'}`);
      return;
    }
    if (isBroken(file)) return this.skip(where, NOT_UTF8);
    const checked = checkRelativePath(file.trim());
    if ('reason' in checked) return this.skip(where, checked.reason);
    const image = this.resolveImage(checked.path, context);
    if (image === undefined) return this.skip(where, `image "${shorten(checked.path)}" is not in the dataset`);

    let split = context.defaultSplit;
    if (typeof fields.split === 'string' && fields.split.trim() !== '') {
      if (isBroken(fields.split)) return this.skip(where, NOT_UTF8);
      split = normaliseSplit(fields.split);
    } else if (fields.split !== undefined && fields.split !== null && fields.split !== '') {
      return this.skip(where, 'the split is not text: write train, validation or test');
    }

    let prompt: string | undefined;
    if (typeof fields.prompt === 'string' && fields.prompt.trim() !== '') {
      if (isBroken(fields.prompt)) return this.skip(where, NOT_UTF8);
      if (fields.prompt.length > MAX_CAPTION_CHARS) return this.skip(where, `the prompt is ${fields.prompt.length} characters long, more than ${MAX_CAPTION_CHARS}`);
      prompt = fields.prompt;
    } else if (fields.prompt !== undefined && fields.prompt !== null && fields.prompt !== '') {
      return this.skip(where, 'the prompt is not text');
    }

    let task: string | undefined;
    if (typeof fields.task === 'number' && Number.isFinite(fields.task)) {
      task = String(fields.task);
    } else if (typeof fields.task === 'string' && fields.task.trim() !== '') {
      if (isBroken(fields.task)) return this.skip(where, NOT_UTF8);
      task = fields.task.trim();
      if (task.length > MAX_TASK_CHARS) return this.skip(where, `the task is ${task.length} characters long, more than ${MAX_TASK_CHARS}: name the task in a few words`);
    } else if (fields.task !== undefined && fields.task !== null && fields.task !== '') {
      return this.skip(where, 'the task is not text: name it in a few words, e.g. "count"');
    }

    const captions = Array.isArray(fields.captions) ? fields.captions : fields.captions === undefined || fields.captions === null ? [] : [fields.captions];
    if (captions.length === 0) return this.skip(where, 'no caption');
    captions.forEach((caption: unknown, i) => {
      const at = captions.length > 1 ? `${where} caption ${i + 1}` : where;
      if (typeof caption !== 'string') return this.skip(at, 'the caption is not text');
      if (caption.length > MAX_CAPTION_CHARS) return this.skip(at, `the caption is ${caption.length} characters long, more than ${MAX_CAPTION_CHARS}`);
      if (caption.trim() === '') return this.skip(at, 'empty caption');
      if (isBroken(caption)) return this.skip(at, NOT_UTF8);
      const key = JSON.stringify([image, prompt ?? null, caption, task ?? null]);
      const first = this.seen.get(key);
      if (first !== undefined) return this.skip(at, `duplicate of ${first}`);
      this.seen.set(key, at);
      let index = this.imageIndex.get(image);
      if (index === undefined) {
        index = this.images.push(image) - 1;
        this.imageIndex.set(image, index);
      }
      this.examples.push(task === undefined ? { imageIndex: index, caption, prompt, split } : { imageIndex: index, caption, prompt, split, task });
    });
  }

  private resolveImage(path: string, context: RowContext): string | undefined {
    const primary = joinPath(context.dir, path);
    if (!this.files) return primary;
    for (const dir of [context.dir, ...(context.fallbackDirs ?? [])]) {
      const candidate = joinPath(dir, path);
      if (this.files.has(candidate)) return candidate;
    }
    return undefined;
  }

  /** The dataset; fails only when no row was usable. */
  build(label: string, format: DatasetFormat, where: string): CaptionDataset {
    const skipped = [...this.skipped];
    if (this.notListed > 0) {
      skipped.push({ where: `${this.notListed} more rows`, reason: `skipped as well (only the first ${MAX_SKIPPED_LISTED} are listed): fix the rows above and load the dataset again` });
    }
    if (this.examples.length === 0) {
      const first = this.skipped.slice(0, 3).map((s) => `${s.where}: ${s.reason}`).join('; ');
      const more = this.skipped.length + this.notListed - 3;
      throw new DatasetError('no usable rows', where,
        first ? `Every row was skipped (${first}${more > 0 ? `; ${more} more` : ''}).` : 'The file has no rows: add one row per caption.');
    }
    return {
      label, source: this.source, format, images: [...this.images], examples: [...this.examples],
      splits: orderSplits(this.examples.map((e) => e.split)), skipped,
    };
  }
}
