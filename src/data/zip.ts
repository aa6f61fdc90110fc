/**
 * A .zip the user dropped, as a FileSource. The zip's own directory (at its end) is read and checked
 * here, strictly, because the file comes from anyone: every offset is bounds-checked, names must stay
 * inside the dataset, entries may not overlap (the trick of non-recursive zip bombs), and declared
 * sizes and compression ratios are held to limits before anything is inflated. DEFLATE itself is
 * fflate's; its streaming inflater is fed small slices so that an entry whose declared size is a lie
 * is stopped within one slice of the lie, not after it has filled memory.
 *
 * Entries are inflated when read, not when the zip is opened: memory holds the zip plus the entry being
 * read, and a damaged image is reported for that image alone (the feature cache skips it).
 */
import { Inflate } from 'fflate';
import { DatasetError, shorten } from '../errors.ts';
import { isSplitFolderName } from './captionDataset.ts';
import { MissingFileError, type FileSource } from './source.ts';

export interface ZipLimits {
  /** Entries in the zip's directory, folders and ignored files included. */
  maxEntries: number;
  /** Uncompressed bytes of one entry. */
  maxEntryBytes: number;
  /** Uncompressed bytes of all entries together. */
  maxTotalBytes: number;
  /** Uncompressed ÷ compressed size, for entries above ratioCheckBytes. */
  maxRatio: number;
  /** Entries smaller than this are not held to maxRatio: a small file of zeros compresses absurdly and harms no one. */
  ratioCheckBytes: number;
}

export const DEFAULT_ZIP_LIMITS: Readonly<ZipLimits> = {
  maxEntries: 200_000,
  maxEntryBytes: 256 * 1024 * 1024,
  maxTotalBytes: 4 * 1024 * 1024 * 1024,
  // Text compresses 3–10×, PNG/JPEG about 1×; deflate's ceiling is about 1032×.
  maxRatio: 200,
  ratioCheckBytes: 1024 * 1024,
};

export interface ZipFileSource extends FileSource {
  list(): string[];
}

/** Compressed bytes pushed into the inflater at a time: bounds the output of one push to about 1032× this. */
const INFLATE_SLICE = 16 * 1024;

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const METHOD_NAMES: Record<number, string> = { 1: 'Shrink', 6: 'Implode', 9: 'Deflate64', 12: 'bzip2', 14: 'LZMA', 93: 'Zstandard', 95: 'XZ', 98: 'PPMd' };

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  crc: number;
  dataStart: number;
}

const REMAKE = 'Re-create the zip with your system\'s "Compress" command (or zip -r) and load it again.';

export function zipSource(bytes: Uint8Array, label: string, limits: Partial<ZipLimits> = {}): ZipFileSource {
  const entries = readDirectory(bytes, label, { ...DEFAULT_ZIP_LIMITS, ...limits });
  const byName = new Map(entries.map((e) => [e.name, e]));
  return {
    label,
    list: () => [...byName.keys()],
    async read(path) {
      const entry = byName.get(path);
      if (!entry) throw new MissingFileError(path, label);
      return inflateEntry(bytes, entry, `${label}/${path}`);
    },
  };
}

