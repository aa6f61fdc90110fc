/**
 * A page for e2e/studio.hub.test.ts: src/worker/hubSource.ts in the browser (Cache Storage exists only
 * there), against the local Hub stand-in (e2e/support/hubServer.ts), driven through `window.hubHarness`.
 * The page runs the same code the engine worker runs; here it is on the page's thread, which has the same
 * fetch and Cache Storage.
 */
import { HUB_CACHE_NAME, openHubModel, type HubProgress, type HubRequest } from '../../src/worker/hubSource.ts';

export interface HarnessOptions {
  chunkBytes?: number;
  retries?: number;
  retryDelayMs?: number;
  concurrency?: number;
  /** The cache refuses every put after this many (QuotaExceededError), as a full disk would. */
  fullAfterPuts?: number;
}

export type HarnessResult =
  | {
    ok: true; sha: string; label: string; files: string[]; listed: string[]; bytes: number; downloaded: number; cached: number; persistent: boolean;
    /** sha256 of every file the source reads back, by path. */
    sha256: Record<string, string>;
    progress: HubProgress[];
  }
  | { ok: false; error: { name: string; message: string; problem?: string; where?: string; fix?: string }; progress: HubProgress[] };

function hex(digest: ArrayBuffer): string {
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Cache Storage whose cache refuses puts after `puts` of them, as when the site's quota is reached. */
function fillingCaches(puts: number): CacheStorage {
  return {
    ...caches,
    async open(name: string) {
      const cache = await caches.open(name);
      let left = puts;
      return {
        match: cache.match.bind(cache),
        delete: cache.delete.bind(cache),
        async put(request: RequestInfo | URL, response: Response) {
          if (left-- <= 0) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
          return cache.put(request, response);
        },
      } as Cache;
    },
  } as CacheStorage;
}

const harness = {
  /** Opens a Hub model with hubSource, reads every file it downloaded back, and says what happened. */
  async open(request: HubRequest, options: HarnessOptions = {}): Promise<HarnessResult> {
    const progress: HubProgress[] = [];
    try {
      const opened = await openHubModel(request, (p) => progress.push(p), {
        chunkBytes: options.chunkBytes, retries: options.retries, retryDelayMs: options.retryDelayMs, concurrency: options.concurrency,
        caches: options.fullAfterPuts !== undefined ? fillingCaches(options.fullAfterPuts) : undefined,
      });
      const sha256: Record<string, string> = {};
      for (const path of opened.files) sha256[path] = hex(await crypto.subtle.digest('SHA-256', (await opened.source.read(path)) as Uint8Array<ArrayBuffer>));
      const { sha, files, bytes, downloaded, cached, persistent } = opened;
      return { ok: true, sha, label: opened.source.label, files, listed: opened.source.list?.() ?? [], bytes, downloaded, cached, persistent, sha256, progress };
    } catch (e) {
      const { name, message, problem, where, fix } = e as Error & { problem?: string; where?: string; fix?: string };
      return { ok: false, error: { name, message, problem, where, fix }, progress };
    }
  },
  /** Reads one more file of the last repository opened at `sha` (downloaded on demand), as its sha256. */
  async readLater(request: HubRequest, path: string): Promise<string> {
    const opened = await openHubModel(request);
    return hex(await crypto.subtle.digest('SHA-256', (await opened.source.read(path)) as Uint8Array<ArrayBuffer>));
  },
  /** Forgets every Hub file this browser keeps. */
  async clear(): Promise<void> {
    await caches.delete(HUB_CACHE_NAME);
  },
  /** The keys of the Hub cache's entries (URLs), sorted. */
  async keys(): Promise<string[]> {
    const cache = await caches.open(HUB_CACHE_NAME);
    return (await cache.keys()).map((r) => r.url).sort();
  },
};

declare global {
  interface Window {
    hubHarness: typeof harness;
  }
}
window.hubHarness = harness;
document.getElementById('status')!.textContent = 'ready';
