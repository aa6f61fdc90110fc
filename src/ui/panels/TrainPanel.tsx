/**
 * Step 3 — training. The settings (the paper's defaults, a line of help each), Start / Pause / Resume /
 * Stop, and the run as it goes: loss curve (train and validation), steps per second, ETA, GPU memory,
 * the last checkpoint, and a progress bar for every long phase (feature caching, training, validation,
 * evaluation). `useTrainingRun` holds the run in App, so it carries on while the person looks at other
 * steps. When the run ends, its adapter is saved in the browser and evaluated on the validation split.
 *
 * Nothing lost: the worker writes checkpoints as the run goes (every "Checkpoint every" steps, and on
 * pause); after a reload the panel offers to resume the newest unfinished run, and after a lost GPU it
 * waits for the engine to start again (App.restoreEngine) and resumes from the last checkpoint by itself.
 */
import type { CheckpointSummary } from '../../shared/engineApi.ts';
import type { Studio } from '../studio.ts';
import { LossChart, LossTable } from '../components/charts.tsx';
import { downloadBytes, ErrorBox, formatBytes, formatDuration, ProgressBar } from '../components/common.tsx';
import { SettingsForm } from './SettingsForm.tsx';
import { EACH_TASK, type RunView, type Status, type TrainingRun } from './useTrainingRun.ts';

const STATUS_TEXT: Record<Status, string> = {
  idle: 'Not started', preparing: 'Preparing', training: 'Training', pausing: 'Pausing after the steps in flight…', paused: 'Paused',
  stopping: 'Stopping after the steps in flight…', saving: 'Saving the adapter', evaluating: 'Evaluating on the validation split',
  recovering: 'Starting the engine again after a lost GPU…', done: 'Done', failed: 'Stopped',
};

export function TrainPanel({ studio, run }: { studio: Studio; run: TrainingRun }) {
  const { settings, model, dataset } = studio;
  const { view } = run;
  const editable = !run.busy && view.status !== 'paused';
  const ready = Boolean(model && dataset);
  const lastTrain = view.train.at(-1);
  const firstValidation = view.validation[0]?.loss;
  const lastValidation = view.validation.at(-1)?.loss;
  const done = view.steps.at(-1) ?? 0;
  const eta = view.stepsPerSecond ? (view.totalSteps - done) / view.stepsPerSecond : NaN;

  const download = async () => {
    if (!view.saved) return;
    const { fileName, bytes } = await studio.bridge.adapterFile(view.saved.id);
    downloadBytes(bytes, fileName);
  };

  return (
    <section>
      <h2>Train an AdaLink adapter</h2>
      {run.interrupted && !run.busy && view.status !== 'paused' && <InterruptedRun studio={studio} run={run} checkpoint={run.interrupted} />}
      {!ready && <p className="notice">{!model ? 'Load a model in step 1' : 'Open a dataset in step 2'} first.</p>}
      {dataset && dataset.tasks.length > 0 && <TaskPlan run={run} tasks={dataset.tasks} editable={editable} />}
      <div className="grid-2">
        <SettingsForm settings={settings} setSettings={studio.setSettings} editable={editable} dModel={model?.dModel} datasetLabel={dataset?.label}
          adapterName={run.adapterName} setAdapterName={run.setAdapterName} task={run.task} setTask={run.setTask} />

        <div className="card" data-testid="run-card">
          <div className="row wrap controls">
            {(view.status === 'idle' || view.status === 'done' || view.status === 'failed') && (
              <button type="button" className="primary" disabled={!ready} onClick={run.start}>{view.status === 'idle' ? 'Start training' : 'Start a new run'}</button>
            )}
            {(view.status === 'training' || view.status === 'preparing') && <button type="button" onClick={run.pause}>Pause</button>}
            {view.status === 'paused' && <button type="button" className="primary" onClick={run.resume}>Resume</button>}
            {(view.status === 'training' || view.status === 'paused' || (view.status === 'failed' && view.steps.length > 0)) && (
              <button type="button" onClick={run.stop}>Stop and save</button>
            )}
            <span className="status" data-testid="run-status">{STATUS_TEXT[view.status]}</span>
          </div>
          <ProgressBar progress={view.progress} />
          <dl className="facts stats" data-testid="run-stats">
            <dt>Step</dt><dd>{done} of {view.totalSteps || '—'}</dd>
            <dt>Train loss</dt><dd data-testid="train-loss">{lastTrain !== undefined ? `${view.train[0].toFixed(3)} → ${lastTrain.toFixed(3)}` : '—'}</dd>
            <dt>Validation loss</dt><dd data-testid="validation-loss">{lastValidation !== undefined ? `${firstValidation!.toFixed(3)} → ${lastValidation.toFixed(3)}` : '—'}</dd>
            <dt>Speed</dt><dd>{view.stepsPerSecond ? `${view.stepsPerSecond.toFixed(2)} steps/s` : '—'}</dd>
            <dt>Time left</dt><dd>{run.busy && Number.isFinite(eta) ? formatDuration(eta) : '—'}</dd>
            <dt>GPU memory</dt><dd title="GPU buffers held by the studio and ONNX Runtime">{view.gpuBytes ? formatBytes(view.gpuBytes) : '—'}</dd>
            <dt>Checkpoint</dt>
            <dd data-testid="checkpoint-step" title="The run as saved in this browser: a reload or a lost GPU resumes from here">
              {view.checkpoint ? `step ${view.checkpoint.step}, ${new Date(view.checkpoint.savedAt).toLocaleTimeString()}` : '—'}
            </dd>
          </dl>
          {view.notice && <p className="notice" role="status" data-testid="run-notice">{view.notice}</p>}
          <LossChart series={view} />
          <LossTable series={view} />
          {view.checkpointError !== undefined && (
            <div data-testid="checkpoint-error"><ErrorBox error={view.checkpointError} /></div>
          )}
          <ErrorBox error={view.error} />
          {view.saved && (
            <div className="saved" data-testid="saved-adapter">
              <p>Saved in this browser as <b>{view.saved.name}</b> (task {view.saved.task}, {view.saved.steps} steps).</p>
              <div className="row wrap">
                <button type="button" className="primary" onClick={() => void download()}>Download adapter (.safetensors)</button>
                <button type="button" onClick={() => studio.go('evaluate')}>See the evaluation →</button>
              </div>
            </div>
          )}
        </div>
      </div>
    </section>
  );
}

