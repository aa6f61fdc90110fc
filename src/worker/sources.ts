/**
 * FileSources for what the studio loads: files the person picked or dropped (read lazily from their
 * Blobs, in the worker), a .zip, and a model package fetched over HTTP with byte progress.
 */
import { MissingFileError, urlSource, type FileSource } from '../data/source.ts';
import { zipSource } from '../data/zip.ts';
import { DatasetError, PackageError } from '../errors.ts';
import { packagePaths, parseManifest } from '../formats/manifest.ts';
import type { PickedFile } from '../shared/engineApi.ts';

/**
 * Paths relative to the picked folder: a folder picker or a drop gives "mydata/metadata.jsonl"; the
 * common first folder is dropped so that "metadata.jsonl" is at the top.
 */
export function withoutCommonFolder(files: PickedFile[]): PickedFile[] {
  const cleaned = files.map((f) => ({ ...f, path: f.path.replace(/^\/+/, '') }));
  const firsts = new Set(cleaned.map((f) => (f.path.includes('/') ? f.path.split('/')[0] : '')));
  if (firsts.size !== 1 || firsts.has('')) return cleaned;
  const prefix = `${[...firsts][0]}/`;
  return cleaned.map((f) => ({ ...f, path: f.path.slice(prefix.length) }));
}

/** Picked files, read when needed. Hidden files (.DS_Store, __MACOSX/) are not listed. */
export function blobSource(label: string, picked: PickedFile[]): FileSource {
  const files = new Map(withoutCommonFolder(picked)
    .filter((f) => !f.path.split('/').some((s) => s.startsWith('.') || s === '__MACOSX'))
    .map((f) => [f.path, f.file]));
  return {
    label,
    list: () => [...files.keys()],
    async read(path) {
      const blob = files.get(path);
      if (!blob) throw new MissingFileError(path, label);
      return new Uint8Array(await blob.arrayBuffer());
    },
  };
}

function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && (bytes[2] === 0x03 || bytes[2] === 0x05);
}

/** A dataset's files: a served zip or folder (the demo), one dropped .zip, or a dropped folder / files. */
export async function datasetSource(input: { url: string; label: string } | { label: string; files: PickedFile[] }): Promise<FileSource> {
  if ('url' in input) {
    if (!/\.zip($|\?)/i.test(input.url)) return urlSource(input.url);
    const response = await fetch(input.url);
    if (!response.ok) throw new DatasetError(`cannot download the dataset: HTTP ${response.status}`, input.url, 'Check the address, or drop the file instead.');
    return zipSource(new Uint8Array(await response.arrayBuffer()), input.label);
  }
  if (input.files.length === 0) throw new DatasetError('nothing was dropped', input.label, 'Drop a folder, a .zip, or the dataset\'s files.');
  const zips = input.files.filter((f) => /\.zip$/i.test(f.path));
  if (zips.length > 0) {
    if (input.files.length > 1) {
      throw new DatasetError(`${input.files.length} files were dropped, among them the zip "${zips[0].path}"`, input.label,
        'Drop the .zip on its own, or the unpacked folder.');
    }
    const bytes = new Uint8Array(await zips[0].file.arrayBuffer());
    if (!isZip(bytes)) throw new DatasetError('the file is named .zip but is not a zip archive', zips[0].path, 'Re-create the zip, or drop the unpacked folder.');
    return zipSource(bytes, zips[0].path);
  }
  return blobSource(input.label, input.files);
}

/** The Hugging Face Hub: the one origin besides the studio's own that it fetches from, and only model files (hubSource.ts). */
export const HUB_ENDPOINT = 'https://huggingface.co';

/**
 * The Hub address a Hub model is downloaded from: https://huggingface.co. Another one (a local stand-in
 * that answers the Hub's URL layout, for the browser tests) is accepted in development builds only; a
 * production build refuses it — `import.meta.env.DEV` is false there and the branch is not even in the bundle.
 */
export function hubEndpoint(requested: string | undefined): string {
  if (requested === undefined || requested === '' || requested.replace(/\/+$/, '') === HUB_ENDPOINT) return HUB_ENDPOINT;
  if (!import.meta.env.DEV) {
    throw new PackageError(`the studio downloads Hub models from ${HUB_ENDPOINT} only`, requested,
      'Load the model without a Hub address of your own: the studio uses huggingface.co.');
  }
  let url: URL;
  try {
    url = new URL(requested);
  } catch {
    throw new PackageError('the Hub address is not a web address', requested, 'Give the stand-in\'s address, e.g. http://127.0.0.1:8123 (development builds only).');
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/' || url.search || url.hash) {
    throw new PackageError('the Hub address must be an http(s) origin, without a path', requested, 'Give the stand-in\'s address, e.g. http://127.0.0.1:8123 (development builds only).');
  }
  return url.origin;
}

/**
 * The studio fetches only from its own origin (its Content-Security-Policy's connect-src: itself and the Hub): a model
 * address elsewhere is refused here with what to do, not left to fail as "Failed to fetch". The one
 * exception is the Hugging Face Hub, reached only through hubSource.ts, only for a repository's model
 * files, and only when the person asks for a Hub model (ModelInput's `hub` form).
 */
