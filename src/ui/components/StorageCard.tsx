/**
 * What the studio keeps in this browser, and how much: adapters, checkpoints of unfinished runs, the
 * site's whole usage against what the browser allows it (navigator.storage.estimate), and whether the
 * browser keeps it all when disk space runs low (persistent storage). Checkpoints can be cleared here.
 */
import { useCallback, useEffect, useState } from 'react';
import type { StorageReport } from '../../shared/engineApi.ts';
import type { EngineBridge } from '../engineBridge.ts';
import { ErrorBox, formatBytes } from './common.tsx';

/**
 * Asks the browser to keep the site's storage under storage pressure (navigator.storage.persist, which
 * exists on the page's thread only). Chrome answers without asking the person, from how the site is used.
 */
export async function requestPersistentStorage(): Promise<boolean | undefined> {
  try {
    return await navigator.storage?.persist?.();
  } catch {
    return undefined;
  }
}

export function StorageCard({ bridge, changed, onCheckpointsCleared }: {
  bridge: EngineBridge;
  /** Anything whose change means the figures changed (e.g. the adapter list). */
  changed: unknown;
  onCheckpointsCleared(): void;
}) {
  const [report, setReport] = useState<StorageReport>();
  const [persisted, setPersisted] = useState<boolean>();
  const [error, setError] = useState<unknown>();

  const refresh = useCallback(async () => {
    try {
      setReport(await bridge.storageUsage());
      setPersisted(await navigator.storage?.persisted?.());
    } catch (e) {
      setError(e);
    }
  }, [bridge]);
  useEffect(() => {
    void refresh();
  }, [refresh, changed]);

  const clearCheckpoints = async () => {
    if (!confirm('Delete the checkpoints of every unfinished run? Those runs can then not be resumed.')) return;
    setError(undefined);
    try {
      await bridge.clearCheckpoints();
      onCheckpointsCleared();
    } catch (e) {
      setError(e);
    }
    await refresh();
  };

  const askPersistence = async () => {
    setPersisted(await requestPersistentStorage());
  };

  const site = report?.usage !== undefined && report.quota ? `${formatBytes(report.usage)} of the ${formatBytes(report.quota)} the browser allows this site` : '—';
  return (
    <div className="card" data-testid="storage-card">
      <h3>Storage in this browser</h3>
      <dl className="facts">
        <dt>Adapters</dt><dd data-testid="storage-adapters">{report ? `${report.adapters.count} (${formatBytes(report.adapters.bytes)})` : '—'}</dd>
        <dt>Checkpoints</dt>
        <dd data-testid="storage-checkpoints">{report ? `${report.checkpoints.count} of unfinished runs (${formatBytes(report.checkpoints.bytes)})` : '—'}</dd>
        <dt>This site in all</dt><dd data-testid="storage-site">{site}</dd>
        <dt>Kept when disk space runs low</dt>
        <dd>
          {persisted ? 'yes (persistent storage)' : 'not promised: the browser may clear it when the disk is nearly full'}
          {persisted === false && <> · <button type="button" className="link" onClick={() => void askPersistence()}>ask the browser to keep it</button></>}
        </dd>
      </dl>
      <p className="muted">Image features are cached on the GPU only while a dataset is open; nothing else is cached. Download the adapters you want to keep for good.</p>
      <div className="row wrap">
        <button type="button" disabled={!report?.checkpoints.count} onClick={() => void clearCheckpoints()}>Delete all checkpoints</button>
      </div>
      <ErrorBox error={error} onDismiss={() => setError(undefined)} />
    </div>
  );
}