/**
 * A dataset with a task column: one adapter shared by all tasks, one adapter per task (a run each, one after
 * another, each adapter named after and kept under its task), or one task only. The paper's multi-task setting
 * is one adapter per task on one frozen model.
 */
function TaskPlan({ run, tasks, editable }: { run: TrainingRun; tasks: Array<{ task: string; examples: number }>; editable: boolean }) {
  const plan = run.taskPlan === EACH_TASK || tasks.some((t) => t.task === run.taskPlan) ? run.taskPlan : '';
  return (
    <div className="card row wrap" data-testid="task-plan">
      <label htmlFor="task-plan">Tasks</label>
      <select id="task-plan" value={plan} disabled={!editable} onChange={(e) => run.setTaskPlan(e.target.value)}>
        <option value="">one adapter shared by all {tasks.length} tasks</option>
        <option value={EACH_TASK}>one adapter per task ({tasks.length} runs, one after another)</option>
        {tasks.map((t) => <option key={t.task} value={t.task}>only &quot;{t.task}&quot; ({t.examples} captions)</option>)}
      </select>
      {run.runTask !== undefined && run.busy && (
        <span className="muted" data-testid="run-task">
          Training task &quot;{run.runTask}&quot;{run.queuedTasks.length > 0 ? `; then ${run.queuedTasks.map((t) => `"${t}"`).join(', ')}` : ''}.
        </span>
      )}
    </div>
  );
}

/**
 * The offer to resume a run that a reload, a crash or a closed tab interrupted: where it stopped, what it
 * needs (its model and dataset: loaded again by the studio where they came from a URL, by the person
 * otherwise), Resume and Discard.
 */
function InterruptedRun({ studio, run, checkpoint: c }: { studio: Studio; run: TrainingRun; checkpoint: CheckpointSummary }) {
  const modelNeed = studio.model?.id === c.model.id
    ? `model ${c.model.id} (loaded)`
    : c.model.url ? `model ${c.model.id}, which the studio loads again from ${c.model.url}` : `model ${c.model.id}: load "${c.model.label}" in step 1 first`;
  const datasetNeed = c.dataset.url
    ? `dataset "${c.dataset.label}", which the studio opens again from ${c.dataset.url}`
    : `dataset "${c.dataset.label}": open the same files in step 2 first (the studio checks they are the same)`;
  return (
    <div className="card" role="region" aria-label="Interrupted run" data-testid="interrupted-run">
      <p>
        <b>A run was interrupted at step {c.step} of {c.totalSteps}</b>
        {' '}(adapter &quot;{c.details.adapterName || 'unnamed'}&quot;, saved {new Date(c.savedAt).toLocaleString()}).
        Resume it where it stopped: it continues exactly as if it had not been interrupted.
        {c.details.taskPlan?.queued.length ? ` Then the adapters of tasks ${c.details.taskPlan.queued.map((t) => `"${t}"`).join(', ')} are trained, one after another.` : ''}
      </p>
      <p className="muted">It needs {modelNeed}, and {datasetNeed}.</p>
      <div className="row wrap">
        <button type="button" className="primary" onClick={run.resumeInterrupted}>Resume</button>
        <button type="button" onClick={run.discardInterrupted}>Discard</button>
      </div>
      <ErrorBox error={run.interruptedError} />
    </div>
  );
}
