import { describe, expect, it } from 'vitest';
import { datasetError } from './testing/datasetError.ts';
import { MAX_CAPTION_CHARS, type CaptionDataset } from './captionDataset.ts';
import { readDataset } from './dataset.ts';
import { readImageFolder } from './imagefolder.ts';
import { memorySource, type FileSource } from './source.ts';

const encode = (text: string) => new TextEncoder().encode(text);

/** A dropped folder: every file listed. Values that are strings are written as UTF-8. */
function folder(files: Record<string, string | Uint8Array>, label = 'set'): FileSource {
  return memorySource(label, new Map(Object.entries(files).map(([path, content]) => [path, typeof content === 'string' ? encode(content) : content])));
}

/** The same files behind a source that cannot list them, as a served URL is. */
function unlisted(files: Record<string, string | Uint8Array>): FileSource {
  const { label, read } = folder(files);
  return { label, read };
}

const jsonl = (...rows: unknown[]) => rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n');

/** The captions of one split as [image path, caption, prompt?] triples. */
const rowsOf = (dataset: CaptionDataset, split?: string) =>
  dataset.examples.filter((e) => split === undefined || e.split === split).map((e) => [dataset.images[e.imageIndex], e.caption, ...(e.prompt ? [e.prompt] : [])]);


describe('imagefolder (metadata.jsonl)', () => {
  it('reads a split column, several captions per image, prompts, and gives "train" to rows without a split', async () => {
    const dataset = await readDataset(folder({
      'metadata.jsonl': jsonl(
        { file_name: 'a.png', text: 'a cat', split: 'train' },
        { file_name: 'b.png', captions: ['a dog', 'a brown dog'], split: 'val' },
        { file_name: 'c.png', caption: 'a cow', question: 'what is it?' },
      ),
      'a.png': 'A', 'b.png': 'B', 'c.png': 'C',
    }));
    expect(dataset.format).toBe('imagefolder');
    expect(dataset.splits).toEqual(['train', 'validation']);
    expect(dataset.examples.map((e) => e.split)).toEqual(['train', 'validation', 'validation', 'train']);
    expect(rowsOf(dataset)).toEqual([['a.png', 'a cat'], ['b.png', 'a dog'], ['b.png', 'a brown dog'], ['c.png', 'a cow', 'what is it?']]);
    expect(dataset.images).toEqual(['a.png', 'b.png', 'c.png']);
  });

  it('reads Hugging Face split folders, file names relative to their folder', async () => {
    const files = {
      'train/metadata.jsonl': jsonl({ file_name: 'a.png', text: 'a cat' }, { file_name: 'img/b.png', text: 'a dog' }),
      'validation/metadata.jsonl': jsonl({ file_name: 'a.png', text: 'another cat' }),
      'test/metadata.jsonl': jsonl({ file_name: 'c.png', text: 'a cow' }),
      'train/a.png': 'A', 'train/img/b.png': 'B', 'validation/a.png': 'A2', 'test/c.png': 'C',
    };
    for (const source of [folder(files), unlisted(files)]) {
      const dataset = await readDataset(source);
      expect(dataset.splits).toEqual(['train', 'validation', 'test']);
      expect(rowsOf(dataset, 'train')).toEqual([['train/a.png', 'a cat'], ['train/img/b.png', 'a dog']]);
      expect(rowsOf(dataset, 'validation')).toEqual([['validation/a.png', 'another cat']]);
      expect(rowsOf(dataset, 'test')).toEqual([['test/c.png', 'a cow']]);
    }
  });

  it('keeps readImageFolder working for its callers, split added', async () => {
    const dataset = await readImageFolder(unlisted({ 'metadata.jsonl': jsonl({ file_name: 'a.png', text: 'a cat' }) }));
    expect(dataset.examples).toEqual([{ imageIndex: 0, caption: 'a cat', prompt: undefined, split: 'train' }]);
    expect(dataset.splits).toEqual(['train']);
    const error = await datasetError(() => readImageFolder(folder({ 'captions.csv': 'file_name,text' })));
    expect(error.problem).toBe('no metadata.jsonl');
  });

  it('skips each bad line with a reason a person understands, and keeps the rest', async () => {
    const dataset = await readDataset(folder({
      'metadata.jsonl': jsonl(
        { file_name: 'a.png', text: 'good' },
        '{"file_name": "a.png", "text": ',
        { file_name: 'missing.png', text: 'no such image' },
        { file_name: 'a.png', text: '   ' },
        { file_name: 'a.png', text: 'good' },
        { file_name: 'a.png' },
        { text: 'no file' },
        { file_name: '../outside.png', text: 'x' },
        { file_name: 'a.png', text: 'x'.repeat(MAX_CAPTION_CHARS + 1) },
        [1, 2],
        { file_name: 'a.png', text: 42 },
        { file_name: 'a.png', text: 'fine', split: 3 },
        '',
        { file_name: './a.png', text: 'also good' },
      ),
      'a.png': 'A',
    }));
    expect(rowsOf(dataset)).toEqual([['a.png', 'good'], ['a.png', 'also good']]);
    expect(dataset.skipped).toEqual([
      { where: 'metadata.jsonl line 2', reason: expect.stringContaining('not valid JSON') },
      { where: 'metadata.jsonl line 3', reason: 'image "missing.png" is not in the dataset' },
      { where: 'metadata.jsonl line 4', reason: 'empty caption' },
      { where: 'metadata.jsonl line 5', reason: 'duplicate of metadata.jsonl line 1' },
      { where: 'metadata.jsonl line 6', reason: 'no caption: the line has none of "text", "caption", "captions" (it has "file_name")' },
      { where: 'metadata.jsonl line 7', reason: 'no image: "file_name" is missing' },
      { where: 'metadata.jsonl line 8', reason: 'file name "../outside.png" points outside the dataset folder' },
      { where: 'metadata.jsonl line 9', reason: `the caption is ${MAX_CAPTION_CHARS + 1} characters long, more than ${MAX_CAPTION_CHARS}` },
      { where: 'metadata.jsonl line 10', reason: expect.stringContaining('not a JSON object') },
      { where: 'metadata.jsonl line 11', reason: 'the caption is not text' },
      { where: 'metadata.jsonl line 12', reason: 'the split is not text: write train, validation or test' },
    ]);
  });

  it('without a file list, cannot know which images are missing: they are left to the feature cache', async () => {
    const dataset = await readDataset(unlisted({ 'metadata.jsonl': jsonl({ file_name: 'gone.png', text: 'x' }) }));
    expect(dataset.images).toEqual(['gone.png']);
  });

  it('skips the lines with bytes that are not UTF-8 and keeps the others', async () => {
    const good = encode(`${JSON.stringify({ file_name: 'a.png', text: 'café' })}\n`);
    const bad = new Uint8Array([...encode('{"file_name": "a.png", "text": "caf'), 0xe9, ...encode('s"}\n')]); // Latin-1 é
    const dataset = await readDataset(folder({ 'metadata.jsonl': new Uint8Array([...good, ...bad]), 'a.png': 'A' }));
    expect(rowsOf(dataset)).toEqual([['a.png', 'café']]);
    expect(dataset.skipped).toEqual([{ where: 'metadata.jsonl line 2', reason: 'not UTF-8 text: re-save the file as UTF-8' }]);
  });

  it('fails, naming the first reasons, when no line is usable', async () => {
    const error = await datasetError(() => readDataset(folder({ 'metadata.jsonl': jsonl({ file_name: 'x.png', text: '' }, 'oops'), 'x.png': 'X' })));
    expect(error.problem).toBe('no usable rows');
    expect(error.where).toBe('set/metadata.jsonl');
    expect(error.fix).toContain('line 1: empty caption');
    expect(error.fix).toContain('line 2: not valid JSON');
    expect((await datasetError(() => readDataset(folder({ 'metadata.jsonl': '\n\n' })))).fix).toContain('has no rows');
  });
});

