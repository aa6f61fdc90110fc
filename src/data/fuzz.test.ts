/**
 * Property-based fuzzing of every parser this folder owns (zip, metadata.jsonl, COCO JSON, CSV):
 * whatever the bytes, a reader returns a dataset whose invariants hold, or throws a DatasetError that a
 * person can read — never another error, never a hang. Inputs are kept small so 10 000 cases a parser
 * run in seconds; a failure prints fast-check's seed and the shrunk input. FUZZ_TALLY=1 prints how
 * the cases ended (datasets read, refusals by problem), to tune the generators.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { DatasetError } from '../errors.ts';
import { MAX_CAPTION_CHARS, checkRelativePath, type CaptionDataset } from './captionDataset.ts';
import { readDataset } from './dataset.ts';
import { memorySource, type FileSource } from './source.ts';
import { selectSplit } from './splits.ts';
import { buildZip } from './testing/zipBuilder.ts';
import { zipSource } from './zip.ts';

const RUNS = 10_000;
const TEST_TIMEOUT_MS = 60_000;

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`invariant broken: ${what}`);
}

function checkDataset(dataset: CaptionDataset, listed: ReadonlySet<string> | undefined): void {
  check(dataset.examples.length > 0, 'a dataset has examples');
  check(new Set(dataset.images).size === dataset.images.length, 'images are unique');
  const used = new Set<number>();
  for (const e of dataset.examples) {
    check(Number.isInteger(e.imageIndex) && e.imageIndex >= 0 && e.imageIndex < dataset.images.length, `imageIndex ${e.imageIndex} is valid`);
    check(typeof e.caption === 'string' && e.caption.trim() !== '' && e.caption.length <= MAX_CAPTION_CHARS, 'caption is non-empty text');
    check(e.prompt === undefined || (typeof e.prompt === 'string' && e.prompt.trim() !== ''), 'prompt is undefined or text');
    check(typeof e.split === 'string' && dataset.splits.includes(e.split), `split "${e.split}" is listed`);
    used.add(e.imageIndex);
  }
  check(used.size === dataset.images.length, 'every image is used by an example');
  for (const image of dataset.images) {
    check('path' in checkRelativePath(image), `image path "${image}" stays inside the dataset`);
    if (listed) check(listed.has(image), `image "${image}" exists in a listed source`);
  }
  check(new Set(dataset.splits).size === dataset.splits.length, 'splits are unique');
  let total = 0;
  for (const split of dataset.splits) {
    const part = selectSplit(dataset, split);
    check(part.examples.length > 0 && part.examples.every((e) => e.split === split && part.images[e.imageIndex] !== undefined), `split ${split} selects cleanly`);
    total += part.examples.length;
  }
  check(total === dataset.examples.length, 'splits partition the examples');
  for (const row of dataset.skipped) check(typeof row.where === 'string' && typeof row.reason === 'string' && row.reason !== '', 'skipped rows say why');
}

/** Runs a reader: a dataset must satisfy the invariants; an error must be a readable DatasetError. */
async function readsOrRefuses(read: () => Promise<CaptionDataset>, listed: ReadonlySet<string> | undefined, tally: Tally): Promise<void> {
  let dataset: CaptionDataset;
  try {
    dataset = await read();
  } catch (e) {
    if (!(e instanceof DatasetError)) throw e;
    check(e.problem !== '' && e.where !== '' && e.fix !== '', 'a DatasetError says what, where and what to do');
    tally.refused++;
    if (process.env.FUZZ_TALLY) tally.problems.set(e.problem.slice(0, 50), (tally.problems.get(e.problem.slice(0, 50)) ?? 0) + 1);
    return;
  }
  checkDataset(dataset, listed);
  tally.read++;
}

/** How the cases of one fuzzer ended: a generator that only ever produced refusals would test little. */
interface Tally {
  read: number;
  refused: number;
  problems: Map<string, number>;
}

function expectBothOutcomes(tally: Tally, what: string): void {
  const total = tally.read + tally.refused;
  check(tally.read > total * 0.05 && tally.refused > total * 0.05,
    `${what}: ${tally.read} datasets read and ${tally.refused} refused; each should be more than 5% of the cases`);
}