function requireOwnOrigin(address: string): void {
  let url: URL;
  try {
    url = new URL(address, location.href);
  } catch {
    throw new PackageError('this is not a web address', address, 'Give the package folder\'s address, e.g. /models/my-package.');
  }
  if (url.origin !== location.origin && /(^|\.)(huggingface\.co|hf\.co)$/.test(url.hostname)) {
    const repo = /^\/([\w.-]+\/[\w.-]+)/.exec(url.pathname)?.[1];
    throw new PackageError('a Hugging Face Hub address is not a package folder: the studio reads Hub models through its Hub section, which downloads only the files a model needs',
      address, `Use "From the Hugging Face Hub" with the repository id${repo ? ` ${repo}` : ' (owner/name)'}.`);
  }
  if (url.origin !== location.origin) {
    throw new PackageError(`the studio loads models only from its own site (${location.origin}), so that nothing you use is fetched from elsewhere`,
      address, 'Download the package, then drop its folder here — or serve it next to the studio, under /models/.');
  }
}

/**
 * A package as a .zip (the studio's "Download merged" writes one): its files read from the folder inside that
 * holds manifest.json (or from the top), within the zip reader's limits (src/data/zip.ts).
 */
async function packageZip(picked: PickedFile): Promise<FileSource> {
  const bytes = new Uint8Array(await picked.file.arrayBuffer());
  if (!isZip(bytes)) throw new PackageError('the file is named .zip but is not a zip archive', picked.path, 'Re-create the zip, or drop the unpacked package folder.');
  const zip = zipSource(bytes, picked.path);
  const manifest = zip.list().filter((p) => p === 'manifest.json' || p.endsWith('/manifest.json')).sort((a, b) => a.length - b.length)[0];
  const prefix = manifest ? manifest.slice(0, -'manifest.json'.length) : '';
  return {
    label: picked.path,
    list: () => zip.list().filter((p) => p.startsWith(prefix)).map((p) => p.slice(prefix.length)),
    read: (path) => zip.read(`${prefix}${path}`),
  };
}

/**
 * Reads a whole package into memory first, reporting bytes as they arrive (so the person sees a
 * download with an ETA), then serves it to loadModelPackage from memory.
 */
export async function downloadPackage(
  input: string | { label: string; files: PickedFile[] }, onBytes: (done: number, total: number) => void,
): Promise<{ source: FileSource; bytes: number }> {
  const label = typeof input === 'string' ? input : input.label;
  if (typeof input === 'string') requireOwnOrigin(input);
  const zipped = typeof input !== 'string' && input.files.length === 1 && /\.zip$/i.test(input.files[0].path) ? input.files[0] : undefined;
  const remote = typeof input === 'string' ? urlSource(input) : zipped ? await packageZip(zipped) : blobSource(label, input.files);
  let manifestBytes: Uint8Array;
  try {
    manifestBytes = await remote.read('manifest.json');
  } catch (e) {
    if (e instanceof MissingFileError) {
      throw new PackageError('there is no manifest.json here: this is not a model package', label,
        'Choose the package folder (the one holding manifest.json), or a URL that ends in that folder.');
    }
    throw new PackageError(`cannot read manifest.json: ${(e as Error).message}`, label, 'Check the address and your connection.');
  }
  const paths = packagePaths(parseManifest(new TextDecoder().decode(manifestBytes), label));
  const files = new Map<string, Uint8Array>([['manifest.json', manifestBytes]]);
  let total = 0;
  let done = manifestBytes.byteLength;
  if (typeof input === 'string') {
    const base = input.endsWith('/') ? input : `${input}/`;
    const sizes = await Promise.all(paths.map(async (p) => {
      try {
        const head = await fetch(new URL(p, new URL(base, location.href)), { method: 'HEAD' });
        return Number(head.headers.get('content-length') ?? 0);
      } catch {
        return 0;
      }
    }));
    total = sizes.every((s) => s > 0) ? sizes.reduce((a, b) => a + b, 0) : 0;
    onBytes(done, total);
    for (const path of paths.slice(1)) {
      const response = await fetch(new URL(path, new URL(base, location.href)));
      if (response.status === 404) throw new PackageError(`the file "${path}" named in manifest.json is missing`, label, 'Copy the whole package, or fix manifest.json.');
      if (!response.ok || !response.body) throw new PackageError(`cannot download "${path}": HTTP ${response.status}`, label, 'Check the address and your connection.');
      const chunks: Uint8Array[] = [];
      const reader = response.body.getReader();
      for (;;) {
        const { done: finished, value } = await reader.read();
        if (finished) break;
        chunks.push(value);
        done += value.byteLength;
        onBytes(done, Math.max(total, done));
      }
      const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
      let at = 0;
      for (const c of chunks) {
        bytes.set(c, at);
        at += c.byteLength;
      }
      files.set(path, bytes);
    }
  } else {
    const sizes = new Map(withoutCommonFolder(input.files).map((f) => [f.path, f.file.size]));
    total = zipped ? zipped.file.size : paths.reduce((n, p) => n + (sizes.get(p) ?? 0), 0);
    for (const path of paths.slice(1)) {
      try {
        const bytes = await remote.read(path);
        files.set(path, bytes);
        done += bytes.byteLength;
        onBytes(done, total);
      } catch (e) {
        if (!(e instanceof MissingFileError)) throw e;
        // loadModelPackage names the missing file.
      }
    }
  }
  onBytes(done, done);
  return {
    bytes: done,
    source: {
      label,
      list: () => [...files.keys()],
      async read(path) {
        const bytes = files.get(path);
        if (!bytes) throw new MissingFileError(path, label);
        return bytes;
      },
    },
  };
}
