/**
 * Writes zips byte by byte for tests, including the ones no honest tool writes: lying sizes, encrypted
 * flags, unknown methods, hostile names, zip64 records, entries sharing bytes. Real zips come from
 * fflate's zipSync in the tests; this is for what it will not produce.
 */
import { deflateSync } from 'fflate';
import { crc32 } from '../zip.ts';

export interface TestZipEntry {
  name: string;
  data: Uint8Array;
  /** 0 stored, 8 deflate (default), anything else is written as given with the data stored. */
  method?: number;
  flags?: number;
  /** The uncompressed size the headers declare (default: the real one). */
  declaredSize?: number;
  crc?: number;
  /** Point this entry's directory record at the local header of an earlier entry. */
  shareWith?: number;
}

export interface TestZipOptions {
  /** Write zip64 end records and 0xffffffff sizes with a zip64 extra field. */
  zip64?: boolean;
  comment?: string;
}

export function buildZip(entries: TestZipEntry[], options: TestZipOptions = {}): Uint8Array {
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  let offset = 0;
  const push = (bytes: Uint8Array) => {
    parts.push(bytes);
    offset += bytes.length;
  };
  const records: Array<{ entry: TestZipEntry; name: Uint8Array; method: number; compressed: Uint8Array; size: number; crc: number; offset: number }> = [];
  for (const entry of entries) {
    const name = encoder.encode(entry.name);
    const method = entry.method ?? 8;
    const compressed = method === 8 ? deflateSync(entry.data) : entry.data;
    const size = entry.declaredSize ?? entry.data.length;
    const crc = entry.crc ?? crc32(entry.data);
    if (entry.shareWith !== undefined) {
      records.push({ ...records[entry.shareWith], entry, name });
      continue;
    }
    const header = new DataView(new ArrayBuffer(30));
    header.setUint32(0, 0x04034b50, true);
    header.setUint16(4, options.zip64 ? 45 : 20, true);
    header.setUint16(6, entry.flags ?? 0x800, true);
    header.setUint16(8, method, true);
    header.setUint32(14, crc, true);
    header.setUint32(18, compressed.length, true);
    header.setUint32(22, size, true);
    header.setUint16(26, name.length, true);
    records.push({ entry, name, method, compressed, size, crc, offset });
    push(new Uint8Array(header.buffer));
    push(name);
    push(compressed);
  }
  const directoryOffset = offset;
  for (const record of records) {
    const extra = options.zip64 ? new DataView(new ArrayBuffer(28)) : undefined;
    if (extra) {
      extra.setUint16(0, 0x0001, true);
      extra.setUint16(2, 24, true);
      extra.setBigUint64(4, BigInt(record.size), true);
      extra.setBigUint64(12, BigInt(record.compressed.length), true);
      extra.setBigUint64(20, BigInt(record.offset), true);
    }
    const header = new DataView(new ArrayBuffer(46));
    header.setUint32(0, 0x02014b50, true);
    header.setUint16(4, 20, true);
    header.setUint16(6, options.zip64 ? 45 : 20, true);
    header.setUint16(8, record.entry.flags ?? 0x800, true);
    header.setUint16(10, record.method, true);
    header.setUint32(16, record.crc, true);
    header.setUint32(20, extra ? 0xffffffff : record.compressed.length, true);
    header.setUint32(24, extra ? 0xffffffff : record.size, true);
    header.setUint16(28, record.name.length, true);
    header.setUint16(30, extra ? extra.byteLength : 0, true);
    header.setUint32(42, extra ? 0xffffffff : record.offset, true);
    push(new Uint8Array(header.buffer));
    push(record.name);
    if (extra) push(new Uint8Array(extra.buffer));
  }
  const directorySize = offset - directoryOffset;
  if (options.zip64) {
    const zip64Offset = offset;
    const end64 = new DataView(new ArrayBuffer(56));
    end64.setUint32(0, 0x06064b50, true);
    end64.setBigUint64(4, 44n, true);
    end64.setBigUint64(24, BigInt(records.length), true);
    end64.setBigUint64(32, BigInt(records.length), true);
    end64.setBigUint64(40, BigInt(directorySize), true);
    end64.setBigUint64(48, BigInt(directoryOffset), true);
    push(new Uint8Array(end64.buffer));
    const locator = new DataView(new ArrayBuffer(20));
    locator.setUint32(0, 0x07064b50, true);
    locator.setBigUint64(8, BigInt(zip64Offset), true);
    locator.setUint32(16, 1, true);
    push(new Uint8Array(locator.buffer));
  }
  const comment = encoder.encode(options.comment ?? '');
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, options.zip64 ? 0xffff : records.length, true);
  end.setUint16(10, options.zip64 ? 0xffff : records.length, true);
  end.setUint32(12, options.zip64 ? 0xffffffff : directorySize, true);
  end.setUint32(16, options.zip64 ? 0xffffffff : directoryOffset, true);
  end.setUint16(20, comment.length, true);
  push(new Uint8Array(end.buffer));
  push(comment);
  const out = new Uint8Array(offset);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

export const utf8 = (text: string) => new TextEncoder().encode(text);
