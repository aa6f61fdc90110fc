/**
 * Adapters kept in IndexedDB: the .safetensors bytes as the user would download them, plus what the
 * Adapters panel lists (name, task, model, config, metrics). Listing never reads the bytes back.
 */
import { StorageError } from './storageError.ts';
import type { AdapterMetrics, AdapterSummary } from '../shared/engineApi.ts';
import { studioDb } from './studioDb.ts';

export interface AdapterRecord extends AdapterSummary {
  /** The adapter file (safetensors). */
  file: Uint8Array;
}

function summary({ file, ...rest }: AdapterRecord): AdapterSummary {
  return { ...rest, bytes: file.byteLength };
}

async function attempt<T>(what: string, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (e) {
    if (e instanceof StorageError) throw e;
    const name = (e as Error).name;
    const fix = name === 'QuotaExceededError'
      ? 'The browser\'s storage for this site is full: delete adapters you no longer need, or allow more storage in the site settings.'
      : 'The browser\'s storage for this site may be disabled (private window?) or damaged: allow site data, or download the adapter instead.';
    throw new StorageError(`cannot ${what}: ${(e as Error).message}`, 'IndexedDB (browser storage)', fix);
  }
}

export function newAdapterId(): string {
  return `adapter-${Date.now().toString(36)}-${crypto.getRandomValues(new Uint32Array(1))[0].toString(36)}`;
}

export async function saveAdapter(record: AdapterRecord): Promise<AdapterSummary> {
  return attempt('save the adapter', async () => {
    const db = await studioDb();
    // A copy that owns its bytes: a view into a larger (or transferred) buffer would store the whole buffer.
    await db.put('adapters', { ...record, file: record.file.slice() });
    return summary(record);
  });
}

/** Every adapter, newest first. */
export async function listAdapters(): Promise<AdapterSummary[]> {
  return attempt('list the adapters', async () => {
    const db = await studioDb();
    const summaries: AdapterSummary[] = [];
    let cursor = await db.transaction('adapters').store.openCursor();
    while (cursor) {
      summaries.push(summary(cursor.value));
      cursor = await cursor.continue();
    }
    return summaries.sort((a, b) => b.createdAt - a.createdAt);
  });
}

export async function getAdapter(id: string): Promise<AdapterRecord> {
  const record = await attempt('read the adapter', async () => (await studioDb()).get('adapters', id));
  if (!record) throw new StorageError(`adapter ${id} is not in this browser's storage`, 'IndexedDB (browser storage)', 'It was deleted, perhaps in another tab: refresh the list.');
  return record;
}

export async function updateAdapter(id: string, changes: { name?: string; task?: string; metrics?: AdapterMetrics }): Promise<AdapterSummary> {
  const name = changes.name?.trim();
  const task = changes.task?.trim();
  if (changes.name !== undefined && !name) throw new StorageError('the name is empty', 'adapter name', 'Type a name.');
  if (changes.task !== undefined && !task) throw new StorageError('the task name is empty', 'task name', 'Type a task name, e.g. "caption".');
  return attempt('update the adapter', async () => {
    const db = await studioDb();
    const tx = db.transaction('adapters', 'readwrite');
    const record = await tx.store.get(id);
    if (!record) throw new StorageError(`adapter ${id} is not in this browser's storage`, 'IndexedDB (browser storage)', 'Refresh the list.');
    const updated: AdapterRecord = {
      ...record,
      ...(name ? { name } : {}),
      ...(task ? { task } : {}),
      ...(changes.metrics ? { metrics: { ...record.metrics, ...changes.metrics } } : {}),
    };
    await tx.store.put(updated);
    await tx.done;
    return summary(updated);
  });
}

export async function deleteAdapter(id: string): Promise<void> {
  await attempt('delete the adapter', async () => (await studioDb()).delete('adapters', id));
}
