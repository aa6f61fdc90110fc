/**
 * The studio's IndexedDB database (idb). One store per kind of thing kept between visits; each version
 * of the schema adds stores in `upgrade`, so an older database is carried forward, never wiped.
 *   v1: adapters — trained or imported adapter files with their config and metrics.
 * (Checkpoints come in a later version: add a store and an `if (oldVersion < 2)` branch.)
 */
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { AdapterRecord } from './adapterStore.ts';

export const DB_NAME = 'adalink-studio';
export const DB_VERSION = 1;

export interface StudioSchema extends DBSchema {
  adapters: {
    key: string;
    value: AdapterRecord;
    indexes: { byModel: string; byTask: string };
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
    },
  });
  return opened;
}
