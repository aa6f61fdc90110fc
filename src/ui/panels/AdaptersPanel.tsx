/**
 * Step 5 — the adapters kept in this browser (IndexedDB): list with config and metrics, rename, set the
 * task, delete, download as .safetensors or folded into the loaded model ("Download merged": a model package
 * that needs no adapter, src/worker/mergedDownload.ts), and import one back (checked against the loaded model); and
 * what the studio stores in this browser, with how much (StorageCard).
 */
import { useState } from 'react';
import type { AdapterSummary } from '../../shared/engineApi.ts';
import type { Studio } from '../studio.ts';
import { DropZone } from '../components/DropZone.tsx';
import { downloadBytes, ErrorBox, formatBytes } from '../components/common.tsx';
import { StorageCard } from '../components/StorageCard.tsx';

export function AdaptersPanel({ studio, onCheckpointsCleared }: { studio: Studio; onCheckpointsCleared(): void }) {
  const { adapters, model, bridge } = studio;
  const [error, setError] = useState<unknown>();
  const [message, setMessage] = useState<string>();
  const [editing, setEditing] = useState<{ id: string; name: string; task: string }>();
  const act = async (action: () => Promise<void>) => {
    setError(undefined);
    setMessage(undefined);
    try {
      await action();
    } catch (e) {
      setError(e);
    }
  };
  const tasks = [...new Set(adapters.map((a) => a.task))].sort();

  const importFile = (file: Blob, name: string) => act(async () => {
    if (!model) throw Object.assign(new Error('no model is loaded'), { problem: 'no model is loaded', where: 'adapter import', fix: 'Load the model the adapter was trained for (step 1), then import it.' });
    const imported = await bridge.importAdapter(file, name);
    await studio.refreshAdapters();
    setMessage(`Imported "${imported.name}" (task ${imported.task}).`);
  });

  return (
    <section>
      <h2>Your adapters</h2>
      <p className="muted">Kept in this browser only. Download one to keep it, share it, or use it from Python.</p>
      <DropZone testId="adapter-drop" title="Import an adapter" hint="A .safetensors adapter saved by the studio, for the loaded model." accept=".safetensors"
        multiple={false} onFiles={(files) => void importFile(files[0].file, files[0].path.split('/').pop()!)} />
      <ErrorBox error={error} onDismiss={() => setError(undefined)} />
      {message && <p className="ok" role="status" style={{ whiteSpace: 'pre-line' }}>{message}</p>}
      {adapters.length === 0 && <p className="muted">No adapters yet: train one in step 3.</p>}
      {tasks.map((task) => (
        <div key={task} className="card">
          <h3>Task: {task}</h3>
          <div className="table-scroll">
            <table className="adapters" data-testid="adapters-table">
              <thead><tr><th>Name</th><th>Model</th><th>Settings</th><th>Metrics</th><th>Size</th><th /></tr></thead>
              <tbody>
                {adapters.filter((a) => a.task === task).map((a) => (
                  <AdapterRow key={a.id} adapter={a} matches={a.modelId === model?.id} editing={editing?.id === a.id ? editing : undefined}
                    onEdit={setEditing}
                    onSave={(changes) => act(async () => { await bridge.renameAdapter(a.id, changes); setEditing(undefined); await studio.refreshAdapters(); })}
                    onDelete={() => act(async () => {
                      if (!confirm(`Delete the adapter "${a.name}" from this browser? Download it first to keep a copy.`)) return;
                      await bridge.deleteAdapter(a.id);
                      await studio.refreshAdapters();
                    })}
                    onDownload={() => act(async () => { const f = await bridge.adapterFile(a.id); downloadBytes(f.bytes, f.fileName); })}
                    onDownloadMerged={() => act(async () => {
                      setMessage(`Merging "${a.name}" into the model…`);
                      const f = await bridge.mergedModelFile(a.id);
                      downloadBytes(f.bytes, f.fileName);
                      setMessage(`${f.fileName} (${formatBytes(f.bytes.byteLength)}):\n${f.note}`);
                    })} />
                ))}
              </tbody>
            </table>
          </div>
        </div>
      ))}
      <StorageCard bridge={bridge} changed={adapters} onCheckpointsCleared={onCheckpointsCleared} />
    </section>
  );
}

function AdapterRow({ adapter: a, matches, editing, onEdit, onSave, onDelete, onDownload, onDownloadMerged }: {
  adapter: AdapterSummary; matches: boolean; editing?: { id: string; name: string; task: string };
  onEdit(e: { id: string; name: string; task: string } | undefined): void; onSave(changes: { name: string; task: string }): void;
  onDelete(): void; onDownload(): void; onDownloadMerged(): void;
}) {
  const c = a.config;
  const m = a.metrics;
  return (
    <tr data-testid="adapter-row" className={matches ? '' : 'other-model'}>
      <td>
        {editing ? (
          <form className="row wrap" onSubmit={(e) => { e.preventDefault(); onSave({ name: editing.name, task: editing.task }); }}>
            <input aria-label="Adapter name" value={editing.name} onChange={(e) => onEdit({ ...editing, name: e.target.value })} />
            <input aria-label="Task" value={editing.task} onChange={(e) => onEdit({ ...editing, task: e.target.value })} />
            <button type="submit">Save</button>
            <button type="button" onClick={() => onEdit(undefined)}>Cancel</button>
          </form>
        ) : (
          <>
            <b data-testid="adapter-name">{a.name}</b>
            <div className="muted">{a.origin === 'imported' ? 'imported' : 'trained'} {new Date(a.createdAt).toLocaleString()}</div>
          </>
        )}
      </td>
      <td>{a.modelId}{matches ? '' : <div className="muted">not the loaded model</div>}</td>
      <td className="muted">
        {c.modalities.map((x) => `${x} r${c.rank[x]}`).join(', ')} · {c.optimizer} lr {c.learningRate} · {a.steps} steps, batch {c.batchSize}
      </td>
      <td>
        {m.after ? `CIDEr-D ${(100 * m.before!['CIDEr-D']).toFixed(1)} → ${(100 * m.after['CIDEr-D']).toFixed(1)}` : ''}
        {m.finalLoss !== undefined ? <div className="muted">train loss {m.finalLoss.toFixed(3)}</div> : null}
        {m.validationLoss !== undefined ? <div className="muted">validation loss {m.validationLoss.toFixed(3)}</div> : null}
      </td>
      <td>{formatBytes(a.bytes)}</td>
      <td className="actions">
        <button type="button" onClick={onDownload}>Download</button>
        <button type="button" onClick={onDownloadMerged} disabled={!matches} data-testid="download-merged"
          title={matches ? 'The loaded model with this adapter folded in: a model package (.zip) that needs no adapter'
            : 'Load the model this adapter was trained for first'}>Download merged</button>
        <button type="button" onClick={() => onEdit({ id: a.id, name: a.name, task: a.task })}>Rename</button>
        <button type="button" className="danger" onClick={onDelete}>Delete</button>
      </td>
    </tr>
  );
}
