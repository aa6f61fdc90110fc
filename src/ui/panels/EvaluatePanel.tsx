/**
 * Step 4 — does the adapter help? Captions of the validation split by the frozen model and with the
 * adapter, scored with CIDEr-D, BLEU-4 and ROUGE-L (×100, as papers print them), drawn as bars, and a
 * gallery: image, reference, frozen caption, adapted caption. Runs by itself when a training run ends;
 * any saved adapter of the loaded model can be evaluated here too.
 */
import { memo, useState } from 'react';
import type { EvaluationResult } from '../../shared/engineApi.ts';
import type { Studio } from '../studio.ts';
import { BeforeAfterBars } from '../components/charts.tsx';
import { ErrorBox, ProgressBar, Thumb } from '../components/common.tsx';
import { useTask } from '../components/useTask.ts';
import type { TrainingRun } from './useTrainingRun.ts';

const METRICS = ['CIDEr-D', 'BLEU-4', 'ROUGE-L'] as const;
/** The adapter choice that routes each validation example through its task's newest adapter. */
const BY_TASK = '\u0000by task';

export function EvaluatePanel({ studio, run }: { studio: Studio; run: TrainingRun }) {
  const { evaluation, model, dataset, adapters } = studio;
  const usable = adapters.filter((a) => a.modelId === model?.id);
  const [chosen, setChosen] = useState<string>('');
  const task = useTask();
  const { busy } = task;
  // A dataset with tasks can be scored with each example through its own task's adapter.
  const canRoute = (dataset?.tasks.length ?? 0) > 0 && usable.length > 0;
  const byTask = canRoute && chosen === BY_TASK;
  const adapterId = byTask ? undefined : usable.find((a) => a.id === chosen)?.id ?? usable[0]?.id;

  const evaluate = async () => {
    if (!adapterId && !byTask) return;
    await task.run(async (onProgress) => {
      studio.setEvaluation(await studio.bridge.evaluate(byTask ? { byTask, split: studio.split } : { adapterId, split: studio.split }, onProgress));
      await studio.refreshAdapters();
    });
  };

  return (
    <section>
      <h2>Evaluate on the validation split</h2>
      <div className="card row wrap">
        <label htmlFor="eval-adapter">Adapter</label>
        <select id="eval-adapter" value={adapterId ?? ''} onChange={(e) => setChosen(e.target.value)} disabled={usable.length === 0}>
          {usable.length === 0 && <option value="">no adapter for this model yet</option>}
          {canRoute && <option value={BY_TASK}>each example through its task&apos;s adapter</option>}
          {usable.map((a) => <option key={a.id} value={a.id}>{a.task} — {a.name}</option>)}
        </select>
        <button type="button" className="primary" disabled={!(adapterId || byTask) || !dataset || busy || run.busy} onClick={() => void evaluate()}>Evaluate</button>
        {!dataset && <span className="muted">Open a dataset (step 2) to evaluate on its validation split.</span>}
        {run.view.status === 'evaluating' && <span className="muted">Evaluating the run that just finished…</span>}
      </div>
      <ProgressBar progress={task.progress ?? (run.view.status === 'evaluating' ? run.view.progress : undefined)} />
      <ErrorBox error={task.error} onDismiss={task.dismissError} />
      {!evaluation && !busy && run.view.status !== 'evaluating' && <p className="muted">Train an adapter (step 3): it is evaluated here when the run ends.</p>}
      {evaluation && <EvaluationView evaluation={evaluation} />}
    </section>
  );
}

/**
 * The scores, the bars and the gallery of one evaluation: memoised, so that a training run's updates
 * (which re-render the panel's controls) do not re-render the gallery.
 */
const EvaluationView = memo(function EvaluationView({ evaluation }: { evaluation: EvaluationResult }) {
  const rows = METRICS.map((name) => ({ name, before: 100 * (evaluation.before[name] ?? 0), after: 100 * (evaluation.after[name] ?? 0) }));
  return (
    <>
      <div className="grid-2">
        <div className="card">
          <h3>{evaluation.adapterName} · {evaluation.images} validation images</h3>
          <table className="metrics" data-testid="metrics-table">
            <thead><tr><th>Metric (×100)</th><th>Frozen model</th><th>With adapter</th><th>Change</th></tr></thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.name}>
                  <td>{r.name}</td><td>{r.before.toFixed(1)}</td><td>{r.after.toFixed(1)}</td>
                  <td className={r.after >= r.before ? 'up' : 'down'}>{r.after >= r.before ? '+' : ''}{(r.after - r.before).toFixed(1)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {evaluation.routes && (
            <ul className="muted" data-testid="task-routes">
              {evaluation.routes.map((r) => (
                <li key={r.task}>task &quot;{r.task}&quot;: {r.items} captions through {r.adapterName ? <b>{r.adapterName}</b> : 'the frozen model (no adapter for this task)'}</li>
              ))}
            </ul>
          )}
        </div>
        <div className="card"><BeforeAfterBars metrics={rows} /></div>
      </div>
      <div className="card">
        <h3>Side by side</h3>
        <div className="gallery" data-testid="gallery">
          <div className="gallery-row gallery-head"><span>Image</span><span>Reference</span><span>Frozen model</span><span>With adapter</span></div>
          {evaluation.items.map((item, i) => (
            <div className="gallery-row" key={`${item.path}-${i}`} data-testid="gallery-row" data-path={item.path}>
              <Thumb blob={item.thumbnail} alt={item.path} size={80} />
              <span className="reference">
                {item.task !== undefined && <span className="muted" data-testid="gallery-task">{item.task}</span>}
                {item.references.map((r, j) => <span key={j} className="caption">{r}</span>)}
              </span>
              <span className="frozen" data-testid="frozen-caption">{item.frozen || <i>(empty)</i>}</span>
              <span className="adapted" data-testid="adapted-caption">{item.adapted || <i>(empty)</i>}</span>
            </div>
          ))}
        </div>
      </div>
    </>
  );
});
