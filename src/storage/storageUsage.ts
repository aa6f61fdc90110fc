/**
 * What the studio keeps in this browser and how much: adapters and checkpoints (counted in IndexedDB),
 * and the whole site's usage against what the browser allows it (navigator.storage.estimate).
 */
import type { StorageReport } from '../shared/engineApi.ts';
import { listAdapters } from './adapterStore.ts';
import { listCheckpoints } from './checkpointStore.ts';

export async function storageUsage(): Promise<StorageReport> {
  const [adapters, checkpoints] = await Promise.all([listAdapters(), listCheckpoints()]);
  const total = (items: Array<{ bytes: number }>) => ({ count: items.length, bytes: items.reduce((n, item) => n + item.bytes, 0) });
  const estimate = await navigator.storage?.estimate?.().catch(() => undefined);
  return { adapters: total(adapters), checkpoints: total(checkpoints), usage: estimate?.usage, quota: estimate?.quota };
}
