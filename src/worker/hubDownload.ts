/**
 * A Hub repository's files downloaded at a commit (hubSource.ts): Range requests of CHUNK_BYTES, a few at a
 * time, each chunk stored as it arrives, a file checked against the Hub's checksum once complete, failures that
 * may pass tried again; and the progress, in bytes with an ETA from the bytes that came over the network.
 */
import { MissingFileError, type FileSource } from '../data/source.ts';
import { PackageError, StorageFullError } from '../errors.ts';
import { formatBytes, hubHttpError, STORAGE_WHERE, unreachable, type ChunkStore, type HubClient, type HubFile, type HubOptions, type HubProgress } from './hubClient.ts';

/** Bytes per Range request, and per cache entry: what a dropped connection can cost at most, per request in flight. */
export const CHUNK_BYTES = 4 * 1024 * 1024;
/** Range requests in flight at once. */
const CONCURRENCY = 3;
/** Tries again after a network error, a cut body, HTTP 429 or 5xx, waiting 0.5 s, 1 s, 2 s, 4 s. */
const RETRIES = 4;
const RETRY_DELAY_MS = 500;
/** Progress messages at most this often (each one crosses to the page). */
const REPORT_EVERY_MS = 100;

// ---------------------------------------------------------------------------------------------------------
// Progress.

export class Meter {
  done = 0;
  cached = 0;
  private network = 0;
  private firstByteAt?: number;
  private reportedAt = 0;

  constructor(public total: number, private readonly onProgress?: (p: HubProgress) => void) {}

  fromCache(bytes: number): void {
    this.done += bytes;
    this.cached += bytes;
    this.report();
  }

  fromNetwork(bytes: number): void {
    this.firstByteAt ??= performance.now();
    this.done += bytes;
    this.network += bytes;
    this.report();
  }

  /** Bytes of a chunk whose download failed: they will come again. */
  lost(bytes: number): void {
    this.done -= bytes;
    this.network -= bytes;
  }

  report(force = false): void {
    if (!this.onProgress) return;
    const now = performance.now();
    if (!force && now - this.reportedAt < REPORT_EVERY_MS) return;
    this.reportedAt = now;
    const elapsed = this.firstByteAt === undefined ? 0 : (now - this.firstByteAt) / 1000;
    const rate = elapsed > 0 ? this.network / elapsed : 0;
    const left = Math.max(0, this.total - this.done);
    const etaSeconds = left === 0 ? 0 : elapsed >= 1 && rate > 0 ? left / rate : undefined;
    this.onProgress({ done: this.done, total: Math.max(this.total, this.done), cached: this.cached, etaSeconds });
  }
}

// ---------------------------------------------------------------------------------------------------------
// The download.

/** What one Range request gave: the file's size, and the chunks it stored (by their first byte). */
export interface Fetched {
  size: number;
  stored: number[];
}

/** A failure worth trying again: the network, a cut body, HTTP 429 or 5xx. */
export class Transient extends Error {
  constructor(message: string, readonly response?: Response) {
    super(message);
  }
}

export class Downloader {
  private readonly chunkBytes: number;
  private readonly concurrency: number;
  private readonly retries: number;
  private readonly retryDelayMs: number;
  /** Files checked complete in this load (a read needs no look at the marker again). */
  private readonly complete = new Set<string>();

  constructor(private readonly hub: HubClient, private readonly store: ChunkStore, private readonly sha: string,
    private readonly files: Map<string, HubFile>, options: HubOptions) {
    this.chunkBytes = Math.max(1024, Math.floor(options.chunkBytes ?? CHUNK_BYTES));
    this.concurrency = Math.max(1, Math.floor(options.concurrency ?? CONCURRENCY));
    this.retries = Math.max(0, Math.floor(options.retries ?? RETRIES));
    this.retryDelayMs = options.retryDelayMs ?? RETRY_DELAY_MS;
  }

  private url(path: string): string {
    return this.hub.fileUrl(this.sha, path);
  }

  private chunkKey(path: string, start: number, end: number): string {
    return `${this.url(path)}?adalink-bytes=${start}-${end - 1}`;
  }

  private completeKey(path: string): string {
    return `${this.url(path)}?adalink-complete`;
  }

  private ranges(size: number): Array<[number, number]> {
    const ranges: Array<[number, number]> = [];
    for (let start = 0; start < size; start += this.chunkBytes) ranges.push([start, Math.min(size, start + this.chunkBytes)]);
    return ranges;
  }

