/**
 * A local stand-in for the Hugging Face Hub, for the browser tests (nothing leaves the machine): a Node http
 * server that answers the Hub's URL layout for the folders under e2e/fixtures/hub/ (repository
 * `adalink-test/<folder>`), and for repositories a test gives in memory.
 *
 *   GET /api/models/{owner}/{name}/revision/{revision}[?blobs=true]
 *       → { id, sha, siblings: [{ rfilename }] } — with blobs=true each sibling has its size and blobId, and
 *         the graphs (.onnx, .onnx_data: LFS on the Hub) their lfs { sha256, size, pointerSize }.
 *   GET|HEAD /{owner}/{name}/resolve/{main|HEAD|sha}/{path}
 *       → the file, 206 for one Range (Content-Range), 416 past its end; Content-Length, ETag (the blob id, or
 *         the sha256 of an LFS file, as the Hub's X-Linked-Etag), X-Repo-Commit, Accept-Ranges.
 *   Errors as the Hub gives them: 401 X-Error-Code RepoNotFound (a missing or private repository), 404
 *   RevisionNotFound, 404 EntryNotFound, 401 GatedRepo for a gated one's files.
 *   CORS as the Hub sends it: the request's Origin allowed back, Vary: Origin, the Hub's exposed headers, and
 *   preflights answered.
 *
 * The commit (`sha`) is a stable hash of the repository's files. Every request answered is logged. A test
 * can slow the files down (bytesPerSecond), cut a response after some bytes (a dropped connection), cut
 * every request (offline), or alter what it sends (tamper).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join, relative, sep } from 'node:path';

export const HUB_FIXTURES = 'e2e/fixtures/hub';
export const TEST_OWNER = 'adalink-test';

/** The headers the Hub exposes to pages (Access-Control-Expose-Headers on huggingface.co). */
const EXPOSED = 'X-Repo-Commit,X-Request-Id,X-Error-Code,X-Error-Message,X-Total-Count,ETag,Link,Accept-Ranges,Content-Range,X-Linked-Size,X-Linked-ETag,X-Xet-Hash';

export interface HubLogEntry {
  method: string;
  /** Path and query, as asked. */
  url: string;
  kind: 'revision' | 'file' | 'preflight' | 'other';
  repo?: string;
  revision?: string;
  /** A file's path in the repository. */
  path?: string;
  /** The Range header, as sent. */
  range?: string;
  /** 0: cut (offline, or the body cut short by `interrupt`). */
  status: number;
  /** Body bytes written. */
  bytes: number;
  origin?: string;
}

export interface HubServerOptions {
  /** Folders served as `adalink-test/<folder>` (default e2e/fixtures/hub). */
  root?: string;
  /** Repositories in memory: "owner/name" → path → bytes. */
  repos?: Record<string, Record<string, Uint8Array | string>>;
  /** Repositories whose files answer 401 GatedRepo (their revision API answers, as the Hub's does). */
  gated?: string[];
  /** Files' bodies at this rate (bytes per second), so that a test sees the progress. */
  bytesPerSecond?: number;
  /** Bytes after which a file response's connection is cut (undefined: the whole body), asked per request. */
  interrupt?: (request: { repo: string; path: string; range?: string }) => number | undefined;
  /** Every request's connection cut at once, as when the machine is offline. */
  offline?: boolean;
  /** Files whose bytes are sent altered (the first byte of every body flipped), as a broken proxy would. */
  tamper?: (request: { repo: string; path: string }) => boolean;
}

interface RepoFile {
  bytes: Uint8Array;
  sha256: string;
  /** The git blob id of the content (or, for an LFS file, of its pointer). */
  blobId: string;
  lfs: boolean;
}

interface Repo {
  sha: string;
  files: Map<string, RepoFile>;
}

export interface HubServer {
  /** http://127.0.0.1:PORT */
  url: string;
  /** Every request answered, in order. */
  log: HubLogEntry[];
  /** The options, which a test may change while the server runs (offline, interrupt, bytesPerSecond). */
  options: HubServerOptions;
  /** A repository's commit id. */
  sha(repo: string): string;
  /** A repository's files (path → bytes). */
  files(repo: string): Map<string, Uint8Array>;
  close(): Promise<void>;
}

const sha1 = (data: Uint8Array | string) => createHash('sha1').update(data).digest('hex');
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

function gitBlobId(bytes: Uint8Array): string {
  return createHash('sha1').update(`blob ${bytes.byteLength}\0`).update(bytes).digest('hex');
}

