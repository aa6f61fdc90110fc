/**
 * Checkpoints of unfinished runs in IndexedDB, one record per run: the training state (adapter weights,
 * optimizer moments, step, losses, config with the seed — the RNG and the data order follow from
 * seed and step, src/formats/trainingState.ts) and what the studio needs to resume it (model, dataset
 * fingerprint, split, validation losses, the adapter's name and task).
 *
 * A record is written in one transaction that replaces the run's previous one: if the write fails
 * (storage full, tab closed mid-write), the transaction aborts and the previous checkpoint is still
 * there, whole. The run's record is deleted in the same transaction that saves its adapter
 * (adapterStore.saveAdapter), so a run is always in one place or the other.
 */
import type { CheckpointSummary } from '../shared/engineApi.ts';
import { BROWSER_STORAGE, storageAttempt } from './storageError.ts';
import { StorageError } from '../errors.ts';
import { newRecordId, studioDb, type CheckpointRecord } from './studioDb.ts';

function summary({ state, ...rest }: CheckpointRecord): CheckpointSummary {
  return { ...rest, bytes: state.byteLength };
}

export function newRunId(): string {
  return newRecordId('run');
}

/** Writes the run's checkpoint over its previous one, in one transaction. */
export async function saveCheckpoint(record: CheckpointRecord, previousStep?: number): Promise<CheckpointSummary> {
  const kept = previousStep === undefined ? 'nothing stored before was changed' : `the checkpoint of step ${previousStep} is kept`;
  return storageAttempt(`save the checkpoint of step ${record.step}`, async () => {
    const db = await studioDb();
    const tx = db.transaction('checkpoints', 'readwrite');
    // A copy that owns its bytes: a view into a larger buffer would store the whole buffer.
    await Promise.all([tx.store.put({ ...record, state: record.state.slice() }), tx.done]);
    return summary(record);
  }, kept);
}

/** Every checkpoint, newest first, without the training states. */
export async function listCheckpoints(): Promise<CheckpointSummary[]> {
  return storageAttempt('list the checkpoints', async () => {
    const db = await studioDb();
    const summaries: CheckpointSummary[] = [];
    let cursor = await db.transaction('checkpoints').store.openCursor();
    while (cursor) {
      summaries.push(summary(cursor.value));
      cursor = await cursor.continue();
    }
    return summaries.sort((a, b) => b.savedAt - a.savedAt);
  });
}

export async function getCheckpoint(runId: string): Promise<CheckpointRecord> {
  const record = await storageAttempt('read the checkpoint', async () => (await studioDb()).get('checkpoints', runId));
  if (!record) {
    throw new StorageError(`the checkpoint of run ${runId} is not in this browser's storage`, BROWSER_STORAGE,
      'It was discarded, perhaps in another tab: start a new run.');
  }
  return record;
}

export async function deleteCheckpoint(runId: string): Promise<void> {
  await storageAttempt('delete the checkpoint', async () => (await studioDb()).delete('checkpoints', runId));
}

export async function clearCheckpoints(): Promise<void> {
  await storageAttempt('delete the checkpoints', async () => (await studioDb()).clear('checkpoints'));
}
