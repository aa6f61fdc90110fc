/**
 * Inputs sized to hurt: a 10 MB caption (JSONL, CSV, COCO), 50 000 rows, 50 000 images, a 10 MB COCO file,
 * 30 000 broken lines, a metadata file above the size limit. Each must finish (in the test's time-out: speed is
 * measured in benchmarks, not here), report briefly, and keep what is good.
 */
import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { DatasetError } from '../errors.ts';
import { decodeImage } from './images.ts';
import { MAX_METADATA_BYTES, MAX_SKIPPED_LISTED } from './captionDataset.ts';
import { readDataset } from './dataset.ts';
import { memorySource } from './source.ts';
import { zipSource } from './zip.ts';

const encode = (text: string) => new TextEncoder().encode(text);
const source = (files: Record<string, string | Uint8Array>) =>
  memorySource('big', new Map(Object.entries(files).map(([k, v]) => [k, typeof v === 'string' ? encode(v) : v])));

describe('hostile sizes', () => {
  it('skips a 10 MB caption and a 10 MB file name with short reasons', async () => {
    const huge = 'x'.repeat(10 * 1024 * 1024);
    const dataset = await readDataset(source({
      'metadata.jsonl': [{ file_name: 'a.png', text: huge }, { file_name: huge, text: 'x' }, { file_name: 'a.png', text: 'fine' }].map((r) => JSON.stringify(r)).join('\n'),
      'a.png': 'A',
    }));
    expect(dataset.examples).toHaveLength(1);
    expect(dataset.skipped.map((s) => s.where)).toEqual(['metadata.jsonl line 1', 'metadata.jsonl line 2']);
    expect(dataset.skipped[0].reason).toBe('the caption is 10485760 characters long, more than 10000');
    for (const row of dataset.skipped) expect(row.reason.length).toBeLessThan(400);
  });

  it('reads 50 000 rows of metadata.jsonl and of CSV', async () => {
    const rows = Array.from({ length: 50_000 }, (_, i) => ({ file_name: `${i % 5000}.png`, text: `caption number ${i}` }));
    const images = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`${i}.png`, 'P']));
    const jsonl = await readDataset(source({ 'metadata.jsonl': rows.map((r) => JSON.stringify(r)).join('\n'), ...images }));
    const csv = await readDataset(source({ 'captions.csv': `file_name,text\n${rows.map((r) => `${r.file_name},"${r.text}"`).join('\n')}`, ...images }));
    for (const dataset of [jsonl, csv]) {
      expect(dataset.examples).toHaveLength(50_000);
      expect(dataset.images).toHaveLength(5000);
    }
  });

  it('reads 50 000 images listed in metadata.jsonl, each once, in bounded memory', async () => {
    const count = 50_000;
    const images = new Map(Array.from({ length: count }, (_, i) => [`img/${i}.png`, encode('P')]));
    const metadata = Array.from({ length: count }, (_, i) => JSON.stringify({ file_name: `img/${i}.png`, text: `picture ${i}`, split: i % 10 === 0 ? 'validation' : 'train' })).join('\n');
    const heapBefore = process.memoryUsage().heapUsed;
    const dataset = await readDataset(memorySource('big', new Map([['metadata.jsonl', encode(metadata)], ...images])));
    expect(dataset.images).toHaveLength(count);
    expect(dataset.examples).toHaveLength(count);
    expect(dataset.splits.sort()).toEqual(['train', 'validation']);
    // Names and captions only (the images are read later, a batch at a time): a few MB, not one copy per image.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(200 * 2 ** 20);
  });

  it('skips a 10 MB caption in a CSV and in a COCO file with the same short reason', async () => {
    const huge = 'x'.repeat(10 * 1024 * 1024);
    const csv = await readDataset(source({ 'captions.csv': `file_name,text\na.png,"${huge}"\na.png,fine`, 'a.png': 'A' }));
    const coco = await readDataset(source({
      'captions.json': JSON.stringify({ images: [{ id: 1, file_name: 'a.png' }], annotations: [{ image_id: 1, caption: huge }, { image_id: 1, caption: 'fine' }] }),
      'a.png': 'A',
    }));
    for (const dataset of [csv, coco]) {
      expect(dataset.examples.map((e) => e.caption)).toEqual(['fine']);
      expect(dataset.skipped).toHaveLength(1);
      expect(dataset.skipped[0].reason).toBe('the caption is 10485760 characters long, more than 10000');
    }
  });

  it('reads a 10 MB COCO file', async () => {
    const count = 50_000;
    const json = JSON.stringify({
      images: Array.from({ length: count / 4 }, (_, i) => ({ id: i, file_name: `${i}.jpg`, width: 640, height: 480, license: 1 })),
      annotations: Array.from({ length: count }, (_, i) => ({ id: i, image_id: i % (count / 4), caption: `a picture of thing ${i} with a fairly long description attached to it, ${'word '.repeat(20)}` })),
    });
    expect(json.length).toBeGreaterThan(10e6);
    const files = memorySource('coco', new Map([['captions_train2017.json', encode(json)]]));
    // Served, not listed: the images are not there, and need not be for reading the captions.
    const dataset = await readDataset({ label: files.label, read: files.read });
    expect(dataset.examples).toHaveLength(count);
  });

  it('lists the first skipped rows and counts the rest, for a file of broken lines', async () => {
    const dataset = await readDataset(source({ 'metadata.jsonl': `${'{\n'.repeat(30_000)}{"file_name": "a.png", "text": "ok"}`, 'a.png': 'A' }));
    expect(dataset.skipped).toHaveLength(MAX_SKIPPED_LISTED + 1);
    expect(dataset.skipped.at(-1)).toEqual({ where: `${30_000 - MAX_SKIPPED_LISTED} more rows`, reason: expect.stringContaining('skipped as well') });
  });

  it('refuses a metadata file above the size limit before decoding it', async () => {
    const error = await readDataset(source({ 'metadata.jsonl': new Uint8Array(MAX_METADATA_BYTES + 1) })).catch((e) => e);
    expect(error).toBeInstanceOf(DatasetError);
    expect(error.problem).toContain('more than the 256 MiB');
  });

  it('skips a line of deeply nested JSON', async () => {
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    const dataset = await readDataset(source({ 'metadata.jsonl': `${deep}\n{"file_name": "a.png", "text": "ok"}`, 'a.png': 'A' }));
    expect(dataset.skipped).toHaveLength(1);
    expect(dataset.examples).toHaveLength(1);
  });
});

describe('images that cannot be decoded are left to the feature cache', () => {
  it('a damaged image in a zip reads as bytes that decodeImage rejects with a DatasetError, which the cache lists as skipped', async () => {
    const zip = zipSource(zipSync({ 'metadata.jsonl': encode('{"file_name": "a.png", "text": "x"}'), 'a.png': encode('\x89PNG\r\n\x1a\nnot really') }), 'z');
    const dataset = await readDataset(zip);
    expect(dataset.images).toEqual(['a.png']);
    const error = await decodeImage(await zip.read('a.png'), 'z/a.png').catch((e) => e);
    expect(error).toBeInstanceOf(DatasetError);
    expect(error.problem).toMatch(/^image cannot be decoded/);
  });
});
