/**
 * The safetensors format (docs/FORMATS.md): 8-byte little-endian header length, a JSON header naming each
 * tensor's dtype, shape and [begin, end) byte offsets into the data that follows, then the raw
 * little-endian data. `__metadata__` holds string key/values.
 *
 * Reading validates everything before touching the data, so a hostile or truncated file fails with a
 * clear error instead of a wrong tensor.
 */
import { FormatError, shorten, shown } from '../errors.ts';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

const BYTES_PER_ELEMENT: Record<SafetensorsDtype, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

/** A header over this size is refused: real adapter and embedding files have headers of a few KB. */
export const MAX_HEADER_BYTES = 16 * 1024 * 1024;

export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  /** The tensor's bytes (a copy, aligned for typed-array views). */
  bytes: Uint8Array;
}

export interface SafetensorsFile {
  metadata: Record<string, string>;
  tensors: Map<string, SafetensorsTensor>;
}

export function readSafetensors(file: Uint8Array, where = 'safetensors file'): SafetensorsFile {
  const bad = (problem: string) =>
    new FormatError(problem, where, 'The file is damaged or not a safetensors file: export it again.');
  if (file.byteLength < 8) throw bad(`file is ${file.byteLength} bytes, shorter than the 8-byte header length`);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > MAX_HEADER_BYTES) throw bad(`header length ${headerLength} is over the limit of ${MAX_HEADER_BYTES} bytes`);
  if (8 + headerLength > file.byteLength) {
    throw bad(`header length ${headerLength} runs past the end of the ${file.byteLength}-byte file (truncated?)`);
  }
  let text: string;
  let header: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(file.subarray(8, 8 + headerLength));
    header = JSON.parse(text);
  } catch (e) {
    throw bad(`header is not UTF-8 JSON: ${shorten((e as Error).message)}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw bad('header is not a JSON object');
  const entries = Object.entries(header as Record<string, unknown>);
  // JSON.parse keeps the last of two members with the same name; another reader may keep the first.
  if (countMembers(text) !== entries.length) throw bad('the header names a tensor twice');

  const data = file.subarray(8 + headerLength);
  const metadata: Record<string, string> = {};
  const spans: Array<{ name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }> = [];
  for (const [name, entry] of entries) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw bad('__metadata__ is not an object');
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') throw bad(`__metadata__.${shorten(k)} is not a string`);
        Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    const tensor = `tensor "${shorten(name)}"`;
    const { dtype, shape, data_offsets: offsets } = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>;
    if (typeof dtype !== 'string' || !Object.hasOwn(BYTES_PER_ELEMENT, dtype)) throw bad(`${tensor} has unknown dtype ${shown(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((s) => Number.isSafeInteger(s) && s >= 0)) {
      throw bad(`${tensor} has an invalid shape ${shown(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw bad(`${tensor} has invalid data_offsets ${shown(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > data.byteLength) {
      throw bad(`${tensor} spans bytes [${begin}, ${end}) outside the ${data.byteLength} data bytes`);
    }
    const elements = (shape as number[]).reduce((a, b) => a * b, 1);
    const expected = elements * BYTES_PER_ELEMENT[dtype as SafetensorsDtype];
    if (expected !== end - begin) {
      throw bad(`${tensor} of shape ${shown(shape)} ${dtype} needs ${expected} bytes but spans ${end - begin}`);
    }
    spans.push({ name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end });
  }
  // Overlaps are refused before any tensor is copied: a copy each of 100 000 tensors spanning the
  // same gigabyte would not fit in memory.
  const sorted = [...spans].sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].begin < sorted[i - 1].end) throw bad(`tensors "${shorten(sorted[i - 1].name)}" and "${shorten(sorted[i].name)}" overlap`);
  }
  const tensors = new Map<string, SafetensorsTensor>(
    spans.map(({ name, dtype, shape, begin, end }) => [name, { dtype, shape, bytes: data.slice(begin, end) }]));
  return { metadata, tensors };
}

/** How many members the top-level object of valid JSON `text` has as written: its colons at depth 1. */
function countMembers(text: string): number {
  let depth = 0;
  let colons = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    else if (c === ':' && depth === 1) colons++;
  }
  return colons;
}

/** The tensor as float32 values; other dtypes are refused where float32 is required. */
export function tensorAsFloat32(file: SafetensorsFile, name: string, where: string): { values: Float32Array; shape: number[] } {
  const tensor = file.tensors.get(name);
  if (!tensor) {
    throw new FormatError(`no tensor named "${name}" (it has: ${[...file.tensors.keys()].join(', ') || 'none'})`, where,
      'Use a file written for this model.');
  }
  if (tensor.dtype !== 'F32') throw new FormatError(`tensor "${name}" is ${tensor.dtype}, expected F32`, where, 'Export it as float32.');
  return { values: new Float32Array(tensor.bytes.buffer, tensor.bytes.byteOffset, tensor.bytes.byteLength / 4), shape: tensor.shape };
}

/** Writes float32 tensors (in the given order) and string metadata. */
export function writeSafetensors(
  tensors: Array<{ name: string; shape: number[]; values: Float32Array }>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const elements = t.shape.reduce((a, b) => a * b, 1);
    if (elements !== t.values.length) throw new Error(`tensor ${t.name}: shape [${t.shape}] has ${elements} elements, values ${t.values.length}`);
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.values.byteLength] };
    offset += t.values.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data starts 8-byte aligned, as the reference writer does.
  json += ' '.repeat((8 - ((8 + new TextEncoder().encode(json).length) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const t of tensors) {
    out.set(new Uint8Array(t.values.buffer, t.values.byteOffset, t.values.byteLength), at);
    at += t.values.byteLength;
  }
  return out;
}
