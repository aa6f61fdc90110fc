/**
 * A model from the Hugging Face Hub, downloaded by the studio itself (issue 14): the files one variant of a
 * transformers.js repository needs, and nothing else, kept in the browser's Cache Storage so that a reload,
 * a dropped connection or a lost GPU does not download them again.
 *
 *   1. The revision: GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true → the commit (`sha`) and
 *      every file with its size and checksum (LFS files: sha256; others: their git blob id). Kept in the cache
 *      too: a commit asked for again is not asked of the Hub, and a branch falls back to the last answer when
 *      the Hub cannot be reached.
 *   2. The files: config.json and tokenizer.json, the four graphs of the variant (onnx/<graph>.onnx or
 *      onnx/<graph>_fp16.onnx, with their .onnx_data), and the optional JSON files the repository has. A
 *      repository that lacks one is refused before anything is downloaded, naming the file.
 *   3. Each file from {endpoint}/{repo}/resolve/{sha}/{path} — the commit, never a branch, so every byte is
 *      immutable — in Range requests of CHUNK_BYTES, a few at a time. Each chunk is stored as it arrives,
 *      keyed by that URL and its byte range; a file whose chunks are all there is checked against the Hub's
 *      checksum once and marked complete. A download that stops (offline, a dropped connection) keeps every
 *      chunk that arrived, and the next one asks only for the others.
 *
 * The Hub redirects large files to its CDN (cdn-lfs.hf.co, cas-bridge.xethub.hf.co, …), which answers Range
 * and CORS too; `Range` with one range is a CORS-safelisted header, so no preflight. Requests carry no
 * cookies and no referrer. The only address besides https://huggingface.co is a development build's test
 * stand-in (sources.ts, hubEndpoint).
 */
import { MissingFileError, type FileSource } from '../data/source.ts';
import { PackageError, StorageError, StorageFullError, shorten, shown } from '../errors.ts';
import { HUB_GRAPHS, HUB_MERGED_DECODER, hubGraphPath } from '../formats/hubManifest.ts';
import type { HubVariant } from '../shared/engineApi.ts';
import { HUB_ENDPOINT } from './sources.ts';

/** The Cache Storage cache holding every Hub file's chunks, and the revisions resolved. */
export const HUB_CACHE_NAME = 'adalink-hub-files-v1';
/** Bytes per Range request, and per cache entry: what a dropped connection can cost at most, per request in flight. */
export const CHUNK_BYTES = 4 * 1024 * 1024;
/** Range requests in flight at once. */
const CONCURRENCY = 3;
/** Tries again after a network error, a cut body, HTTP 429 or 5xx, waiting 0.5 s, 1 s, 2 s, 4 s. */
const RETRIES = 4;
const RETRY_DELAY_MS = 500;
/** Progress messages at most this often (each one crosses to the page). */
const REPORT_EVERY_MS = 100;

/** Files the engine reads when the repository has them (src/engine/hubPackage.ts, src/formats/hubManifest.ts). */
const REQUIRED_FILES = ['config.json', 'tokenizer.json'] as const;
const OPTIONAL_FILES = ['generation_config.json', 'preprocessor_config.json', 'tokenizer_config.json'] as const;

const STORAGE_WHERE = 'Cache Storage (browser storage)';
const OPEN_REPO = 'onnx-community/Florence-2-base-ft';

export interface HubRequest {
  /** https://huggingface.co, or a development build's stand-in (sources.ts, hubEndpoint, checks it). */
  endpoint: string;
  /** "owner/name". */
  repo: string;
  /** A branch, a tag or a commit; "main" when absent. */
  revision?: string;
  variant: HubVariant;
}

/** A repository file, as the revision API lists it. */
export interface HubFile {
  path: string;
  size?: number;
  /** LFS files: the sha256 of the content. */
  sha256?: string;
  /** Other files: the git blob id (sha1 of "blob <size>\0" + content). */
  blobId?: string;
}

export interface HubRevision {
  /** The commit, 40 hex digits. */
  sha: string;
  files: HubFile[];
  /** The Hub could not be reached and a branch's last answer in this browser was used. */
  offline?: boolean;
}

export interface HubProgress {
  done: number;
  total: number;
  /** Of `done`, the bytes found in the cache. */
  cached: number;
  /** From the rate of the bytes that came over the network; absent until it can be told. */
  etaSeconds?: number;
}

