/**
 * src/data/resample.ts against Pillow: every case of src/data/testing/resample/pillow-resample.bin.gz (made by
 * tools/fixtures/make_resample_fixtures.py from Pillow's own Image.resize) byte for byte, and properties.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { precomputeCoefficients, RESAMPLE_FILTERS, resampleRgb, type ResampleFilter } from './resample.ts';

interface FixtureSource { name: string; width: number; height: number; offset: number }
interface FixtureCase { source: number; filter: ResampleFilter; width: number; height: number; offset: number }
interface FixtureCoefficients { filter: ResampleFilter; inSize: number; outSize: number; offset: number }
interface Fixtures { pillow: string; sources: FixtureSource[]; cases: FixtureCase[]; coefficients: FixtureCoefficients[] }

const MAGIC = 'PILRSMP1';

function loadFixtures(): { header: Fixtures; blob: Uint8Array } {
  const raw = new Uint8Array(gunzipSync(readFileSync(new URL('./testing/resample/pillow-resample.bin.gz', import.meta.url))));
  const text = new TextDecoder();
  if (text.decode(raw.subarray(0, 8)) !== MAGIC) throw new Error('pillow-resample.bin.gz: bad magic');
  const headerLength = new DataView(raw.buffer, raw.byteOffset + 8, 4).getUint32(0, true);
  const header = JSON.parse(text.decode(raw.subarray(12, 12 + headerLength))) as Fixtures;
  return { header, blob: raw.subarray(12 + headerLength) };
}

const { header, blob } = loadFixtures();

function sourceBytes(s: FixtureSource): Uint8Array {
  return blob.subarray(s.offset, s.offset + s.width * s.height * 3);
}

/** Where two byte arrays first differ, in pixel terms, or null when they are equal. */
function firstMismatch(actual: Uint8Array, expected: Uint8Array, width: number): string | null {
  if (actual.length !== expected.length) return `length ${actual.length}, Pillow's ${expected.length}`;
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) {
      const pixel = Math.floor(i / 3);
      let count = 0;
      for (let j = i; j < expected.length; j++) if (actual[j] !== expected[j]) count++;
      return `byte ${i} (x ${pixel % width}, y ${Math.floor(pixel / width)}, channel ${'RGB'[i % 3]}): ` +
        `${actual[i]}, Pillow's ${expected[i]} (${count} bytes differ)`;
    }
  }
  return null;
}

describe('resampleRgb against Pillow', () => {
  it('has fixtures for every filter', () => {
    expect(header.pillow).toMatch(/^\d+\.\d+/);
    expect(new Set(header.cases.map((c) => c.filter))).toEqual(new Set(RESAMPLE_FILTERS));
    expect(header.cases.length).toBeGreaterThan(100);
  });

  const named = header.cases.map((c) => {
    const s = header.sources[c.source];
    return { ...c, label: `${s.name} → ${c.width}×${c.height} ${c.filter}` };
  });
  it.each(named)('$label is byte-identical to Pillow', (c) => {
    const s = header.sources[c.source];
    const expected = blob.subarray(c.offset, c.offset + c.width * c.height * 3);
    const actual = resampleRgb(sourceBytes(s), s.width, s.height, c.width, c.height, c.filter);
    const mismatch = firstMismatch(actual, expected, c.width);
    if (mismatch !== null) throw new Error(mismatch);
  });

  it('returns a copy, not the input, when the size does not change', () => {
    const s = header.sources[0];
    const src = sourceBytes(s);
    const out = resampleRgb(src, s.width, s.height, s.width, s.height, 'bicubic');
    expect(out).not.toBe(src);
    expect(out).toEqual(src);
    const buffer = Buffer.from(src); // Buffer#slice would share memory
    const copy = resampleRgb(buffer, s.width, s.height, s.width, s.height, 'box');
    copy[0] ^= 0xff;
    expect(buffer[0]).toBe(src[0]);
  });
});