function readDirectory(bytes: Uint8Array, label: string, limits: ZipLimits): ZipEntry[] {
  const fail = (problem: string, fix = REMAKE) => new DatasetError(problem, label, fix);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number) => view.getUint16(at, true);
  const u32 = (at: number) => view.getUint32(at, true);
  const u64 = (at: number) => {
    const value = view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32;
    if (!Number.isSafeInteger(value)) throw fail('the zip\'s directory holds an impossible size or offset');
    return value;
  };
  const looksLikeZip = bytes.length >= 4 && u32(0) === LOCAL_SIGNATURE;

  // The end-of-directory record: 22 bytes, then a comment of up to 65535 bytes.
  let eocd = -1;
  for (let at = bytes.length - 22; at >= Math.max(0, bytes.length - 22 - 0xffff); at--) {
    if (u32(at) === EOCD_SIGNATURE && at + 22 + u16(at + 20) <= bytes.length) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) {
    throw looksLikeZip
      ? fail('the zip is cut short: its directory, at the end of the file, is missing', 'Download or copy the zip again; if it was made in parts, join them first.')
      : fail('this is not a zip file', 'Choose a .zip of the dataset folder, or the folder itself.');
  }
  let count = u16(eocd + 10);
  let directorySize = u32(eocd + 12);
  let directoryOffset = u32(eocd + 16);
  let directoryLimit = eocd;
  if (count === 0xffff || directorySize === 0xffffffff || directoryOffset === 0xffffffff) {
    const locator = eocd - 20;
    if (locator < 0 || u32(locator) !== ZIP64_LOCATOR_SIGNATURE) throw fail('the zip\'s directory is damaged (a zip64 record is missing)');
    const zip64 = u64(locator + 8);
    if (zip64 + 56 > locator || u32(zip64) !== ZIP64_EOCD_SIGNATURE) throw fail('the zip\'s directory is damaged (the zip64 record is not where it says)');
    count = u64(zip64 + 32);
    directorySize = u64(zip64 + 40);
    directoryOffset = u64(zip64 + 48);
    directoryLimit = zip64;
  } else if (u16(eocd + 4) !== 0 || u16(eocd + 6) !== 0) {
    throw fail('this zip is one part of a multi-part (split) zip', 'Join the parts into one zip (e.g. zip -s 0 parts.zip --out whole.zip) and load that.');
  }
  if (count > limits.maxEntries) {
    throw fail(`the zip has ${count} entries, more than the ${limits.maxEntries} a dataset may have`, 'Split the dataset into smaller zips.');
  }
  if (directoryOffset + directorySize > directoryLimit) {
    throw fail('the zip is cut short or damaged: its directory points past the end of the data', 'Download or copy the zip again.');
  }

  const entries: ZipEntry[] = [];
  const spans: Array<{ start: number; end: number; name: string }> = [];
  const names = new Set<string>();
  let totalSize = 0;
  let at = directoryOffset;
  const directoryEnd = directoryOffset + directorySize;
  for (let i = 0; i < count; i++) {
    if (at + 46 > directoryEnd || u32(at) !== CENTRAL_SIGNATURE) throw fail(`the zip's directory is damaged at entry ${i + 1}`);
    const flags = u16(at + 8);
    const method = u16(at + 10);
    const crc = u32(at + 16);
    let compressedSize = u32(at + 20);
    let size = u32(at + 24);
    const nameLength = u16(at + 28);
    const extraLength = u16(at + 30);
    const commentLength = u16(at + 32);
    let localOffset = u32(at + 42);
    const next = at + 46 + nameLength + extraLength + commentLength;
    if (next > directoryEnd) throw fail(`the zip's directory is damaged at entry ${i + 1}`);
    const rawName = bytes.subarray(at + 46, at + 46 + nameLength);
    const name = decodeName(rawName, (flags & 0x800) !== 0);
    if (name === undefined) throw fail(`entry ${i + 1}'s name is not valid UTF-8 although the zip says it is`);
    // Zip64: sizes and offset that do not fit 32 bits sit in extra field 0x0001, in this order.
    if (size === 0xffffffff || compressedSize === 0xffffffff || localOffset === 0xffffffff) {
      let field = at + 46 + nameLength;
      const extraEnd = field + extraLength;
      let found = false;
      while (field + 4 <= extraEnd) {
        const id = u16(field);
        const length = u16(field + 2);
        if (field + 4 + length > extraEnd) break;
        if (id === 0x0001) {
          let value = field + 4;
          const take = () => {
            if (value + 8 > field + 4 + length) throw fail(`the zip's directory is damaged at "${shorten(name)}" (zip64 sizes missing)`);
            const read = u64(value);
            value += 8;
            return read;
          };
          if (size === 0xffffffff) size = take();
          if (compressedSize === 0xffffffff) compressedSize = take();
          if (localOffset === 0xffffffff) localOffset = take();
          found = true;
          break;
        }
        field += 4 + length;
      }
      if (!found) throw fail(`the zip's directory is damaged at "${shorten(name)}" (zip64 sizes missing)`);
    }
    at = next;

    const path = checkEntryName(name, label);
    if ((flags & 0x1) !== 0 || method === 99) {
      throw fail(`"${shorten(name)}" in the zip is encrypted (password-protected)`, 'Make the zip again without a password.');
    }
    const local = readLocalHeader(view, localOffset, directoryOffset, compressedSize, name, fail);
    spans.push({ start: localOffset, end: local.dataStart + compressedSize, name });
    if (path === undefined) continue; // a folder, or a file to ignore
    if (method !== 0 && method !== 8) {
      throw fail(`"${shorten(name)}" is compressed with ${METHOD_NAMES[method] ?? `method ${method}`}, which cannot be read here`,
        'Make the zip again with standard (Deflate) compression: the system\'s "Compress" command or zip -r does.');
    }
    if (method === 0 && compressedSize !== size) throw fail(`"${shorten(name)}" is stored uncompressed but its two sizes differ: the zip is damaged`);
    if (size > limits.maxEntryBytes) {
      throw fail(`"${shorten(name)}" is ${formatBytes(size)} uncompressed, more than the ${formatBytes(limits.maxEntryBytes)} one file may have`,
        'Remove the file from the zip, or shrink it (images need not be larger than a few megapixels).');
    }
    totalSize += size;
    if (totalSize > limits.maxTotalBytes) {
      throw fail(`the zip holds more than ${formatBytes(limits.maxTotalBytes)} uncompressed`, 'Split the dataset into smaller zips.');
    }
    if (size > limits.ratioCheckBytes && size / Math.max(compressedSize, 1) > limits.maxRatio) {
      throw fail(`"${shorten(name)}" would inflate ${Math.round(size / Math.max(compressedSize, 1))}-fold (${formatBytes(compressedSize)} → ${formatBytes(size)}), which no real dataset file does`,
        'This zip looks like a zip bomb: do not use it. If the file is genuine, store it uncompressed.');
    }
    if (names.has(path)) throw fail(`"${shorten(path)}" appears twice in the zip`, 'Make the zip again from the folder.');
    names.add(path);
    entries.push({ name: path, method, compressedSize, size, crc, dataStart: local.dataStart });
  }

  spans.sort((a, b) => a.start - b.start);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i].start < spans[i - 1].end) {
      throw fail(`entries "${shorten(spans[i - 1].name)}" and "${shorten(spans[i].name)}" share their bytes, a trick of zip bombs`, 'Do not use this zip; make a new one from the folder.');
    }
  }
  if (entries.length === 0) throw fail('the zip holds no files', 'Zip the dataset folder with its metadata and images inside.');
  return stripCommonFolder(entries);
}