export interface HubOptions {
  chunkBytes?: number;
  concurrency?: number;
  retries?: number;
  retryDelayMs?: number;
  /** Tests: another fetch. */
  fetch?: typeof fetch;
  /** Tests: another Cache Storage (e.g. one that is full); null: keep the files in memory only. */
  caches?: CacheStorage | null;
}

export interface HubModelFiles {
  /** The repository's files at the commit, read from the cache (downloaded again if the browser evicted them). */
  source: FileSource;
  endpoint: string;
  repo: string;
  requested: string;
  sha: string;
  variant: HubVariant;
  /** The files the variant needs, all downloaded. */
  files: string[];
  /** Their bytes together; of them, those downloaded now and those that were in the cache. */
  bytes: number;
  downloaded: number;
  cached: number;
  /** Whether they are kept across reloads (false where the browser gives no Cache Storage). */
  persistent: boolean;
}

/**
 * Resolves the revision, picks the files the variant needs, downloads those missing from the cache, and
 * returns a FileSource over them (label `<repo>@<sha7>`).
 */
export async function openHubModel(request: HubRequest, onProgress?: (p: HubProgress) => void, options: HubOptions = {}): Promise<HubModelFiles> {
  const { endpoint, repo, variant } = request;
  const requested = request.revision?.trim() || 'main';
  checkRepoId(repo);
  if (variant !== 'fp32' && variant !== 'fp16') {
    throw new PackageError(`the variant ${shown(variant)} is not fp32 or fp16`, repo, 'Choose fp32 or fp16.');
  }
  if (!/^[\w.\-/]+$/.test(requested) || requested.includes('..')) {
    throw new PackageError(`the revision ${shown(requested)} is not a branch, tag or commit`, repo, 'Give a branch (main), a tag or a commit id, or leave it empty.');
  }
  const store = await openStore(options.caches);
  const hub = new HubClient(endpoint, repo, options.fetch ?? ((input, init) => fetch(input, init)));
  const revision = await resolveRevision(hub, store, requested);
  const files = neededFiles(revision.files, variant, `${repo}@${requested}`, revision.sha);
  const downloader = new Downloader(hub, store, revision.sha, new Map(revision.files.map((f) => [f.path, f])), options);
  const meter = new Meter(files.reduce((n, f) => n + (f.size ?? 0), 0), onProgress);
  await downloader.checkRoom(files);
  for (const file of files) await downloader.ensure(file, meter);
  meter.report(true);
  const label = `${repo}@${revision.sha.slice(0, 7)}`;
  return {
    source: downloader.source(label), endpoint, repo, requested, sha: revision.sha, variant, files: files.map((f) => f.path),
    bytes: meter.done, downloaded: meter.done - meter.cached, cached: meter.cached, persistent: store.persistent,
  };
}