  /**
   * Refuses before downloading when the browser says the site cannot keep what is missing (an estimate:
   * the cache's own QuotaExceededError is the final word).
   */
  async checkRoom(files: HubFile[]): Promise<void> {
    if (!this.store.persistent) return;
    const estimate = await (globalThis.navigator as { storage?: StorageManager } | undefined)?.storage?.estimate?.().catch(() => undefined);
    if (!estimate?.quota) return;
    let missing = 0;
    for (const f of files) if (f.size && !(await this.store.has(this.completeKey(f.path)))) missing += f.size;
    const free = estimate.quota - (estimate.usage ?? 0);
    if (missing > free) {
      throw new StorageFullError(`the model needs ${formatBytes(missing)} more in this browser's storage, and the browser lets this site keep ${formatBytes(Math.max(0, free))} more`,
        STORAGE_WHERE, 'Free space on the disk or in this site\'s data (Adapters → Storage in this browser), or choose the fp16 variant (half the size).');
    }
  }

  /** The file's chunks all in the store (those missing downloaded), checked once against the Hub's checksum. */
  async ensure(file: HubFile, meter: Meter): Promise<void> {
    const { path } = file;
    if (this.complete.has(path)) return;
    const marker = await this.store.get(this.completeKey(path));
    if (marker) {
      const size = Number(new TextDecoder().decode(marker));
      if (file.size === undefined || size === file.size) {
        this.complete.add(path);
        if (file.size === undefined) meter.total += size;
        meter.fromCache(size);
        return;
      }
    }
    let size = file.size;
    let fresh = new Set<number>();
    if (size === undefined) {
      // Sizes come with ?blobs=true; without one, the first chunk's Content-Range tells it.
      const probed = await this.fetchChunk(path, 0, this.chunkBytes, undefined, meter);
      size = probed.size;
      fresh = new Set(probed.stored);
      meter.total += size;
    }
    const missing: Array<[number, number]> = [];
    for (const [start, end] of this.ranges(size)) {
      if (fresh.has(start)) continue;
      if (await this.store.has(this.chunkKey(path, start, end))) meter.fromCache(end - start);
      else missing.push([start, end]);
    }
    await this.pool(missing, ([start, end]) => this.fetchChunk(path, start, end, size, meter));
    await this.verify(file, size);
    await this.store.put(this.completeKey(path), new TextEncoder().encode(String(size)));
    this.complete.add(path);
  }

