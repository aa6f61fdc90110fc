/**
 * A Hugging Face "imagefolder" dataset (DESIGN §5): `metadata.jsonl`, one JSON object a line with
 * `file_name` and a caption column (`text`, `caption`, or a list in `captions`), optionally `prompt`
 * (or `question`). Several captions of one image become several examples sharing the image.
 * A bad line is skipped with its reason; only a dataset with nothing usable fails as a whole.
 */
import { DatasetError } from '../engine/errors.ts';
import { MissingFileError, type FileSource } from './source.ts';

export interface CaptionExample {
  /** Index into `images`. */
  imageIndex: number;
  caption: string;
  /** The example's prompt, or undefined for the model's default prompt. */
  prompt?: string;
}

export interface SkippedRow {
  where: string;
  reason: string;
}

export interface CaptionDataset {
  label: string;
  source: FileSource;
  /** Image paths inside the source, each once. */
  images: string[];
  examples: CaptionExample[];
  skipped: SkippedRow[];
}

const CAPTION_COLUMNS = ['text', 'caption', 'captions'] as const;
const PROMPT_COLUMNS = ['prompt', 'question'] as const;

export async function readImageFolder(source: FileSource): Promise<CaptionDataset> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(await source.read('metadata.jsonl'));
  } catch (e) {
    if (e instanceof MissingFileError) {
      throw new DatasetError('no metadata.jsonl', source.label, 'An imagefolder dataset needs metadata.jsonl with "file_name" and "text" on each line.');
    }
    throw new DatasetError(`metadata.jsonl cannot be read: ${(e as Error).message}`, source.label, 'Save metadata.jsonl as UTF-8 text.');
  }
  const images: string[] = [];
  const imageIndex = new Map<string, number>();
  const examples: CaptionExample[] = [];
  const skipped: SkippedRow[] = [];
  const seen = new Set<string>();
  text.split('\n').forEach((line, i) => {
    const where = `metadata.jsonl line ${i + 1}`;
    if (line.trim() === '') return;
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(line);
      if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new Error('not a JSON object');
    } catch (e) {
      skipped.push({ where, reason: `not valid JSON: ${(e as Error).message}` });
      return;
    }
    const file = row.file_name;
    if (typeof file !== 'string' || file === '') {
      skipped.push({ where, reason: 'no "file_name"' });
      return;
    }
    if (file.startsWith('/') || file.split(/[\\/]/).includes('..')) {
      skipped.push({ where, reason: `file_name "${file}" points outside the dataset folder` });
      return;
    }
    const column = CAPTION_COLUMNS.find((c) => c in row);
    const captions = column === undefined ? [] : ([] as unknown[]).concat(row[column]);
    if (captions.length === 0 || !captions.every((c) => typeof c === 'string')) {
      skipped.push({ where, reason: `no caption: expected a string in one of ${CAPTION_COLUMNS.join(', ')}` });
      return;
    }
    const promptColumn = PROMPT_COLUMNS.find((c) => typeof row[c] === 'string');
    const prompt = promptColumn ? (row[promptColumn] as string) : undefined;
    for (const caption of captions as string[]) {
      if (caption.trim() === '') {
        skipped.push({ where, reason: 'empty caption' });
        continue;
      }
      const key = JSON.stringify([file, prompt, caption]);
      if (seen.has(key)) {
        skipped.push({ where, reason: 'duplicate of an earlier row' });
        continue;
      }
      seen.add(key);
      let index = imageIndex.get(file);
      if (index === undefined) {
        index = images.push(file) - 1;
        imageIndex.set(file, index);
      }
      examples.push({ imageIndex: index, caption, prompt });
    }
  });
  if (examples.length === 0) {
    throw new DatasetError('no usable rows', `${source.label}/metadata.jsonl`,
      `Every row was skipped (${skipped.slice(0, 3).map((s) => `${s.where}: ${s.reason}`).join('; ') || 'the file is empty'}).`);
  }
  return { label: source.label, source, images, examples, skipped };
}