const encode = (text: string) => new TextEncoder().encode(text);
const IMAGES = ['a.png', 'b.png', 'img/c.png', 'train/a.png', 'val/a.png', 'validation/b.png', 'images/d.png', 'val2017/e.jpg'];

function sourceOf(files: Map<string, Uint8Array>, listed: boolean): FileSource {
  const source = memorySource('fuzz', files);
  return listed ? source : { label: source.label, read: source.read };
}

/** Usually good, sometimes bad: cases must reach both the reading and the refusing paths (see expectBothOutcomes). */
function mostly<T, U = T>(good: fc.Arbitrary<T>, ...bad: Array<fc.Arbitrary<U>>): fc.Arbitrary<T | U> {
  return fc.oneof<Array<fc.Arbitrary<T | U> | fc.WeightedArbitrary<T | U>>>({ weight: 3 * bad.length, arbitrary: good }, ...bad);
}

/** Bytes that are sometimes not UTF-8: the text, sometimes with a random byte written over it. */
const maybeBroken = (text: fc.Arbitrary<string>) => fc.tuple(text, mostly(fc.constant(undefined), fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }))))
  .map(([t, edit]) => {
    const bytes = encode(t);
    if (edit && bytes.length > 0) bytes[edit[0] % bytes.length] = edit[1];
    return bytes;
  });

/** The images present: usually all, sometimes some. */
const presentImages = mostly(fc.constant(IMAGES), fc.subarray(IMAGES));
const fileName = mostly(
  fc.constantFrom('a.png', 'b.png', 'img/c.png', 'd.png', 'e.jpg'),
  fc.constantFrom('./a.png', '../a.png', '/a.png', 'img\\c.png', 'a//b.png', '', ' ', 'missing.png'),
  fc.string({ maxLength: 8 }),
);
const captionText = mostly(
  fc.constantFrom('a cat', 'a dog on a mat', 'two "quoted", words', 'line\nbreak', 'café'),
  fc.string({ maxLength: 12 }),
  fc.constantFrom('', '  ', '\uFFFD', 'x'.repeat(MAX_CAPTION_CHARS + 1)),
);
const anyValue = fc.oneof(fc.integer(), fc.constant(null), fc.boolean(), fc.array(fc.string({ maxLength: 4 }), { maxLength: 2 }));
const splitName = fc.oneof(fc.constantFrom('train', 'val', 'validation', 'TEST', ' dev ', '', 'holdout'), fc.string({ maxLength: 4 }));

