/**
 * The studio's IndexedDB database (idb). One store per kind of thing kept between visits; each version
 * of the schema adds stores in `upgrade`, so an older database is carried forward, never wiped.
 *   v1: adapters — trained or imported adapter files with their config and metrics.
 *   v2: checkpoints — the training state of unfinished runs, one record per run (src/storage/checkpointStore.ts).
 */
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { AdapterSummary, CheckpointSummary } from '../shared/engineApi.ts';

export interface AdapterRecord extends AdapterSummary {
  /** The adapter file (safetensors). */
  file: Uint8Array;
}

export interface CheckpointRecord extends CheckpointSummary {
  /** encodeTrainingState's bytes (safetensors). */
  state: Uint8Array;
}

export const DB_NAME = 'adalink-studio';
export const DB_VERSION = 2;

export interface StudioSchema extends DBSchema {
  adapters: {
    key: string;
    value: AdapterRecord;
    indexes: { byModel: string; byTask: string };
  };
  checkpoints: {
    key: string;
    value: CheckpointRecord;
  };
}

let opened: Promise<IDBPDatabase<StudioSchema>> | undefined;

export function studioDb(): Promise<IDBPDatabase<StudioSchema>> {
  opened ??= openDB<StudioSchema>(DB_NAME, DB_VERSION, {
    upgrade(db, oldVersion) {
      if (oldVersion < 1) {
        const adapters = db.createObjectStore('adapters', { keyPath: 'id' });
        adapters.createIndex('byModel', 'modelId');
        adapters.createIndex('byTask', 'task');
      }
      if (oldVersion < 2) db.createObjectStore('checkpoints', { keyPath: 'runId' });
    },
  });
  return opened;
}

/** A record's key: its kind, the time, and 32 random bits (two made in the same millisecond differ). */
export function newRecordId(kind: 'adapter' | 'run'): string {
  return `${kind}-${Date.now().toString(36)}-${crypto.getRandomValues(new Uint32Array(1))[0].toString(36)}`;
}
