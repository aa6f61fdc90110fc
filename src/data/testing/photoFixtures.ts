/**
 * The test photos of src/data/testing/photos (tools/make_photo_fixtures.py): every file with what Pillow —
 * transformers' load_image and its processors — makes of it, and a comparison that reports the largest
 * difference. Shared by the Node test (src/data/images.test.ts) and the browser test (e2e/images.browser.test.ts).
 */
import { readFileSync } from 'node:fs';
import { zipSync } from 'fflate';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ResampleFilter } from '../resample.ts';

export const PHOTOS = join(dirname(fileURLToPath(import.meta.url)), 'photos');

export interface PhotoFixture {
  file: string;
  what: string;
  format: string | null;
  bad: boolean;
  pillow_readable: boolean;
  upright_size?: [number, number];
  expected_source?: string;
  expected?: Record<string, string | null>;
}

/** Every fixture file, from expected/index.json. */
export function photoFixtures(): PhotoFixture[] {
  const index = JSON.parse(readFileSync(join(PHOTOS, 'expected/index.json'), 'utf8')) as { files: Record<string, Omit<PhotoFixture, 'file'>> };
  return Object.entries(index.files).map(([file, entry]) => ({ file, ...entry }));
}

/** The processor expectations of a fixture: key ("64-bilinear"), size, filter, PNG path. */
export function resizedExpectations(fixture: PhotoFixture): Array<{ key: string; size: number; filter: ResampleFilter; path: string }> {
  return Object.entries(fixture.expected ?? {})
    .filter((entry): entry is [string, string] => entry[0] !== 'decoded' && entry[1] !== null)
    .map(([key, path]) => {
      const [size, filter] = key.split('-');
      return { key, size: Number(size), filter: filter as ResampleFilter, path: join(PHOTOS, path) };
    });
}

/** Largest absolute difference of two byte arrays and how many bytes differ. */
export function byteDifference(a: Uint8Array, b: Uint8Array): { max: number; differing: number } {
  if (a.length !== b.length) return { max: Infinity, differing: Math.max(a.length, b.length) };
  let max = 0;
  let differing = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (d > 0) differing++;
    if (d > max) max = d;
  }
  return { max, differing };
}

/** How close the resized bytes must come to Pillow's: issue 12's 2 levels; AVIF 6 (measured 5: see below). */
export function resizeTolerance(fixture: PhotoFixture): number {
  return fixture.file.endsWith('.avif') ? 6 : 2;
}

/**
 * How close a decoder must come to Pillow's decoded bytes, by file: lossless formats exactly, JPEG within 2
 * levels; AVIF (Pillow 9.4 cannot read it: its expectation is libavif's avifdec, with bilinear chroma
 * upsampling) is not held to the decoded bytes — libheif in sharp upsamples chroma otherwise, up to 55 levels
 * at hard edges — only to the resized ones.
 */
export function decodeTolerance(fixture: PhotoFixture): number {
  if (fixture.file.endsWith('.avif')) return Infinity;
  return fixture.format === 'JPEG' ? 2 : 0;
}

/**
 * The photos folder as a new user zips it: metadata.jsonl (BOM, CRLF) with every test image, the WebP in a
 * subfolder, the three bad files — not README.md or the expectations.
 */
export function mixedPhotoZip(): Uint8Array {
  const files: Record<string, Uint8Array> = { 'metadata.jsonl': new Uint8Array(readFileSync(join(PHOTOS, 'metadata.jsonl'))) };
  for (const fixture of photoFixtures()) files[fixture.file] = new Uint8Array(readFileSync(join(PHOTOS, fixture.file)));
  return zipSync(files, { level: 0 });
}