function readLocalHeader(view: DataView, offset: number, limit: number, compressedSize: number, name: string,
  fail: (problem: string) => DatasetError): { dataStart: number } {
  if (offset + 30 > limit || view.getUint32(offset, true) !== LOCAL_SIGNATURE) {
    throw fail(`"${shorten(name)}" is not where the zip's directory says: the zip is damaged`);
  }
  if ((view.getUint16(offset + 6, true) & 0x1) !== 0) throw fail(`"${shorten(name)}" in the zip is encrypted (password-protected)`);
  const dataStart = offset + 30 + view.getUint16(offset + 26, true) + view.getUint16(offset + 28, true);
  if (dataStart + compressedSize > limit) throw fail(`"${shorten(name)}" runs past the end of the zip's data: the zip is cut short or damaged`);
  return { dataStart };
}

/** Names are UTF-8 when flagged; unflagged ones usually are too (macOS, Python), else they are read as Latin-1. */
function decodeName(raw: Uint8Array, flaggedUtf8: boolean): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    return flaggedUtf8 ? undefined : new TextDecoder('latin1').decode(raw);
  }
}

/**
 * The entry's path, or undefined for folders and for what zip tools add on their own (macOS's
 * __MACOSX/ resource forks and .DS_Store); throws for names that would leave the dataset.
 */
function checkEntryName(name: string, label: string): string | undefined {
  const unsafe = (why: string) => new DatasetError(`the zip holds an entry named "${shorten(name)}", ${why}`, label,
    'Make the zip again from the dataset folder; do not use a zip from an unknown source.');
  if (name === '') throw unsafe('which is empty');
  if (name.includes('\0')) throw unsafe('which contains a NUL character');
  if (name.includes('\\')) throw unsafe('which uses \'\\\' (zip paths use \'/\')');
  const segments = name.split('/');
  // A drive letter further in ("set/C:") would become the start once the top folder is stripped.
  if (name.startsWith('/') || segments.some((s) => /^[A-Za-z]:/.test(s))) throw unsafe('an absolute path');
  if (segments.includes('..')) throw unsafe('which points outside the zip (\'..\')');
  const isFolder = name.endsWith('/');
  const parts = segments.filter((s, i) => s !== '.' && !(isFolder && i === segments.length - 1));
  if (parts.includes('')) throw unsafe('which has an empty folder name (\'//\')');
  if (isFolder || parts.length === 0) return undefined;
  if (parts[0] === '__MACOSX' || parts[parts.length - 1] === '.DS_Store') return undefined;
  return parts.join('/');
}

/**
 * A zip of a folder puts every entry under that folder's name: strip it, so the dataset's files are
 * where the readers look. A split folder (train/) is the dataset's own structure and stays.
 */
function stripCommonFolder(entries: ZipEntry[]): ZipEntry[] {
  const first = entries[0].name.split('/')[0];
  if (isSplitFolderName(first) || !entries.every((e) => e.name.startsWith(`${first}/`))) return entries;
  return entries.map((e) => ({ ...e, name: e.name.slice(first.length + 1) }));
}

function inflateEntry(bytes: Uint8Array, entry: ZipEntry, where: string): Uint8Array {
  const damaged = (why: string) => new DatasetError(`the file is damaged in the zip: ${why}`, where, REMAKE);
  const data = bytes.subarray(entry.dataStart, entry.dataStart + entry.compressedSize);
  let out: Uint8Array;
  if (entry.method === 0) {
    out = data.slice();
  } else {
    out = new Uint8Array(entry.size);
    let written = 0;
    const inflater = new Inflate((chunk) => {
      // The directory's size was checked against the limits; more output than it declared is a lie.
      if (written + chunk.length > entry.size) throw damaged(`it inflates to more than the ${entry.size} bytes the zip declares`);
      out.set(chunk, written);
      written += chunk.length;
    });
    try {
      if (data.length === 0) inflater.push(data, true);
      for (let at = 0; at < data.length; at += INFLATE_SLICE) {
        inflater.push(data.subarray(at, at + INFLATE_SLICE), at + INFLATE_SLICE >= data.length);
      }
    } catch (e) {
      if (e instanceof DatasetError) throw e;
      throw damaged(`it cannot be inflated (${(e as Error).message})`);
    }
    if (written !== entry.size) throw damaged(`it inflates to ${written} bytes, the zip declares ${entry.size}`);
  }
  if (crc32(out) !== entry.crc) throw damaged('its checksum does not match');
  return out;
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, the zip format's), table-driven. */
export function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = crcTable[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${n} bytes`;
}
