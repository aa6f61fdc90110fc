/**
 * A Hugging Face "imagefolder" dataset (docs/FORMATS.md): `metadata.jsonl`, one JSON object a line with
 * `file_name` and a caption column (`text`, `caption`, or a list in `captions`), optionally `prompt`
 * (or `question`), `split` and `task`. Either one metadata.jsonl at the root, or Hugging Face's split folders
 * (`train/metadata.jsonl`, `validation/metadata.jsonl`, `test/…`) whose file names are relative to
 * their folder. Several captions of one image become several examples sharing the image.
 * A bad line is skipped with its reason; only a dataset with nothing usable fails as a whole.
 */
import { DatasetError, shorten } from '../errors.ts';
import {
  DEFAULT_SPLIT, DatasetBuilder, decodeText, isSplitFolderName, normaliseSplit, orderSplits, type CaptionDataset,
} from './captionDataset.ts';
import { MissingFileError, type FileSource } from './source.ts';

export type { CaptionDataset, CaptionExample, DatasetFormat, SkippedRow } from './captionDataset.ts';

const CAPTION_COLUMNS = ['text', 'caption', 'captions'] as const;
const PROMPT_COLUMNS = ['prompt', 'question'] as const;
/** Split folders probed on a source that cannot list its files (a URL): the usual spellings only. */
const PROBED_SPLIT_FOLDERS = ['train', 'validation', 'valid', 'val', 'dev', 'test'];

export interface MetadataFile {
  /** The file's path in the source. */
  path: string;
  /** The folder its file names are relative to. */
  dir: string;
  /** The split of its rows that name none. */
  split: string;
  bytes: Uint8Array;
}

/** The source's files as a set, or undefined when it cannot list them. */
export function listedFiles(source: FileSource): Set<string> | undefined {
  return source.list ? new Set(source.list()) : undefined;
}

/** The bytes of a file, or undefined when the source says it is missing. */
export async function readIfPresent(source: FileSource, path: string): Promise<Uint8Array | undefined> {
  try {
    return await source.read(path);
  } catch (e) {
    if (e instanceof MissingFileError) return undefined;
    if (e instanceof DatasetError) throw e;
    throw new DatasetError(`${path} cannot be read: ${(e as Error).message}`, source.label, 'Check that the file is readable, then load the dataset again.');
  }
}

/**
 * Every metadata.jsonl of an imagefolder dataset: the root's and those of split folders. A source that
 * cannot list its files is probed at the usual names; the root file alone then settles it, so a served
 * dataset costs one request.
 */
export async function findImageFolderMetadata(source: FileSource, files: ReadonlySet<string> | undefined): Promise<MetadataFile[]> {
  let candidates: Array<{ path: string; dir: string }>;
  if (files) {
    candidates = [...files].flatMap((path) => {
      if (path === 'metadata.jsonl') return [{ path, dir: '' }];
      const match = /^([^/]+)\/metadata\.jsonl$/.exec(path);
      return match && isSplitFolderName(match[1]) ? [{ path, dir: match[1] }] : [];
    });
  } else {
    const root = await readIfPresent(source, 'metadata.jsonl');
    if (root) return [{ path: 'metadata.jsonl', dir: '', split: DEFAULT_SPLIT, bytes: root }];
    candidates = PROBED_SPLIT_FOLDERS.map((dir) => ({ path: `${dir}/metadata.jsonl`, dir }));
  }
  const found: MetadataFile[] = [];
  for (const { path, dir } of candidates) {
    const bytes = await readIfPresent(source, path);
    if (bytes) found.push({ path, dir, split: dir === '' ? DEFAULT_SPLIT : normaliseSplit(dir), bytes });
  }
  // Root first, then train, validation, test: examples come out in a stable order however the source lists.
  const order = orderSplits(found.map((f) => f.split));
  return found.sort((a, b) => (a.dir === '' ? -1 : b.dir === '' ? 1 : order.indexOf(a.split) - order.indexOf(b.split) || a.path.localeCompare(b.path)));
}

/** Adds the rows of one metadata.jsonl to the builder. */
export function addImageFolderRows(builder: DatasetBuilder, file: MetadataFile): void {
  const { text, utf8 } = decodeText(file.bytes, file.path);
  const context = { dir: file.dir, defaultSplit: file.split, utf8, fileColumn: 'file_name' };
  let lineNumber = 0;
  for (const line of text.split('\n')) {
    lineNumber++;
    const where = `${file.path} line ${lineNumber}`;
    if (line.trim() === '') continue;
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(line);
    } catch (e) {
      builder.skip(where, !utf8 && line.includes('\uFFFD') ? 'not UTF-8 text: re-save the file as UTF-8' : `not valid JSON: ${(e as Error).message}`);
      continue;
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      builder.skip(where, `not a JSON object: each line should look like {"file_name": "0001.png", "text": "a caption"}`);
      continue;
    }
    const captionColumn = CAPTION_COLUMNS.find((c) => Object.hasOwn(row, c));
    if (captionColumn === undefined) {
      builder.skip(where, `no caption: the line has none of ${CAPTION_COLUMNS.map((c) => `"${c}"`).join(', ')} (it has ${shorten(Object.keys(row).map((k) => `"${k}"`).join(', ') || 'no fields')})`);
      continue;
    }
    const promptColumn = PROMPT_COLUMNS.find((c) => Object.hasOwn(row, c));
    builder.addRow(where, context, {
      file: row.file_name, captions: row[captionColumn], prompt: promptColumn && row[promptColumn], split: row.split, task: row.task,
    });
  }
}

export async function readImageFolder(source: FileSource): Promise<CaptionDataset> {
  const files = listedFiles(source);
  const metadata = await findImageFolderMetadata(source, files);
  if (metadata.length === 0) {
    throw new DatasetError('no metadata.jsonl', source.label,
      'An imagefolder dataset needs metadata.jsonl (at the top, or in train/ and validation/ folders) with "file_name" and "text" on each line.');
  }
  return readImageFolderFiles(source, files, metadata);
}

export function readImageFolderFiles(source: FileSource, files: ReadonlySet<string> | undefined, metadata: MetadataFile[]): CaptionDataset {
  const builder = new DatasetBuilder(source, files);
  for (const file of metadata) addImageFolderRows(builder, file);
  return builder.build(source.label, 'imagefolder', `${source.label}/${metadata.map((f) => f.path).join(', ')}`);
}