describe('COCO captions JSON', () => {
  const coco = (images: unknown[], annotations: unknown[]) => JSON.stringify({ info: {}, images, annotations });

  it('reads several captions per image, the split from the file name, images beside it or in images/', async () => {
    const dataset = await readDataset(folder({
      'captions_train.json': coco([{ id: 1, file_name: 'a.png' }, { id: 2, file_name: 'b.png' }],
        [{ image_id: 1, caption: 'a cat' }, { image_id: 1, caption: 'a sleeping cat' }, { image_id: 2, caption: 'a dog' }]),
      'captions_val.json': coco([{ id: 7, file_name: 'c.png' }], [{ id: 1, image_id: 7, caption: 'a cow' }]),
      'a.png': 'A', 'images/b.png': 'B', 'images/c.png': 'C',
    }));
    expect(dataset.format).toBe('coco');
    expect(dataset.splits).toEqual(['train', 'validation']);
    expect(rowsOf(dataset, 'train')).toEqual([['a.png', 'a cat'], ['a.png', 'a sleeping cat'], ['images/b.png', 'a dog']]);
    expect(rowsOf(dataset, 'validation')).toEqual([['images/c.png', 'a cow']]);
    expect(dataset.skipped).toEqual([]);
  });

  it('reads the official layout: annotations/captions_val2017.json with images in val2017/', async () => {
    const dataset = await readDataset(folder({
      'annotations/captions_val2017.json': coco([{ id: 1, file_name: '000000000139.jpg' }], [{ image_id: 1, caption: 'a room' }]),
      'val2017/000000000139.jpg': 'J',
    }));
    expect(dataset.splits).toEqual(['validation']);
    expect(rowsOf(dataset)).toEqual([['val2017/000000000139.jpg', 'a room']]);
  });

  it('skips bad images and annotations with their reason', async () => {
    const dataset = await readDataset(folder({
      'captions.json': coco(
        [{ id: 1, file_name: 'a.png' }, { file_name: 'b.png' }, { id: 1, file_name: 'c.png' }, 'x', { id: 3, file_name: 'gone.png' }],
        [{ image_id: 1, caption: 'a cat' }, { image_id: 9, caption: 'nobody' }, { image_id: 1 }, { image_id: 1, caption: '' }, { image_id: 3, caption: 'lost' }, null],
      ),
      'notes.json': '{"not": "coco"}',
      'a.png': 'A',
    }));
    expect(rowsOf(dataset)).toEqual([['a.png', 'a cat']]);
    expect(dataset.skipped).toEqual([
      { where: 'captions.json images[1]', reason: 'no "id"' },
      { where: 'captions.json images[2]', reason: 'id 1 is used by an earlier image' },
      { where: 'captions.json images[3]', reason: 'not an object with "id" and "file_name"' },
      { where: 'captions.json annotations[1]', reason: 'image_id 9 is not among the images' },
      { where: 'captions.json annotations[2]', reason: 'no "caption"' },
      { where: 'captions.json annotations[3]', reason: 'empty caption' },
      { where: 'captions.json annotations[4]', reason: 'image "gone.png" is not in the dataset' },
      { where: 'captions.json annotations[5]', reason: 'not an object with "image_id" and "caption"' },
      { where: 'notes.json', reason: 'not read: notes.json is not COCO captions: it needs an "images" list and an "annotations" list' },
    ]);
  });

  it('says so when a JSON file is not COCO, or not JSON at all', async () => {
    const notCoco = await datasetError(() => readDataset(folder({ 'data.json': '{"rows": []}', 'a.png': 'A' })));
    expect(notCoco.problem).toBe('data.json is not COCO captions: it needs an "images" list and an "annotations" list');
    expect(notCoco.fix).toContain('"annotations"');
    const broken = await datasetError(() => readDataset(folder({ 'captions.json': '{"images": [', 'a.png': 'A' })));
    expect(broken.problem).toMatch(/^captions.json is not valid JSON/);
  });
});

