/**
 * One entry point for every dataset the studio reads (docs/FORMATS.md): it recognises the format from the
 * files and returns the same CaptionDataset. In order of precedence:
 *  - imagefolder: metadata.jsonl at the top, or in split folders (train/, validation/, test/);
 *  - COCO captions: *.json at the top or in annotations/ (captions_train2017.json …);
 *  - CSV: *.csv at the top or in split folders (metadata.csv, captions.csv …).
 * Rows that cannot be used are listed in `skipped`; only a source that is no dataset, or one with no
 * usable row, fails, with a DatasetError that says what is wrong, where, and what to do.
 */
import { DatasetError, shorten } from '../errors.ts';
import { DatasetBuilder, isSplitFolderName, type CaptionDataset, type DatasetFormat } from './captionDataset.ts';
import { addCocoRows, type NotADataset } from './coco.ts';
import { addCsvRows } from './csv.ts';
import { findImageFolderMetadata, listedFiles, readIfPresent, readImageFolderFiles } from './imagefolder.ts';
import type { FileSource } from './source.ts';

export type { CaptionDataset, CaptionExample, DatasetFormat, SkippedRow } from './captionDataset.ts';

/** Names tried on a source that cannot list its files (a URL), after metadata.jsonl. */
const PROBED_JSON = [
  'captions.json', 'annotations.json', 'captions_train.json', 'captions_val.json',
  ...['captions_train2017.json', 'captions_val2017.json'].flatMap((name) => [name, `annotations/${name}`]),
];
const PROBED_CSV = ['metadata.csv', 'captions.csv'];

const FORMATS_FIX = 'A dataset is a folder or zip with images and one of: metadata.jsonl (one {"file_name", "text"} a line), '
  + 'a COCO captions .json ("images" + "annotations"), or a .csv with file_name and text columns.';

type AddRows = (builder: DatasetBuilder, path: string, bytes: Uint8Array) => NotADataset | undefined;

export async function readDataset(source: FileSource): Promise<CaptionDataset> {
  const files = listedFiles(source);
  const metadata = await findImageFolderMetadata(source, files);
  if (metadata.length > 0) return readImageFolderFiles(source, files, metadata);

  const jsonPaths = files ? [...files].filter((p) => /^(annotations\/)?[^/]+\.json$/i.test(p)).sort() : PROBED_JSON;
  const coco = await readCandidates(source, files, jsonPaths, 'coco', addCocoRows);
  if ('dataset' in coco) return coco.dataset;

  const csvPaths = files
    ? [...files].filter((p) => /^[^/]+\.csv$/i.test(p) || (/^[^/]+\/[^/]+\.csv$/i.test(p) && isSplitFolderName(p.split('/')[0]))).sort()
    : PROBED_CSV;
  const csv = await readCandidates(source, files, csvPaths, 'csv', addCsvRows);
  if ('dataset' in csv) return csv.dataset;

  // Nothing was a dataset: say why the first candidate was not (a JSON that is not COCO, a CSV without an image column).
  const first = coco.problems[0] ?? csv.problems[0];
  if (first) throw new DatasetError(first.problem, source.label, first.fix);
  const found = files ? [...files].slice(0, 5).map((f) => `"${shorten(f, 40)}"`).join(', ') : '';
  throw new DatasetError(
    `no dataset found: no metadata.jsonl, COCO captions .json or captions .csv${files
      ? ` (the files include ${found || 'nothing'}${files.size > 5 ? ', …' : ''})`
      : ` (looked for metadata.jsonl, train/metadata.jsonl, ${[...PROBED_JSON, ...PROBED_CSV].join(', ')})`}`,
    source.label, FORMATS_FIX);
}

/**
 * Reads every candidate file of one format into one dataset (captions_train.json and captions_val.json
 * become one dataset with two splits). Candidates that are not of the format are listed in `skipped`
 * when others are read; when none is, their reasons come back instead.
 */
async function readCandidates(source: FileSource, files: ReadonlySet<string> | undefined, paths: string[], format: DatasetFormat,
  addRows: AddRows): Promise<{ dataset: CaptionDataset } | { problems: NotADataset[] }> {
  const builder = new DatasetBuilder(source, files);
  const read: string[] = [];
  const notRead: Array<{ path: string; why: NotADataset }> = [];
  for (const path of paths) {
    const bytes = await readIfPresent(source, path);
    if (!bytes) continue;
    const why = addRows(builder, path, bytes);
    if (why) notRead.push({ path, why });
    else read.push(path);
  }
  if (read.length === 0) return { problems: notRead.map((n) => n.why) };
  for (const { path, why } of notRead) builder.skip(path, `not read: ${why.problem}`);
  return { dataset: builder.build(source.label, format, `${source.label}/${read.join(', ')}`) };
}