  /** Runs `work` on every item, `concurrency` at a time; after a failure no new item starts, the first error is thrown. */
  private async pool<T>(items: T[], work: (item: T) => Promise<unknown>): Promise<void> {
    let next = 0;
    let failure: unknown;
    const worker = async () => {
      while (failure === undefined && next < items.length) {
        const item = items[next++];
        try {
          await work(item);
        } catch (e) {
          failure ??= e;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, items.length) }, worker));
    if (failure !== undefined) throw failure;
  }

  /**
   * Downloads bytes [start, end) of a file (end past the size is cut by the server) and stores them as one
   * chunk, trying again on transient failures. Returns the file's size and the chunks stored (by their start).
   */
  private async fetchChunk(path: string, start: number, end: number, size: number | undefined, meter: Meter): Promise<Fetched> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.fetchChunkOnce(path, start, end, size, meter);
      } catch (e) {
        if (!(e instanceof Transient)) throw e;
        if (attempt >= this.retries) {
          if (e.response) throw hubHttpError(e.response, this.hub, { revision: this.sha, path });
          throw unreachable(this.hub, `${path}: ${e.message}`, meter.done);
        }
        await new Promise((resolve) => setTimeout(resolve, this.retryDelayMs * 2 ** attempt));
      }
    }
  }

  private async fetchChunkOnce(path: string, start: number, end: number, knownSize: number | undefined, meter: Meter): Promise<Fetched> {
    let response: Response;
    try {
      response = await this.hub.get(this.url(path), { Range: `bytes=${start}-${end - 1}` });
    } catch (e) {
      if (e instanceof PackageError) throw e;
      throw new Transient((e as Error).message);
    }
    if (response.status === 429 || response.status >= 500) throw new Transient(`HTTP ${response.status}`, response);
    if (!response.ok) throw hubHttpError(response, this.hub, { revision: this.sha, path });
    const where = `${this.hub.repo}@${this.sha.slice(0, 12)}/${path}`;
    let size = knownSize;
    if (response.status === 206) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers.get('Content-Range') ?? '');
      if (range) {
        if (Number(range[1]) !== start) throw new PackageError(`the Hub sent bytes from ${range[1]} when asked from ${start}`, where, 'Try again.');
        if (range[3] !== '*') size ??= Number(range[3]);
      }
    }
    // 200: the whole file (a server that ignores Range); its chunks are all taken from it.
    const expected = response.status === 206 ? (size !== undefined ? Math.min(end, size) - start : undefined) : size;
    const counted = response.status === 206 ? Number.POSITIVE_INFINITY : end - start;
    let received = 0;
    let body: Uint8Array;
    try {
      body = await readBody(response, expected, (n) => {
        const before = received;
        received += n;
        const add = Math.min(received, counted) - Math.min(before, counted);
        if (add > 0) meter.fromNetwork(add);
      });
    } catch (e) {
      meter.lost(Math.min(received, counted));
      if (e instanceof PackageError) throw e;
      throw new Transient((e as Error).message);
    }
    if (expected !== undefined && body.byteLength !== expected) {
      meter.lost(Math.min(received, counted));
      throw new Transient(`${path}: ${body.byteLength} bytes came of ${expected}`);
    }
    if (response.status !== 206) size ??= body.byteLength;
    if (size === undefined) {
      // A 206 without a readable Content-Range: the size is known only if this was the last chunk.
      if (body.byteLength >= end - start) {
        throw new PackageError('the Hub did not say the file\'s size (no size in the file list, no Content-Range)', where, 'Try again in a while.');
      }
      size = start + body.byteLength;
    }
    if (response.status === 206) {
      await this.store.put(this.chunkKey(path, start, start + body.byteLength), body);
      return { size, stored: [start] };
    }
    // The whole file came: every chunk not stored yet is taken from it (this one's bytes were counted as they came).
    const stored: number[] = [];
    for (const [s, e] of this.ranges(size)) {
      if (s !== start && await this.store.has(this.chunkKey(path, s, e))) continue;
      await this.store.put(this.chunkKey(path, s, e), body.subarray(s, e));
      stored.push(s);
      if (s !== start) meter.fromNetwork(e - s);
    }
    return { size, stored };
  }

  /** The file's bytes, from its chunks. */
  private async assemble(path: string, size: number): Promise<Uint8Array<ArrayBuffer> | undefined> {
    const bytes = new Uint8Array(size);
    for (const [start, end] of this.ranges(size)) {
      const chunk = await this.store.get(this.chunkKey(path, start, end));
      if (!chunk || chunk.byteLength !== end - start) return undefined;
      bytes.set(chunk, start);
    }
    return bytes;
  }

  /** Against the Hub's checksum (LFS: sha256; others: the git blob id); a mismatch removes the file's chunks. */
  private async verify(file: HubFile, size: number): Promise<void> {
    const where = `${this.hub.repo}@${this.sha.slice(0, 12)}/${file.path}`;
    const bytes = await this.assemble(file.path, size);
    if (!bytes) throw new PackageError('a downloaded part of the file is missing from the browser\'s storage', where, 'Press the button again: the missing part is downloaded again.');
    let ok = true;
    if (file.sha256) ok = hex(await crypto.subtle.digest('SHA-256', bytes)) === file.sha256;
    else if (file.blobId) ok = hex(await crypto.subtle.digest('SHA-1', concat(new TextEncoder().encode(`blob ${size}\0`), bytes))) === file.blobId;
    if (!ok) {
      for (const [start, end] of this.ranges(size)) await this.store.delete(this.chunkKey(file.path, start, end));
      throw new PackageError('the downloaded file does not match the Hub\'s checksum (it was removed from this browser)', where,
        'Press the button again to download it again; if it happens again, the connection may be altering downloads.');
    }
  }

  /** The files at the commit: read from the store; a file not downloaded yet (or evicted) is downloaded first. */
  source(label: string): FileSource {
    const read = async (path: string): Promise<Uint8Array> => {
      const file = this.files.get(path);
      if (!file) throw new MissingFileError(path, label);
      const quiet = new Meter(0);
      await this.ensure(file, quiet);
      const marker = await this.store.get(this.completeKey(path));
      const size = file.size ?? (marker ? Number(new TextDecoder().decode(marker)) : undefined);
      const bytes = size === undefined ? undefined : await this.assemble(path, size);
      if (bytes) return bytes;
      // The browser evicted part of it since: download again what is missing.
      this.complete.delete(path);
      await this.store.delete(this.completeKey(path));
      await this.ensure(file, quiet);
      const again = await this.assemble(path, size ?? Number(new TextDecoder().decode((await this.store.get(this.completeKey(path)))!)));
      if (!again) throw new PackageError('the file could not be kept in the browser\'s storage', `${label}/${path}`, 'Free some space, then load the model again.');
      return again;
    };
    return { label, read, list: () => [...this.files.keys()] };
  }
}

/** A response's body, streamed (`onBytes` as it arrives); more than `expected` bytes is an error. */
async function readBody(response: Response, expected: number | undefined, onBytes: (n: number) => void): Promise<Uint8Array> {
  if (!response.body) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    onBytes(bytes.byteLength);
    return bytes;
  }
  const reader = response.body.getReader();
  if (expected !== undefined) {
    const bytes = new Uint8Array(expected);
    let at = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return at === expected ? bytes : bytes.subarray(0, at);
      if (at + value.byteLength > expected) {
        await reader.cancel().catch(() => undefined);
        throw new Transient(`more bytes came than the ${expected} asked for`);
      }
      bytes.set(value, at);
      at += value.byteLength;
      onBytes(value.byteLength);
    }
  }
  const parts: Uint8Array[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    onBytes(value.byteLength);
  }
  return concat(...parts);
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.byteLength;
  }
  return bytes;
}

function hex(digest: ArrayBuffer): string {
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