/** The Hub's repository ids: "owner/name", letters, digits, '-', '_', '.'. */
function checkRepoId(repo: string): void {
  if (typeof repo !== 'string' || !/^[\w.-]+\/[\w.-]+$/.test(repo) || repo.includes('..') || repo.length > 200) {
    throw new PackageError(`${shown(repo)} is not a Hub repository id`, 'the Hub repository',
      `Give it as owner/name, as the repository's page on huggingface.co shows it (e.g. ${OPEN_REPO}).`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// The Hub's answers.

class HubClient {
  readonly origin: string;

  constructor(readonly endpoint: string, readonly repo: string, readonly fetchImpl: typeof fetch) {
    this.origin = new URL(endpoint).origin;
  }

  revisionUrl(revision: string): string {
    return `${this.endpoint}/api/models/${this.repo}/revision/${encodeURIComponent(revision)}`;
  }

  fileUrl(sha: string, path: string): string {
    return `${this.endpoint}/${this.repo}/resolve/${sha}/${path.split('/').map(encodeURIComponent).join('/')}`;
  }

  /** No cookies (the studio does not sign in), no referrer, no HTTP cache (the chunks are kept in Cache Storage). */
  async get(url: string, headers: Record<string, string> = {}): Promise<Response> {
    const response = await this.fetchImpl(url, { headers, credentials: 'omit', referrerPolicy: 'no-referrer', cache: 'no-store' });
    this.checkFinalAddress(response, url);
    return response;
  }

  /**
   * A redirect may lead only to the Hub's own hosts (its CDN). The browser follows it before we see it —
   * the page's Content-Security-Policy is what stops a request elsewhere — but nothing from elsewhere is used.
   */
  private checkFinalAddress(response: Response, asked: string): void {
    if (!response.url || !response.redirected) return;
    const final = new URL(response.url);
    const hubHost = this.endpoint === HUB_ENDPOINT && final.protocol === 'https:' && /(^|\.)(huggingface\.co|hf\.co)$/.test(final.hostname);
    if (final.origin !== this.origin && !hubHost) {
      throw new PackageError(`the Hub sent the download to another site (${final.origin})`, asked,
        'The studio takes model files only from the Hub: try again later, or choose another repository.');
    }
  }
}

/** An HTTP error of the Hub as a person reads it (the Hub's X-Error-Code says which). */
function hubHttpError(response: Response, hub: HubClient, what: { revision: string; path?: string }): PackageError {
  const code = response.headers.get('X-Error-Code');
  const message = response.headers.get('X-Error-Message');
  const where = what.path ? `${hub.repo}@${what.revision.slice(0, 12)}/${what.path}` : `${hub.endpoint}/${hub.repo}`;
  const status = response.status;
  if (code === 'GatedRepo' || (status === 403 && !code)) {
    return new PackageError(`the repository ${hub.repo} is gated: the Hub gives its files only to signed-in people who accepted its conditions, and the studio does not sign in`,
      where, `Choose a repository that is not gated (${OPEN_REPO} is open).`);
  }
  if (code === 'RevisionNotFound') {
    return new PackageError(`the repository ${hub.repo} has no branch, tag or commit "${what.revision}"`, where,
      'Give a revision the repository has, or leave it empty for main.');
  }
  if (code === 'EntryNotFound' || (status === 404 && what.path)) {
    return new PackageError(`the repository has no file "${what.path ?? '?'}" at ${what.revision.slice(0, 12)}`, where,
      'Choose a repository in the transformers.js layout (config.json, tokenizer.json, onnx/*.onnx), with the variant it has.');
  }
  if (code === 'RepoNotFound' || status === 401 || status === 404) {
    // The Hub answers 401 for a private repository as for a missing one, so as not to tell which.
    return new PackageError(`there is no repository ${hub.repo} on the Hub, or it is private`, where,
      `Check the id on huggingface.co: owner/name, e.g. ${OPEN_REPO}. Private repositories cannot be loaded: the studio does not sign in.`);
  }
  if (status === 429) {
    return new PackageError('the Hub is limiting the requests from this address for a few minutes (HTTP 429)', where,
      'Wait a few minutes, then press the button again: what was downloaded is kept, and the download resumes.');
  }
  return new PackageError(`the Hub answered HTTP ${status}${message ? ` (${shorten(message)})` : ''}`, where,
    status >= 500 ? 'The Hub may be busy: try again in a while. What was downloaded is kept, and the download resumes.' : 'Check the repository id and revision.');
}

function unreachable(hub: HubClient, reason: string, kept?: number): PackageError {
  const host = new URL(hub.endpoint).host;
  return new PackageError(`cannot reach the Hugging Face Hub (${host}): ${shorten(reason)}`, `${hub.endpoint}/${hub.repo}`,
    kept ? `Check your connection, then press the button again: the ${formatBytes(kept)} downloaded so far are kept in this browser, and the download resumes where it stopped.`
      : 'Check your connection, then press the button again. A model downloaded before loads without the Hub once its commit is known.');
}

/** The commit and the files of a revision: a commit already resolved is taken from the cache, a branch asked again. */
async function resolveRevision(hub: HubClient, store: ChunkStore, requested: string): Promise<HubRevision> {
  const key = hub.revisionUrl(requested);
  const cached = async (): Promise<HubRevision | undefined> => {
    const bytes = await store.get(key).catch(() => undefined);
    if (!bytes) return undefined;
    try {
      return parseRevision(JSON.parse(new TextDecoder().decode(bytes)), hub, requested);
    } catch {
      return undefined;
    }
  };
  if (/^[0-9a-f]{40}$/.test(requested)) {
    const known = await cached();
    if (known) return known;
  }
  let response: Response;
  try {
    response = await hub.get(`${key}?blobs=true`);
  } catch (e) {
    if (e instanceof PackageError) throw e;
    const known = await cached();
    if (known) return { ...known, offline: true };
    throw unreachable(hub, (e as Error).message);
  }
  if (!response.ok) throw hubHttpError(response, hub, { revision: requested });
  let json: unknown;
  try {
    json = await response.json();
  } catch (e) {
    throw new PackageError(`the Hub's answer about the revision is not JSON: ${shorten((e as Error).message)}`, key, 'Try again in a while.');
  }
  const revision = parseRevision(json, hub, requested);
  // Kept under what was asked and under the commit: the commit's files never change.
  const bytes = new TextEncoder().encode(JSON.stringify({ sha: revision.sha, siblings: revision.files.map(siblingJson) }));
  await store.put(key, bytes).catch(() => undefined);
  await store.put(hub.revisionUrl(revision.sha), bytes).catch(() => undefined);
  return revision;
}

function siblingJson(f: HubFile): unknown {
  return { rfilename: f.path, size: f.size, blobId: f.blobId, lfs: f.sha256 ? { sha256: f.sha256, size: f.size } : undefined };
}

/** The revision API's `{ sha, siblings: [{ rfilename, size?, blobId?, lfs?: { sha256, size } }] }`. */
function parseRevision(json: unknown, hub: HubClient, requested: string): HubRevision {
  const where = hub.revisionUrl(requested);
  const bad = (what: string) => new PackageError(`the Hub's answer about the revision ${what}`, where, 'Try again in a while; if it lasts, choose another repository.');
  if (typeof json !== 'object' || json === null) throw bad('is not an object');
  const { sha, siblings } = json as { sha?: unknown; siblings?: unknown };
  if (typeof sha !== 'string' || !/^[0-9a-f]{40}$/.test(sha)) throw bad(`has no commit id (sha: ${shown(sha)})`);
  if (!Array.isArray(siblings)) throw bad('has no file list (siblings)');
  const files: HubFile[] = [];
  for (const s of siblings as unknown[]) {
    if (typeof s !== 'object' || s === null) continue;
    const { rfilename, size, blobId, lfs } = s as { rfilename?: unknown; size?: unknown; blobId?: unknown; lfs?: { sha256?: unknown; size?: unknown } };
    if (typeof rfilename !== 'string' || rfilename.split('/').some((part) => part === '' || part === '.' || part === '..')) continue;
    const lfsSize = typeof lfs === 'object' && lfs !== null ? lfs.size : undefined;
    const bytes = Number.isSafeInteger(lfsSize) && (lfsSize as number) >= 0 ? lfsSize as number : Number.isSafeInteger(size) && (size as number) >= 0 ? size as number : undefined;
    const sha256 = typeof lfs === 'object' && lfs !== null && typeof lfs.sha256 === 'string' && /^[0-9a-f]{64}$/.test(lfs.sha256) ? lfs.sha256 : undefined;
    files.push({ path: rfilename, size: bytes, sha256, blobId: !sha256 && typeof blobId === 'string' && /^[0-9a-f]{40}$/.test(blobId) ? blobId : undefined });
  }
  return { sha, files };
}

/**
 * The files a variant needs (src/engine/hubPackage.ts reads them): refused, naming what is missing, before
 * anything is downloaded. Where decoder_model.onnx is absent, Optimum's decoder_model_merged.onnx stands in for
 * it (the engine keeps its no-cache branch); decoder_model is taken when both are there.
 */
export function neededFiles(files: HubFile[], variant: HubVariant, where: string, sha: string): HubFile[] {
  const byPath = new Map(files.map((f) => [f.path, f]));
  const merged = hubGraphPath(HUB_MERGED_DECODER, variant);
  const graphs = HUB_GRAPHS.map((g) => (g === 'decoder_model' && !byPath.has(hubGraphPath(g, variant)) && byPath.has(merged) ? merged : hubGraphPath(g, variant)));
  const missing = [...REQUIRED_FILES, ...graphs].filter((p) => !byPath.has(p));
  if (missing.length > 0) {
    const other: HubVariant = variant === 'fp32' ? 'fp16' : 'fp32';
    const hasDecoder = (v: HubVariant) => byPath.has(hubGraphPath('decoder_model', v)) || byPath.has(hubGraphPath(HUB_MERGED_DECODER, v));
    const otherComplete = HUB_GRAPHS.every((g) => (g === 'decoder_model' ? hasDecoder(other) : byPath.has(hubGraphPath(g, other))));
    const onnx = files.some((f) => f.path.startsWith('onnx/'));
    const fix = !onnx
      ? `This repository has no onnx/ folder: choose one in the transformers.js layout (onnx-community publishes them, e.g. ${OPEN_REPO}).`
      : otherComplete && !missing.some((p) => (REQUIRED_FILES as readonly string[]).includes(p))
        ? `Choose the ${other} variant: this repository has its graphs.`
        : `Choose a repository in the transformers.js layout with config.json, tokenizer.json and onnx/{${HUB_GRAPHS.join(',')}}${variant === 'fp16' ? '_fp16' : ''}.onnx (e.g. ${OPEN_REPO}).`;
    throw new PackageError(`the repository has no ${missing.map((p) => `"${p}"`).join(', ')} (the ${variant} variant needs ${missing.length > 1 ? 'them' : 'it'})`,
      `${where} (commit ${sha.slice(0, 12)})`, fix);
  }
  const paths = new Set<string>([...REQUIRED_FILES, ...OPTIONAL_FILES.filter((p) => byPath.has(p)), ...graphs]);
  // External data next to a graph: onnx/<graph>.onnx_data, and onnx/<graph>.onnx_data_1 … for the largest.
  for (const graph of graphs) for (const f of files) if (f.path.startsWith(`${graph}_data`)) paths.add(f.path);
  return [...paths].map((p) => byPath.get(p)!);
}

// ---------------------------------------------------------------------------------------------------------
// Where the chunks are kept.

interface ChunkStore {
  readonly persistent: boolean;
  get(key: string): Promise<Uint8Array | undefined>;
  has(key: string): Promise<boolean>;
  put(key: string, bytes: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
}

async function openStore(storage: CacheStorage | null | undefined): Promise<ChunkStore> {
  const cacheStorage = storage === undefined ? (globalThis.caches as CacheStorage | undefined) : storage ?? undefined;
  if (cacheStorage) {
    try {
      return cacheStore(await cacheStorage.open(HUB_CACHE_NAME));
    } catch (e) {
      // A private window or a browser that refuses site data: the download still works, for this load only.
      console.warn(`Cache Storage is not available (${(e as Error).message}): Hub files are kept in memory only`);
    }
  }
  return memoryStore();
}

function cacheStore(cache: Cache): ChunkStore {
  return {
    persistent: true,
    async get(key) {
      const response = await cache.match(key);
      return response ? new Uint8Array(await response.arrayBuffer()) : undefined;
    },
    async has(key) {
      return (await cache.match(key)) !== undefined;
    },
    async put(key, bytes) {
      try {
        await cache.put(key, new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes.byteLength) } }));
      } catch (e) {
        if ((e as Error).name === 'QuotaExceededError') {
          throw new StorageFullError('this site\'s storage in the browser is full: the model\'s files cannot be kept', STORAGE_WHERE,
            'Free space (Adapters → Storage in this browser: adapters and checkpoints you no longer need; or clear this site\'s data for models you no longer use), allow the site more storage, or choose the fp16 variant (half the size). What was downloaded is kept.');
        }
        throw new StorageError(`cannot keep a downloaded file: ${shorten((e as Error).message)}`, STORAGE_WHERE,
          'Allow this site to keep data (not a private window), then press the button again.');
      }
    },
    async delete(key) {
      await cache.delete(key);
    },
  };
}

function memoryStore(): ChunkStore {
  const entries = new Map<string, Uint8Array>();
  return {
    persistent: false,
    get: async (key) => entries.get(key),
    has: async (key) => entries.has(key),
    put: async (key, bytes) => void entries.set(key, bytes),
    delete: async (key) => void entries.delete(key),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Progress.

class Meter {
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
interface Fetched {
  size: number;
  stored: number[];
}

/** A failure worth trying again: the network, a cut body, HTTP 429 or 5xx. */
class Transient extends Error {
  constructor(message: string, readonly response?: Response) {
    super(message);
  }
}

class Downloader {
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

function formatBytes(bytes: number): string {
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
}