describe('CSV', () => {
  it('reads RFC 4180 quoting: separators, doubled quotes and line breaks inside quotes', async () => {
    const csv = [
      'file_name,text,question',
      'a.png,"a cat, sitting","what is this?"',
      'a.png,"a ""quoted"" cat",',
      'b.png,"two lines',
      'of caption",',
      '',
      'b.png,plain dog,',
    ].join('\r\n');
    const dataset = await readDataset(folder({ 'captions.csv': csv, 'a.png': 'A', 'b.png': 'B' }));
    expect(dataset.format).toBe('csv');
    expect(rowsOf(dataset)).toEqual([
      ['a.png', 'a cat, sitting', 'what is this?'], ['a.png', 'a "quoted" cat'], ['b.png', 'two lines\r\nof caption'], ['b.png', 'plain dog'],
    ]);
    expect(dataset.skipped).toEqual([]);
  });

  it('recognises other column names, a split column, ";" separators and a byte-order mark', async () => {
    const csv = '\uFEFFImage;Caption;Split\nimages/a.png;a cat;train\nimages/b.png;a dog;validation\nimages/c.png;a cow;\n';
    const dataset = await readDataset(folder({ 'data.csv': csv, 'images/a.png': 'A', 'images/b.png': 'B', 'images/c.png': 'C' }));
    expect(dataset.splits).toEqual(['train', 'validation']);
    expect(rowsOf(dataset, 'validation')).toEqual([['images/b.png', 'a dog']]);
    expect(rowsOf(dataset, 'train')).toEqual([['images/a.png', 'a cat'], ['images/c.png', 'a cow']]);
  });

  it('reads a task column (one adapter per task), and a COCO annotation\'s task', async () => {
    const csv = 'file_name,text,prompt,task\na.png,a cat,caption en,describe\na.png,one animal,count them,count\nb.png,a dog,,\n';
    const dataset = await readDataset(folder({ 'data.csv': csv, 'a.png': 'A', 'b.png': 'B' }));
    expect(dataset.examples.map((e) => [e.caption, e.task])).toEqual([['a cat', 'describe'], ['one animal', 'count'], ['a dog', undefined]]);
    const coco = { images: [{ id: 1, file_name: 'a.png' }], annotations: [{ image_id: 1, caption: 'a cat', task: 'describe' }, { image_id: 1, caption: 'a cat' }] };
    const fromCoco = await readDataset(folder({ 'captions.json': JSON.stringify(coco), 'a.png': 'A' }));
    expect(fromCoco.examples.map((e) => e.task)).toEqual(['describe', undefined]);
  });

  it('reads metadata.csv in Hugging Face split folders, and probes metadata.csv on a source that cannot list', async () => {
    const dataset = await readDataset(folder({ 'train/metadata.csv': 'file_name,text\na.png,a cat', 'test/metadata.csv': 'file_name,text\nb.png,a dog', 'train/a.png': 'A', 'test/b.png': 'B' }));
    expect(dataset.splits).toEqual(['train', 'test']);
    expect(rowsOf(dataset, 'test')).toEqual([['test/b.png', 'a dog']]);
    expect(rowsOf(await readDataset(unlisted({ 'metadata.csv': 'file_name,text\na.png,a cat' })))).toEqual([['a.png', 'a cat']]);
  });

  it('skips rows with too many or too few fields, broken quotes, missing images', async () => {
    const csv = ['path,text', 'a.png,good', 'a.png,a cat, unquoted', 'a.png', 'gone.png,lost', 'a.png,"never closed', 'more'].join('\n');
    const dataset = await readDataset(folder({ 'list.csv': csv, 'a.png': 'A' }));
    expect(rowsOf(dataset)).toEqual([['a.png', 'good']]);
    expect(dataset.skipped).toEqual([
      { where: 'list.csv row 3', reason: 'it has 3 fields, the header 2: put a caption that contains the separator in quotes' },
      { where: 'list.csv row 4', reason: 'it has 1 fields, the header 2: a column is missing' },
      { where: 'list.csv row 5', reason: 'image "gone.png" is not in the dataset' },
      { where: 'list.csv row 6', reason: expect.stringContaining('never closed') },
    ]);
  });

  it('says which column is missing when the header has no image or no caption column', async () => {
    const noImage = await datasetError(() => readDataset(folder({ 'c.csv': 'picture,text\na.png,x' })));
    expect(noImage.problem).toBe('c.csv has no image column (file_name, image, file, filename, path): it has "picture", "text"');
    expect(noImage.fix).toContain('file_name,text');
    const noCaption = await datasetError(() => readDataset(folder({ 'c.csv': 'file_name,label\na.png,x' })));
    expect(noCaption.problem).toContain('no caption column');
  });
});

describe('what is not a dataset', () => {
  it('names what it found and the formats it reads', async () => {
    const error = await datasetError(() => readDataset(folder({ 'a.png': 'A', 'readme.txt': 'hi' }, 'photos')));
    expect(error.problem).toBe('no dataset found: no metadata.jsonl, COCO captions .json or captions .csv (the files include "a.png", "readme.txt")');
    expect(error.where).toBe('photos');
    expect(error.fix).toContain('metadata.jsonl');
    await datasetError(() => readDataset(unlisted({ 'a.png': 'A' })));
  });

  it('prefers metadata.jsonl over other files, and reports a source that fails to read', async () => {
    const dataset = await readDataset(folder({ 'metadata.jsonl': jsonl({ file_name: 'a.png', text: 'x' }), 'notes.json': '{}', 'a.png': 'A' }));
    expect(dataset.format).toBe('imagefolder');
    const failing: FileSource = { label: 'net', read: async () => { throw new TypeError('Failed to fetch'); } };
    expect((await datasetError(() => readDataset(failing))).problem).toBe('metadata.jsonl cannot be read: Failed to fetch');
  });
});
