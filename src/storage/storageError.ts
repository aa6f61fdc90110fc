/**
 * Browser storage (IndexedDB) refused or lost something: one attempt turns a failure into a StorageError
 * (src/errors.ts) that says the problem, where, and what to do.
 */
import { StorageError, StorageFullError } from '../errors.ts';

export const BROWSER_STORAGE = 'IndexedDB (browser storage)';

export const FREE_SPACE = 'Delete adapters or checkpoints you no longer need (Adapters → Storage in this browser), or allow this site more storage in the browser\'s settings.';

/**
 * Runs one storage action; a failure becomes a StorageError that says what could not be done.
 * `keptWhenFull` says what is still there when the storage is full (e.g. "the checkpoint of step 40").
 */
export async function storageAttempt<T>(what: string, action: () => Promise<T>, keptWhenFull = 'everything stored before is kept'): Promise<T> {
  try {
    return await action();
  } catch (e) {
    if (e instanceof StorageError) throw e;
    const name = (e as Error).name;
    if (name === 'QuotaExceededError') {
      throw new StorageFullError(`cannot ${what}: this site's storage in the browser is full (${keptWhenFull})`, BROWSER_STORAGE, FREE_SPACE);
    }
    throw new StorageError(`cannot ${what}: ${(e as Error).message}`, BROWSER_STORAGE,
      'The browser\'s storage for this site may be disabled (private window?) or damaged: allow site data, or download the adapter instead.');
  }
}
