/**
 * Where files come from: a served folder (fetch), files the user dropped (in memory), or a Node
 * directory (src/cli/fileSource.ts). Everything that reads a package or a dataset goes through this.
 */
export interface FileSource {
  /** Shown in messages: a URL, a folder name. */
  readonly label: string;
  /** The file's bytes; rejects with a readable error when it is missing. */
  read(path: string): Promise<Uint8Array>;
  /**
   * Every file's path ('/'-separated, no folders), where the source can know them (a dropped folder,
   * a zip; not a URL). Dataset readers use it to report rows whose image is missing and to find
   * the dataset's files; without it they fall back to well-known names.
   */
  list?(): string[];
}

export class MissingFileError extends Error {
  constructor(readonly path: string, readonly label: string) {
    super(`${label}/${path} not found`);
  }
}

/** Files served over HTTP under a base URL (the bundled models, or a user-given URL). */
export function urlSource(baseUrl: string): FileSource {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  return {
    label: baseUrl,
    async read(path) {
      const response = await fetch(new URL(path, new URL(base, globalThis.location?.href)));
      if (response.status === 404) throw new MissingFileError(path, baseUrl);
      if (!response.ok) throw new Error(`${base}${path}: HTTP ${response.status}`);
      return new Uint8Array(await response.arrayBuffer());
    },
  };
}

/** Files already in memory, keyed by their path (a dropped folder or an unpacked zip). */
export function memorySource(label: string, files: Map<string, Uint8Array>): FileSource {
  return {
    label,
    async read(path) {
      const bytes = files.get(path);
      if (!bytes) throw new MissingFileError(path, label);
      return bytes;
    },
    list: () => [...files.keys()],
  };
}

export async function readText(source: FileSource, path: string): Promise<string> {
  return new TextDecoder().decode(await source.read(path));
}
