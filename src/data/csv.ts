/**
 * A CSV of captions (docs/FORMATS.md): a header row naming an image column (file_name, image, file, filename
 * or path) and a caption column (text, caption or captions), optionally prompt/question, split and task; one
 * row per caption, so an image with several captions has several rows. Parsed by papaparse (RFC 4180:
 * quoted commas, doubled quotes, line breaks inside quotes); ';' and tab separators, as spreadsheets in
 * many countries write them, are recognised too.
 */
import Papa from 'papaparse';
import { decodeText, isSplitFolderName, normaliseSplit, type DatasetBuilder } from './captionDataset.ts';
import { shorten } from '../errors.ts';
import { splitOfFileName, type NotADataset } from './coco.ts';

const IMAGE_COLUMNS = ['file_name', 'image', 'file', 'filename', 'path'];
const CAPTION_COLUMNS = ['text', 'caption', 'captions'];
const PROMPT_COLUMNS = ['prompt', 'question'];
const SPLIT_COLUMNS = ['split'];
const TASK_COLUMNS = ['task'];

const CSV_FIX = 'The first row names the columns, e.g. file_name,text — then one row per caption: 0001.png,"a red circle, left of a square".';

/** Adds the rows of one CSV file, or says why the file is not a captions CSV. */
export function addCsvRows(builder: DatasetBuilder, path: string, bytes: Uint8Array): NotADataset | undefined {
  const { text, utf8 } = decodeText(bytes, path);
  const parsed = Papa.parse<string[]>(text, { header: false, skipEmptyLines: false, delimitersToGuess: [',', ';', '\t'] });
  const rows = parsed.data;
  // Quote errors belong to a row; "could not guess the separator" (one column) belongs to none.
  const rowErrors = new Map<number, string>();
  for (const error of parsed.errors) {
    if (error.type === 'Quotes' && typeof error.row === 'number' && !rowErrors.has(error.row)) {
      rowErrors.set(error.row, error.code === 'MissingQuotes'
        ? 'a quoted field is never closed: every " that opens a field needs one that closes it'
        : 'a quote is misplaced: a field with " in it must be quoted, and its " doubled ("")');
    }
  }
  const headerIndex = rows.findIndex((row) => !(row.length === 1 && row[0].trim() === ''));
  if (headerIndex < 0) return { problem: `${path} is empty`, fix: CSV_FIX };
  const header = rows[headerIndex].map((name) => name.trim().toLowerCase());
  const column = (names: string[]) => {
    for (const name of names) {
      const index = header.indexOf(name);
      if (index >= 0) return index;
    }
    return -1;
  };
  const imageColumn = column(IMAGE_COLUMNS);
  const captionColumn = column(CAPTION_COLUMNS);
  const named = `it has ${shorten(header.map((h) => `"${h}"`).join(', '), 200)}`;
  if (imageColumn < 0) return { problem: `${path} has no image column (${IMAGE_COLUMNS.join(', ')}): ${named}`, fix: CSV_FIX };
  if (captionColumn < 0) return { problem: `${path} has no caption column (${CAPTION_COLUMNS.join(', ')}): ${named}`, fix: CSV_FIX };
  const promptColumn = column(PROMPT_COLUMNS);
  const splitColumn = column(SPLIT_COLUMNS);
  const taskColumn = column(TASK_COLUMNS);
  const dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
  // train/metadata.csv holds train rows (Hugging Face's layout); captions_val.csv holds validation rows.
  const defaultSplit = isSplitFolderName(dir) ? normaliseSplit(dir) : splitOfFileName(path).split;
  const context = { dir, defaultSplit, utf8, fileColumn: header[imageColumn], fallbackDirs: dir === '' ? ['images'] : [] };

  for (let i = headerIndex + 1; i < rows.length; i++) {
    const row = rows[i];
    // Rows are numbered as a spreadsheet shows them (the header is row 1 when it is the first).
    const where = `${path} row ${i + 1}`;
    if (row.length === 1 && row[0].trim() === '') continue;
    const quoteProblem = rowErrors.get(i);
    if (quoteProblem) {
      builder.skip(where, quoteProblem);
      continue;
    }
    if (row.length !== header.length) {
      builder.skip(where, row.length > header.length
        ? `it has ${row.length} fields, the header ${header.length}: put a caption that contains the separator in quotes`
        : `it has ${row.length} fields, the header ${header.length}: a column is missing`);
      continue;
    }
    builder.addRow(where, context, {
      file: row[imageColumn], captions: row[captionColumn],
      prompt: promptColumn >= 0 ? row[promptColumn] : undefined, split: splitColumn >= 0 ? row[splitColumn] : undefined,
      task: taskColumn >= 0 ? row[taskColumn] : undefined,
    });
  }
  return undefined;
}
