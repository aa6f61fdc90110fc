/**
 * The Hugging Face Hub as the studio's download sees it (hubSource.ts): its answers — the revision API, files
 * at a commit, redirects only to its own hosts, its errors as a person reads them — and where the downloaded
 * chunks are kept (Cache Storage, or memory where the browser gives none).
 */
import { PackageError, StorageError, StorageFullError, shorten } from '../errors.ts';
import { HUB_ENDPOINT } from './sources.ts';

/** The Cache Storage cache holding every Hub file's chunks, and the revisions resolved. */
export const HUB_CACHE_NAME = 'adalink-hub-files-v1';
export const STORAGE_WHERE = 'Cache Storage (browser storage)';
export const OPEN_REPO = 'onnx-community/Florence-2-base-ft';

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

// ---------------------------------------------------------------------------------------------------------
// The Hub's answers.

export class HubClient {
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
export function hubHttpError(response: Response, hub: HubClient, what: { revision: string; path?: string }): PackageError {
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

export function unreachable(hub: HubClient, reason: string, kept?: number): PackageError {
  const host = new URL(hub.endpoint).host;
  return new PackageError(`cannot reach the Hugging Face Hub (${host}): ${shorten(reason)}`, `${hub.endpoint}/${hub.repo}`,
    kept ? `Check your connection, then press the button again: the ${formatBytes(kept)} downloaded so far are kept in this browser, and the download resumes where it stopped.`
      : 'Check your connection, then press the button again. A model downloaded before loads without the Hub once its commit is known.');
}

// ---------------------------------------------------------------------------------------------------------
// Where the chunks are kept.

export interface ChunkStore {
  readonly persistent: boolean;
  get(key: string): Promise<Uint8Array | undefined>;
  has(key: string): Promise<boolean>;
  put(key: string, bytes: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
}

export async function openStore(storage: CacheStorage | null | undefined): Promise<ChunkStore> {
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

export function cacheStore(cache: Cache): ChunkStore {
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

export function memoryStore(): ChunkStore {
  const entries = new Map<string, Uint8Array>();
  return {
    persistent: false,
    get: async (key) => entries.get(key),
    has: async (key) => entries.has(key),
    put: async (key, bytes) => void entries.set(key, bytes),
    delete: async (key) => void entries.delete(key),
  };
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
}
