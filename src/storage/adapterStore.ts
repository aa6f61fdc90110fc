/**
 * Adapters kept in IndexedDB: the .safetensors bytes as the user would download them, plus what the
 * Adapters panel lists (name, task, model, config, metrics). Listing never reads the bytes back.
 * A write that fails (the storage is full) changes nothing: each is one transaction.
 */
import { BROWSER_STORAGE, storageAttempt } from './storageError.ts';
import { StorageError } from '../errors.ts';
import type { AdapterMetrics, AdapterSummary } from '../shared/engineApi.ts';
import { newRecordId, studioDb, type AdapterRecord } from './studioDb.ts';

function summary({ file, ...rest }: AdapterRecord): AdapterSummary {
  return { ...rest, bytes: file.byteLength };
}

export function newAdapterId(): string {
  return newRecordId('adapter');
}

/**
 * Saves an adapter. `finishedRun`: the run it was trained in, whose checkpoint is deleted in the same
 * transaction — the run is then in the adapter, and if the save fails, still in its checkpoint.
 */
export async function saveAdapter(record: AdapterRecord, finishedRun?: string): Promise<AdapterSummary> {
  return storageAttempt('save the adapter', async () => {
    const db = await studioDb();
    const tx = db.transaction(['adapters', 'checkpoints'], 'readwrite');
    // A copy that owns its bytes: a view into a larger (or transferred) buffer would store the whole buffer.
    const writes: Array<Promise<unknown>> = [tx.objectStore('adapters').put({ ...record, file: record.file.slice() }), tx.done];
    if (finishedRun) writes.push(tx.objectStore('checkpoints').delete(finishedRun));
    await Promise.all(writes);
    return summary(record);
  }, finishedRun ? 'the run\'s checkpoint and every adapter saved before are kept' : 'every adapter saved before is kept');
}

/** Every adapter, newest first. */
export async function listAdapters(): Promise<AdapterSummary[]> {
  return storageAttempt('list the adapters', async () => {
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
  const record = await storageAttempt('read the adapter', async () => (await studioDb()).get('adapters', id));
  if (!record) throw new StorageError(`adapter ${id} is not in this browser's storage`, BROWSER_STORAGE, 'It was deleted, perhaps in another tab: refresh the list.');
  return record;
}

export async function updateAdapter(id: string, changes: { name?: string; task?: string; metrics?: AdapterMetrics }): Promise<AdapterSummary> {
  const name = changes.name?.trim();
  const task = changes.task?.trim();
  if (changes.name !== undefined && !name) throw new StorageError('the name is empty', 'adapter name', 'Type a name.');
  if (changes.task !== undefined && !task) throw new StorageError('the task name is empty', 'task name', 'Type a task name, e.g. "caption".');
  return storageAttempt('update the adapter', async () => {
    const db = await studioDb();
    const tx = db.transaction('adapters', 'readwrite');
    const record = await tx.store.get(id);
    if (!record) throw new StorageError(`adapter ${id} is not in this browser's storage`, BROWSER_STORAGE, 'Refresh the list.');
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
  await storageAttempt('delete the adapter', async () => (await studioDb()).delete('adapters', id));
}