// Pillow's mode "I" resize of 2^30·identity: round-half-away-from-zero(2^30 · weight), weight in float64.
describe('precomputeCoefficients against Pillow', () => {
  const IMPULSE = 2 ** 30;
  const roundUp = (f: number): number => (f >= 0 ? Math.trunc(f + 0.5) : Math.trunc(f - 0.5)); // ROUND_UP
  const named = header.coefficients.map((c) => ({ ...c, label: `${c.inSize} → ${c.outSize} ${c.filter}` }));
  it.each(named)('$label weights match Pillow to 2^-30', (c) => {
    const { ksize, start, count, weights } = precomputeCoefficients(c.inSize, c.outSize, c.filter);
    const view = new DataView(blob.buffer, blob.byteOffset + c.offset, c.inSize * c.outSize * 4);
    for (let j = 0; j < c.inSize; j++) {
      for (let i = 0; i < c.outSize; i++) {
        const t = j - start[i];
        const mine = t >= 0 && t < count[i] ? roundUp(IMPULSE * weights[i * ksize + t]) : 0;
        const pillow = view.getInt32((j * c.outSize + i) * 4, true);
        if (mine !== pillow) throw new Error(`input ${j}, output ${i}: 2^30·weight ${mine}, Pillow's ${pillow}`);
      }
    }
  });
});

describe('resampleRgb properties', () => {
  const filter = fc.constantFrom(...RESAMPLE_FILTERS);
  const side = fc.integer({ min: 1, max: 48 });
  const outSide = fc.integer({ min: 1, max: 80 });

  // Exact, not within 1: each pass gives (2^21 + c·Σk) >> 22 = c + floor((2^21 + c·e) / 2^22) where Σk = 2^22 + e
  // and e is the rounding error of the Q22 coefficients, |e| ≤ taps/2; that is c while 255·|e| < 2^21, i.e. for
  // fewer than ~16 000 taps. Pillow itself keeps constants exactly (checked on downscales up to 4000 → 1).
  it('keeps a constant image constant, at the right length', () => {
    fc.assert(fc.property(filter, side, side, outSide, outSide, fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255)),
      (f, w, h, ow, oh, [r, g, b]) => {
        const src = new Uint8Array(w * h * 3);
        for (let i = 0; i < src.length; i += 3) { src[i] = r; src[i + 1] = g; src[i + 2] = b; }
        const out = resampleRgb(src, w, h, ow, oh, f);
        expect(out.length).toBe(ow * oh * 3);
        for (let i = 0; i < out.length; i += 3) {
          if (out[i] !== r || out[i + 1] !== g || out[i + 2] !== b) {
            throw new Error(`pixel ${i / 3} is ${out[i]},${out[i + 1]},${out[i + 2]}, not ${r},${g},${b}`);
          }
        }
      }), { numRuns: 300 });
  });

  it('gives outWidth·outHeight·3 bytes for any image', () => {
    fc.assert(fc.property(filter, side, side, outSide, outSide, fc.integer(), (f, w, h, ow, oh, seed) => {
      const src = new Uint8Array(w * h * 3);
      let state = seed | 0;
      for (let i = 0; i < src.length; i++) { state = (Math.imul(state, 1664525) + 1013904223) | 0; src[i] = state >>> 24; }
      expect(resampleRgb(src, w, h, ow, oh, f).length).toBe(ow * oh * 3);
    }), { numRuns: 200 });
  });

  it('rejects bad sizes, a wrong byte count and an unknown filter', () => {
    const src = new Uint8Array(2 * 2 * 3);
    expect(() => resampleRgb(src, 2, 2, 0, 2, 'box')).toThrow(RangeError);
    expect(() => resampleRgb(src, 2, 2, 2.5, 2, 'box')).toThrow(RangeError);
    expect(() => resampleRgb(src, 2, 3, 1, 1, 'box')).toThrow(RangeError);
    expect(() => resampleRgb(src, 2, 2, 1, 1, 'nearest' as ResampleFilter)).toThrow(RangeError);
  });
});
