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
 *
 * This file resolves the revision and picks the files; hubClient.ts speaks to the Hub and keeps the chunks,
 * hubDownload.ts downloads them.
 */
import type { FileSource } from '../data/source.ts';
import { PackageError, shorten, shown } from '../errors.ts';
import { HUB_GRAPHS, HUB_MERGED_DECODER, hubGraphPath } from '../formats/hubManifest.ts';
import type { HubVariant } from '../shared/engineApi.ts';
import { hubHttpError, HubClient, OPEN_REPO, openStore, unreachable, type ChunkStore, type HubFile, type HubOptions, type HubProgress, type HubRevision } from './hubClient.ts';
import { Downloader, Meter } from './hubDownload.ts';

export { HUB_CACHE_NAME, type HubFile, type HubOptions, type HubProgress, type HubRevision } from './hubClient.ts';
export { CHUNK_BYTES } from './hubDownload.ts';

/** Files the engine reads when the repository has them (src/engine/hubPackage.ts, src/formats/hubManifest.ts). */
const REQUIRED_FILES = ['config.json', 'tokenizer.json'] as const;
const OPTIONAL_FILES = ['generation_config.json', 'preprocessor_config.json', 'tokenizer_config.json'] as const;

export interface HubRequest {
  /** https://huggingface.co, or a development build's stand-in (sources.ts, hubEndpoint, checks it). */
  endpoint: string;
  /** "owner/name". */
  repo: string;
  /** A branch, a tag or a commit; "main" when absent. */
  revision?: string;
  variant: HubVariant;
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