describe('fuzz', () => {
  it(`metadata.jsonl: ${RUNS} cases`, async () => {
    const tally: Tally = { read: 0, refused: 0, problems: new Map() };
    const row = fc.record({
      file_name: mostly(fileName, anyValue), text: mostly(captionText, anyValue), captions: fc.array(captionText, { maxLength: 3 }),
      split: fc.oneof(splitName, anyValue), question: fc.oneof(captionText, anyValue),
    }, { requiredKeys: [] }).map((r) => JSON.stringify(r));
    const line = mostly(row, fc.string({ maxLength: 20 }), fc.json({ maxDepth: 2 }), row.map((r) => r.slice(0, -3)));
    const file = fc.tuple(fc.array(line, { maxLength: 8 }), fc.constantFrom('\n', '\r\n')).map(([lines, newline]) => lines.join(newline));
    await fc.assert(fc.asyncProperty(
      fc.constantFrom('metadata.jsonl', 'train/metadata.jsonl', 'val/metadata.jsonl', 'images/metadata.jsonl'), maybeBroken(file), fc.boolean(), presentImages,
      async (path, bytes, listed, images) => {
        const files = new Map([[path, bytes], ...images.map((image) => [image, encode('I')] as const)]);
        await readsOrRefuses(() => readDataset(sourceOf(files, listed)), listed ? new Set(files.keys()) : undefined, tally);
      }), { numRuns: RUNS });
    if (process.env.FUZZ_TALLY) console.log('metadata.jsonl', tally);
    expectBothOutcomes(tally, 'metadata.jsonl');
  }, TEST_TIMEOUT_MS);

  it(`COCO JSON: ${RUNS} cases`, async () => {
    const tally: Tally = { read: 0, refused: 0, problems: new Map() };
    const id = mostly<unknown>(fc.integer({ min: 0, max: 2 }), fc.constantFrom('1', 'x'), anyValue);
    const imageRecord = { id, file_name: mostly(fileName, anyValue) };
    const image = mostly<unknown>(fc.record(imageRecord), fc.record(imageRecord, { requiredKeys: [] }), anyValue);
    const annotation = mostly<unknown>(fc.record({ image_id: id, caption: mostly(captionText, anyValue), question: captionText }, { requiredKeys: ['image_id'] }), anyValue);
    const coco = fc.record({
      images: fc.oneof({ weight: 9, arbitrary: fc.array(image, { minLength: 1, maxLength: 5 }) }, anyValue),
      annotations: fc.oneof({ weight: 9, arbitrary: fc.array(annotation, { minLength: 1, maxLength: 6 }) }, anyValue),
    }, { requiredKeys: ['images', 'annotations'] });
    const text = mostly(coco.map((c) => JSON.stringify(c)), fc.json({ maxDepth: 2 }), coco.chain((c) => {
      const json = JSON.stringify(c);
      return fc.nat({ max: json.length }).map((cut) => json.slice(0, cut));
    }));
    await fc.assert(fc.asyncProperty(
      fc.constantFrom('captions.json', 'captions_val2017.json', 'annotations/captions_train2017.json', 'data.json'), maybeBroken(text), fc.boolean(), presentImages,
      async (path, bytes, listed, images) => {
        const files = new Map([[path, bytes], ...images.map((i) => [i, encode('I')] as const)]);
        await readsOrRefuses(() => readDataset(sourceOf(files, listed)), listed ? new Set(files.keys()) : undefined, tally);
      }), { numRuns: RUNS });
    if (process.env.FUZZ_TALLY) console.log('COCO JSON', tally);
    expectBothOutcomes(tally, 'COCO JSON');
  }, TEST_TIMEOUT_MS);

  it(`CSV: ${RUNS} cases`, async () => {
    const tally: Tally = { read: 0, refused: 0, problems: new Map() };
    const tricky = fc.string({ unit: fc.constantFrom(',', ';', '\t', '"', '\n', '\r', 'a', ' ', '.png'), maxLength: 12 });
    const header = mostly(
      fc.tuple(fc.constantFrom('file_name', 'image', 'Path', 'filename'), fc.constantFrom('text', 'Caption', 'captions'), fc.subarray(['split', 'prompt', 'other']))
        .chain(([image, caption, extra]) => fc.shuffledSubarray([image, caption, ...extra], { minLength: 2 + extra.length })),
      fc.array(fc.constantFrom('file_name', 'text', 'split', 'other', ''), { minLength: 1, maxLength: 3 }),
    );
    const field = (name: string) => (/^(file_name|image|path|filename)$/i.test(name) ? fileName : /^split$/.test(name) ? splitName : mostly(captionText, tricky));
    const quoted = (value: string, quote: boolean) => (quote || /[",;\t\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value);
    const table = fc.tuple(header, fc.constantFrom(',', ';', '\t'), fc.constantFrom('\n', '\r\n')).chain(([columns, separator, newline]) => {
      const row = mostly(fc.tuple(...columns.map(field)), fc.array(mostly(captionText, tricky), { maxLength: 4 }));
      return fc.array(fc.tuple(row, fc.boolean()), { maxLength: 6 })
        .map((rows) => [columns.join(separator), ...rows.map(([values, quote]) => values.map((v) => quoted(v, quote)).join(separator))].join(newline));
    });
    await fc.assert(fc.asyncProperty(
      fc.constantFrom('captions.csv', 'metadata.csv', 'train/metadata.csv', 'captions_val.csv'), maybeBroken(mostly(table, tricky)), fc.boolean(), presentImages,
      async (path, bytes, listed, images) => {
        const files = new Map([[path, bytes], ...images.map((i) => [i, encode('I')] as const)]);
        await readsOrRefuses(() => readDataset(sourceOf(files, listed)), listed ? new Set(files.keys()) : undefined, tally);
      }), { numRuns: RUNS });
    if (process.env.FUZZ_TALLY) console.log('CSV', tally);
    expectBothOutcomes(tally, 'CSV');
  }, TEST_TIMEOUT_MS);

  it(`zip: ${RUNS} cases`, async () => {
    const tally: Tally = { read: 0, refused: 0, problems: new Map() };
    const metadata = encode('{"file_name": "a.png", "text": "a cat"}\n{"file_name": "b.png", "text": "a dog", "split": "val"}');
    const honest = (name: string, data: Uint8Array) => fc.record({
      name: fc.constant(name), data: fc.constant(data), method: fc.constantFrom(0, 8),
      flags: fc.constantFrom(0x800, 0), declaredSize: fc.constant(undefined), crc: fc.constant(undefined), shareWith: fc.constant(undefined),
    });
    const hostile = fc.record({
      name: mostly(fc.constantFrom('c.png', 'set/x', 'train/', '__MACOSX/x', '.DS_Store'), fc.constantFrom('../x', '/x', 'a\\b', 'a//b', 'a.png'), fc.string({ maxLength: 6 })),
      data: fc.uint8Array({ maxLength: 40 }),
      method: mostly(fc.constantFrom(0, 8), fc.constantFrom(12, 99, 3)),
      flags: mostly(fc.constantFrom(0x800, 0, 0x808), fc.constant(0x801)),
      declaredSize: mostly(fc.constant(undefined), fc.nat({ max: 300 })),
      crc: mostly(fc.constant(undefined), fc.nat()),
      shareWith: fc.constant(undefined),
    });
    const entries = fc.tuple(honest('metadata.jsonl', metadata), honest('a.png', encode('A')), honest('b.png', encode('B')), fc.array(hostile, { maxLength: 2 }), fc.constantFrom('', 'set/'))
      .chain(([m, a, b, extra, prefix]) => fc.shuffledSubarray([m, a, b, ...extra].map((e) => ({ ...e, name: prefix + e.name })), { minLength: 1 }));
    const built = fc.tuple(entries, fc.boolean(), fc.string({ maxLength: 4 })).map(([list, zip64, comment]) => buildZip(list, { zip64, comment }));
    const mutated = fc.tuple(built, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }), fc.option(fc.nat(), { nil: undefined }))
      .map(([bytes, edits, cut]) => {
        const out = bytes.slice(0, cut === undefined ? bytes.length : cut % (bytes.length + 1));
        for (const [at, value] of edits) if (out.length > 0) out[at % out.length] = value;
        return out;
      });
    await fc.assert(fc.asyncProperty(mostly(built, mutated, fc.uint8Array({ maxLength: 64 })), async (zip) => {
      let source;
      try {
        source = zipSource(zip, 'fuzz.zip', { maxEntries: 8, maxEntryBytes: 4096, maxTotalBytes: 8192 });
      } catch (e) {
        if (!(e instanceof DatasetError)) throw e;
        tally.refused++;
        return;
      }
      const names = source.list();
      check(new Set(names).size === names.length, 'zip names are unique');
      for (const name of names) {
        check('path' in checkRelativePath(name) && !name.endsWith('/'), `zip name "${name}" is a safe file path`);
        try {
          const data = await source.read(name);
          check(data instanceof Uint8Array && data.length <= 4096, 'an entry reads within its limit');
        } catch (e) {
          if (!(e instanceof DatasetError)) throw e;
        }
      }
      await readsOrRefuses(() => readDataset(source), new Set(names), tally);
    }), { numRuns: RUNS });
    if (process.env.FUZZ_TALLY) console.log('zip', tally);
    expectBothOutcomes(tally, 'zip');
  }, TEST_TIMEOUT_MS);
});
