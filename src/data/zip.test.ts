import { readFileSync } from 'node:fs';
import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { DatasetError } from '../errors.ts';
import { datasetError } from './testing/datasetError.ts';
import { readDataset } from './dataset.ts';
import { selectSplit } from './splits.ts';
import { MissingFileError } from './source.ts';
import { buildZip, utf8 } from './testing/zipBuilder.ts';
import { crc32, zipSource } from './zip.ts';

const DEMO_ZIP = new URL('../../public/demo/relational-captions.zip', import.meta.url);


describe('zipSource', () => {
  it('reads the shipped demo: 250 train and 100 validation examples, every image present', async () => {
    const source = zipSource(new Uint8Array(readFileSync(DEMO_ZIP)), 'relational-captions.zip');
    expect(source.list()).toHaveLength(351);
    const dataset = await readDataset(source);
    expect(dataset.format).toBe('imagefolder');
    expect(dataset.splits).toEqual(['train', 'validation']);
    expect(dataset.skipped).toEqual([]);
    expect(selectSplit(dataset, 'train').examples).toHaveLength(250);
    expect(selectSplit(dataset, 'validation').examples).toHaveLength(100);
    const png = await source.read(dataset.images[0]);
    expect([...png.subarray(1, 4)]).toEqual([...utf8('PNG')]);
  });

  it('reads stored and deflated entries made by a real zip writer, and strips the one top folder', async () => {
    const text = utf8('{"file_name": "a.png", "text": "a cat"}\n'.repeat(50));
    const bytes = zipSync({ 'my-set/metadata.jsonl': [text, { level: 9 }], 'my-set/a.png': [utf8('png bytes'), { level: 0 }], 'my-set/sub/': new Uint8Array(0) });
    const source = zipSource(bytes, 'my-set.zip');
    expect(source.list().sort()).toEqual(['a.png', 'metadata.jsonl']);
    expect(await source.read('metadata.jsonl')).toEqual(text);
    expect(await source.read('a.png')).toEqual(utf8('png bytes'));
    await expect(source.read('b.png')).rejects.toBeInstanceOf(MissingFileError);
  });

  it('keeps a split folder at the top, and ignores what macOS adds', async () => {
    const bytes = zipSync({
      'train/metadata.jsonl': utf8('{"file_name": "a.png", "text": "x"}'), 'train/a.png': utf8('p'),
      '__MACOSX/train/._a.png': utf8('resource fork'), 'train/.DS_Store': utf8('junk'),
    });
    expect(zipSource(bytes, 'z').list().sort()).toEqual(['train/a.png', 'train/metadata.jsonl']);
    const macFolder = zipSync({ 'set/a.png': utf8('p'), 'set/b.png': utf8('q'), '__MACOSX/set/._a.png': utf8('r') });
    expect(zipSource(macFolder, 'z').list().sort()).toEqual(['a.png', 'b.png']);
  });

  it('reads zip64 records and drops "./" segments', async () => {
    const source = zipSource(buildZip([{ name: './x/a.txt', data: utf8('hello') }, { name: 'y.txt', data: utf8('bye'), method: 0 }], { zip64: true, comment: 'made by a test' }), 'z');
    expect(source.list()).toEqual(['x/a.txt', 'y.txt']);
    expect(await source.read('x/a.txt')).toEqual(utf8('hello'));
    expect(await source.read('y.txt')).toEqual(utf8('bye'));
  });

  it('computes the zip format\'s CRC-32', () => {
    expect(crc32(utf8('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  describe('refuses hostile or broken zips with a DatasetError that says what to do', () => {
    const ok = { name: 'a.txt', data: utf8('fine') };
    it.each([
      ['../escape.txt', 'outside'],
      ['a/../../escape.txt', 'outside'],
      ['/etc/passwd', 'absolute'],
      ['C:/Windows/x.txt', 'absolute'],
      ['set/C:/x.txt', 'absolute'],
      ['folder\\evil.txt', "'\\'"],
      ['a//b.txt', 'empty folder name'],
    ])('a name like %s', async (name, expected) => {
      const error = await datasetError(() => zipSource(buildZip([ok, { name, data: utf8('x') }]), 'hostile.zip'));
      expect(error.problem).toContain(expected);
      expect(error.where).toBe('hostile.zip');
      expect(error.fix).not.toBe('');
    });

    it('encrypted entries', async () => {
      const error = await datasetError(() => zipSource(buildZip([ok, { name: 'secret.txt', data: utf8('x'), flags: 0x801 }]), 'z'));
      expect(error.problem).toContain('encrypted');
      expect(error.fix).toContain('password');
    });

    it('methods other than stored and deflate', async () => {
      expect((await datasetError(() => zipSource(buildZip([{ name: 'a.txt', data: utf8('x'), method: 12 }]), 'z'))).problem).toContain('bzip2');
      expect((await datasetError(() => zipSource(buildZip([{ name: 'a.txt', data: utf8('x'), method: 77 }]), 'z'))).problem).toContain('method 77');
    });

    it('data that is not a zip, or is cut short', async () => {
      expect((await datasetError(() => zipSource(utf8('just some text, no zip here'), 'z'))).problem).toBe('this is not a zip file');
      expect((await datasetError(() => zipSource(new Uint8Array(0), 'z'))).problem).toBe('this is not a zip file');
      const whole = zipSync({ 'a.txt': utf8('hello'.repeat(100)), 'b.txt': utf8('world') });
      expect((await datasetError(() => zipSource(whole.subarray(0, whole.length - 30), 'z'))).problem).toContain('cut short');
      // Cut inside the data, directory kept: the offsets no longer fit.
      const spliced = new Uint8Array([...whole.subarray(0, 40), ...whole.subarray(whole.length - 120)]);
      await datasetError(() => zipSource(spliced, 'z'));
    });

    it('more entries than the limit', async () => {
      const bytes = buildZip([0, 1, 2].map((i) => ({ name: `${i}.txt`, data: utf8('x') })));
      expect((await datasetError(() => zipSource(bytes, 'z', { maxEntries: 2 }))).problem).toContain('3 entries');
      expect(zipSource(bytes, 'z', { maxEntries: 3 }).list()).toHaveLength(3);
    });

    it('an entry or a total above the size limits, by the declared sizes', async () => {
      const bytes = buildZip([{ name: 'a.txt', data: new Uint8Array(3000) }, { name: 'b.txt', data: new Uint8Array(3000) }]);
      expect((await datasetError(() => zipSource(bytes, 'z', { maxEntryBytes: 2000 }))).problem).toContain('"a.txt" is 2.9 KiB uncompressed');
      expect((await datasetError(() => zipSource(bytes, 'z', { maxTotalBytes: 5000 }))).problem).toContain('more than 4.9 KiB');
    });

    it('an absurd compression ratio', async () => {
      const error = await datasetError(() => zipSource(buildZip([{ name: 'zeros.bin', data: new Uint8Array(4 << 20) }]), 'bomb.zip'));
      expect(error.problem).toMatch(/inflate \d+-fold/);
      expect(error.fix).toContain('zip bomb');
    });

    it('entries that share their bytes (the overlapping zip bomb)', async () => {
      const bytes = buildZip([{ name: 'a.txt', data: utf8('x'.repeat(100)) }, { name: 'b.txt', data: utf8('x'), shareWith: 0 }]);
      expect((await datasetError(() => zipSource(bytes, 'z'))).problem).toContain('share their bytes');
    });

    it('the same name twice', async () => {
      expect((await datasetError(() => zipSource(buildZip([ok, ok]), 'z'))).problem).toContain('appears twice');
    });

    it('a zip with no files', async () => {
      expect((await datasetError(() => zipSource(zipSync({ 'empty/': new Uint8Array(0) }), 'z'))).problem).toBe('the zip holds no files');
    });
  });

  describe('checks each entry while inflating it, whatever the directory says', () => {
    it('an entry that inflates to more than it declares is stopped, not inflated to the end', async () => {
      const source = zipSource(buildZip([{ name: 'lie.bin', data: new Uint8Array(1 << 20).fill(7), declaredSize: 1000 }]), 'z', { maxRatio: 1e9 });
      const error = await datasetError(() => source.read('lie.bin'));
      expect(error.problem).toContain('inflates to more than the 1000 bytes');
      expect(error.where).toBe('z/lie.bin');
    });

    it('an entry that inflates to less, one whose checksum differs, one whose deflate data is broken', async () => {
      const short = zipSource(buildZip([{ name: 'a', data: utf8('hello'), declaredSize: 50 }]), 'z');
      expect((await datasetError(() => short.read('a'))).problem).toContain('inflates to 5 bytes');
      const wrongCrc = zipSource(buildZip([{ name: 'a', data: utf8('hello'), crc: 1234 }]), 'z');
      expect((await datasetError(() => wrongCrc.read('a'))).problem).toContain('checksum');
      const bytes = buildZip([{ name: 'a', data: utf8('hello hello hello hello'), method: 8 }]);
      bytes.fill(0xff, 30 + 1, 30 + 1 + 6); // the deflate stream, just after the 1-byte name
      await datasetError(() => zipSource(bytes, 'z').read('a'));
    });
  });
});
