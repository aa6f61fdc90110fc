/** Files on disk as a FileSource (Node only): a folder, or a .zip read into memory. */
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { zipSource } from '../data/zip.ts';
import { MissingFileError, type FileSource } from '../data/source.ts';

export function folderSource(dir: string): FileSource {
  const root = resolve(dir);
  return {
    label: dir,
    async read(path) {
      try {
        return new Uint8Array(await readFile(join(root, path)));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new MissingFileError(path, dir);
        throw e;
      }
    },
    list: () => readdirSync(root, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => relative(root, join(entry.parentPath, entry.name)).split(sep).join('/')),
  };
}

/** A dataset given on the command line: a folder, or a .zip file. */
export async function datasetSource(path: string): Promise<FileSource> {
  if (path.toLowerCase().endsWith('.zip')) return zipSource(new Uint8Array(await readFile(path)), path);
  return folderSource(path);
}