function isLfs(path: string, bytes: Uint8Array): boolean {
  return /\.onnx(_data[^/]*)?$/.test(path) || bytes.byteLength > 10 * 1024 * 1024;
}

function makeRepo(entries: Iterable<[string, Uint8Array]>): Repo {
  const files = new Map<string, RepoFile>();
  for (const [path, bytes] of [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const digest = sha256(bytes);
    const lfs = isLfs(path, bytes);
    const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${digest}\nsize ${bytes.byteLength}\n`;
    files.set(path, { bytes, sha256: digest, lfs, blobId: gitBlobId(lfs ? new TextEncoder().encode(pointer) : bytes) });
  }
  // A stable commit id: the same files give the same one, run after run.
  const sha = sha1([...files].map(([path, f]) => `${path}\0${f.sha256}\n`).join(''));
  return { sha, files };
}

function folderFiles(folder: string): Array<[string, Uint8Array]> {
  const out: Array<[string, Uint8Array]> = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else out.push([relative(folder, full).split(sep).join('/'), new Uint8Array(readFileSync(full))]);
    }
  };
  walk(folder);
  return out;
}

/** Parses one Range ("bytes=a-b", "bytes=a-", "bytes=-n"); undefined for none or several, 'unsatisfiable' past the end. */
function parseRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
  const match = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (match[1] === '') {
    start = Math.max(0, size - Number(match[2]));
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  }
  if (start >= size || start > end) return 'unsatisfiable';
  return [start, end];
}

export async function startHubServer(options: HubServerOptions = {}): Promise<HubServer> {
  const repos = new Map<string, Repo>();
  const root = options.root ?? HUB_FIXTURES;
  for (const folder of readdirSync(root).sort()) {
    if (statSync(join(root, folder)).isDirectory()) repos.set(`${TEST_OWNER}/${folder}`, makeRepo(folderFiles(join(root, folder))));
  }
  for (const [name, files] of Object.entries(options.repos ?? {})) {
    repos.set(name, makeRepo(Object.entries(files).map(([p, b]) => [p, typeof b === 'string' ? new TextEncoder().encode(b) : b])));
  }
  const log: HubLogEntry[] = [];
  let requestId = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const origin = req.headers.origin;
    const entry: HubLogEntry = { method: req.method ?? 'GET', url: req.url ?? '/', kind: 'other', status: 0, bytes: 0, origin };
    log.push(entry);
    if (options.offline) {
      req.socket.destroy();
      return;
    }
    // CORS as the Hub sends it, on every answer.
    res.setHeader('Access-Control-Allow-Origin', origin ?? 'https://huggingface.co');
    res.setHeader('Vary', 'Origin');
    res.setHeader('Access-Control-Expose-Headers', EXPOSED);
    res.setHeader('X-Request-Id', `Root=1-adalink-${++requestId}`);
    const send = (status: number, body: string | Uint8Array = '', headers: Record<string, string> = {}) => {
      entry.status = status;
      for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
      const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
      if (!res.hasHeader('Content-Length')) res.setHeader('Content-Length', String(bytes.byteLength));
      res.writeHead(status);
      if (req.method === 'HEAD') return void res.end();
      entry.bytes = bytes.byteLength;
      res.end(bytes);
    };
    const error = (status: number, code: string, message: string) => send(status, JSON.stringify({ error: message }), {
      'Content-Type': 'application/json; charset=utf-8', 'X-Error-Code': code, 'X-Error-Message': message,
    });

    if (req.method === 'OPTIONS') {
      entry.kind = 'preflight';
      return send(204, '', {
        'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
        'Access-Control-Allow-Headers': req.headers['access-control-request-headers'] ?? 'Range, Content-Type, Authorization',
        'Access-Control-Max-Age': '86400',
      });
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return error(405, 'MethodNotAllowed', 'Method not allowed');
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const parts = url.pathname.split('/').slice(1).map((p) => decodeURIComponent(p));

    // /api/models/{owner}/{name}/revision/{revision}
    if (parts[0] === 'api' && parts[1] === 'models' && parts[4] === 'revision' && parts.length >= 6) {
      entry.kind = 'revision';
      const name = `${parts[2]}/${parts[3]}`;
      const revision = parts.slice(5).join('/');
      Object.assign(entry, { repo: name, revision });
      const repo = repos.get(name);
      if (!repo) return error(401, 'RepoNotFound', 'Repository not found');
      if (revision !== 'main' && revision !== 'HEAD' && revision !== repo.sha) return error(404, 'RevisionNotFound', `Invalid rev id: ${revision}`);
      const blobs = url.searchParams.get('blobs') === 'true';
      const siblings = [...repo.files].map(([path, f]) => (blobs
        ? { rfilename: path, blobId: f.blobId, size: f.bytes.byteLength, ...(f.lfs ? { lfs: { sha256: f.sha256, size: f.bytes.byteLength, pointerSize: 134 } } : {}) }
        : { rfilename: path }));
      return send(200, JSON.stringify({
        _id: repo.sha.slice(0, 24), id: name, modelId: name, author: name.split('/')[0], sha: repo.sha, lastModified: '2025-01-01T00:00:00.000Z',
        private: false, disabled: false, gated: options.gated?.includes(name) ? 'auto' : false, library_name: 'transformers.js',
        pipeline_tag: 'image-text-to-text', tags: ['transformers.js', 'onnx', 'florence2'], siblings,
      }), { 'Content-Type': 'application/json; charset=utf-8' });
    }

    // /{owner}/{name}/resolve/{revision}/{path}
    if (parts[2] === 'resolve' && parts.length >= 5) {
      entry.kind = 'file';
      const name = `${parts[0]}/${parts[1]}`;
      const revision = parts[3];
      const path = parts.slice(4).join('/');
      Object.assign(entry, { repo: name, revision, path, range: req.headers.range });
      const repo = repos.get(name);
      if (!repo) return error(401, 'RepoNotFound', 'Repository not found');
      if (revision !== 'main' && revision !== 'HEAD' && revision !== repo.sha) return error(404, 'RevisionNotFound', `Invalid rev id: ${revision}`);
      const file = repo.files.get(path);
      if (!file) return error(404, 'EntryNotFound', 'Entry not found');
      if (options.gated?.includes(name)) {
        return error(401, 'GatedRepo', `Access to model ${name} is restricted. You must have access to it and be authenticated to access it. Please log in.`);
      }
      const size = file.bytes.byteLength;
      const etag = `"${file.lfs ? file.sha256 : file.blobId}"`;
      const common: Record<string, string> = {
        'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes', ETag: etag, 'X-Repo-Commit': repo.sha,
        'Content-Disposition': `inline; filename*=UTF-8''${encodeURIComponent(path.split('/').pop()!)};`,
        ...(file.lfs ? { 'X-Linked-Size': String(size), 'X-Linked-ETag': etag } : {}),
      };
      const range = parseRange(req.headers.range, size);
      if (range === 'unsatisfiable') return send(416, '', { ...common, 'Content-Range': `bytes */${size}` });
      const [start, end] = range ?? [0, size - 1];
      let body = file.bytes.subarray(start, end + 1);
      if (body.byteLength > 0 && options.tamper?.({ repo: name, path })) {
        body = body.slice();
        body[0] ^= 0xff;
      }
      const status = range ? 206 : 200;
      entry.status = status;
      for (const [k, v] of Object.entries({ ...common, 'Content-Length': String(body.byteLength), ...(range ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}) })) {
        res.setHeader(k, v);
      }
      res.writeHead(status);
      if (req.method === 'HEAD') return void res.end();
      const cutAt = options.interrupt?.({ repo: name, path, range: req.headers.range });
      const rate = options.bytesPerSecond;
      const piece = rate ? Math.max(1024, Math.floor(rate / 20)) : body.byteLength;
      for (let at = 0; at < body.byteLength; at += piece) {
        let slice = body.subarray(at, Math.min(body.byteLength, at + piece));
        if (cutAt !== undefined && at + slice.byteLength > cutAt) {
          slice = slice.subarray(0, Math.max(0, cutAt - at));
          if (slice.byteLength > 0) await new Promise<void>((resolve) => res.write(slice, () => resolve()));
          entry.bytes += slice.byteLength;
          entry.status = 0;
          res.socket?.destroy();
          return;
        }
        await new Promise<void>((resolve) => res.write(slice, () => resolve()));
        entry.bytes += slice.byteLength;
        if (rate) await new Promise((resolve) => setTimeout(resolve, (slice.byteLength / rate) * 1000));
      }
      res.end();
      return;
    }
    return error(404, 'NotFound', 'Not found');
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      console.error(`[hub stand-in] ${(e as Error).stack}`);
      res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('the Hub stand-in did not listen on a TCP port');
  const repoOf = (name: string) => {
    const repo = repos.get(name);
    if (!repo) throw new Error(`the Hub stand-in has no repository ${name}`);
    return repo;
  };
  return {
    url: `http://127.0.0.1:${address.port}`,
    log,
    options,
    sha: (name) => repoOf(name).sha,
    files: (name) => new Map([...repoOf(name).files].map(([p, f]) => [p, f.bytes])),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
