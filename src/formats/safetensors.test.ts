/** The safetensors reader and writer: round trip, and every malformed header refused with a reason. */
import { describe, expect, it } from 'vitest';
import { FormatError } from '../errors.ts';
import { MAX_HEADER_BYTES, readSafetensors, tensorAsFloat32, writeSafetensors } from './safetensors.ts';

/** A file with the given header object and `dataBytes` bytes of data. */
function fileWithHeader(header: unknown, dataBytes = 0): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

/** A file with the given header text (which JSON.stringify could not write) and `dataBytes` bytes of data. */
function rawHeader(json: string, dataBytes = 0): Uint8Array {
  const bytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + bytes.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(bytes.length), true);
  out.set(bytes, 8);
  return out;
}

describe('safetensors', () => {
  it('round-trips tensors and metadata, data 8-byte aligned', () => {
    const a = Float32Array.from({ length: 6 }, (_, i) => i * 0.5 - 1);
    const b = new Float32Array([Math.PI]);
    const bytes = writeSafetensors([{ name: 'a', shape: [2, 3], values: a }, { name: 'b', shape: [1], values: b }], { base_model: 'x' });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + headerLength) % 8).toBe(0);
    const file = readSafetensors(bytes);
    expect(file.metadata).toEqual({ base_model: 'x' });
    expect(tensorAsFloat32(file, 'a', 'f')).toEqual({ values: a, shape: [2, 3] });
    expect(Array.from(tensorAsFloat32(file, 'b', 'f').values)).toEqual(Array.from(b));
  });

  it.each([
    ['shorter than 8 bytes', new Uint8Array(5), /shorter than the 8-byte header length/],
    ['a header length past the end', (() => { const f = fileWithHeader({}); new DataView(f.buffer).setBigUint64(0, 1000n, true); return f; })(), /runs past the end/],
    ['a header over the limit', (() => { const f = new Uint8Array(16); new DataView(f.buffer).setBigUint64(0, BigInt(MAX_HEADER_BYTES + 1), true); return f; })(), /over the limit/],
    ['a header that is not JSON', (() => { const f = fileWithHeader({}); f.set(new TextEncoder().encode('{{'), 8); return f; })(), /not UTF-8 JSON/],
    ['an unknown dtype', fileWithHeader({ t: { dtype: 'Q7', shape: [1], data_offsets: [0, 4] } }, 4), /unknown dtype/],
    ['offsets out of range', fileWithHeader({ t: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, 4), /outside the 4 data bytes/],
    ['a shape that disagrees with the byte count', fileWithHeader({ t: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8), /needs 12 bytes but spans 8/],
    ['overlapping tensors', fileWithHeader({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12), /overlap/],
    ['a negative shape', fileWithHeader({ t: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4), /invalid shape/],
    ['metadata that is not strings', fileWithHeader({ __metadata__: { a: 1 } }), /is not a string/],
    ['a name written twice', rawHeader('{"t": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "t": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}}', 2), /names a tensor twice/],
    ['a dtype that is a method of every object', fileWithHeader({ t: { dtype: 'toString', shape: [1], data_offsets: [0, 4] } }, 4), /unknown dtype "toString"/],
    ['a shape nested 10 000 deep', rawHeader(`{"t": {"dtype": "U8", "shape": ${'['.repeat(10_000)}${']'.repeat(10_000)}, "data_offsets": [0, 1]}}`, 1), /invalid shape \[\[…\]\]/],
  ])('refuses %s', (_, bytes, reason) => {
    expect(() => readSafetensors(bytes, 'adapter.safetensors')).toThrow(FormatError);
    expect(() => readSafetensors(bytes, 'adapter.safetensors')).toThrow(reason);
  });

  it('names the tensors a file has when one is missing or not float32', () => {
    const file = readSafetensors(fileWithHeader({ ids: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, 8));
    expect(() => tensorAsFloat32(file, 'w', 'f')).toThrow('no tensor named "w" (it has: ids)');
    expect(() => tensorAsFloat32(file, 'ids', 'f')).toThrow('is I64, expected F32');
  });
});
