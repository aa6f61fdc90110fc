/** A folder on disk as a FileSource (Node only). */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
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
  };
}
