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
import { memo, startTransition, useCallback, useEffect, useRef, useState } from 'react';
import type { Modality, TrainConfig } from '../../engine/config.ts';
import type { AdapterSummary, CheckpointSummary, Progress, RunDetails, RunEvent, StepReport, StudioRunOptions } from '../../shared/engineApi.ts';
import { isDeviceLost } from '../../shared/errors.ts';
import { DEFAULT_SETTINGS, HELP, stepsOf, type StudioSettings } from '../../shared/settings.ts';
import type { Studio } from '../App.tsx';
import { LossChart, LossTable, type LossSeries } from '../components/charts.tsx';
import { downloadBytes, ErrorBox, Field, formatBytes, formatDuration, ProgressBar } from '../components/common.tsx';
import { requestPersistentStorage } from '../components/StorageCard.tsx';

type Status = 'idle' | 'preparing' | 'training' | 'pausing' | 'paused' | 'stopping' | 'saving' | 'evaluating' | 'recovering' | 'done' | 'failed';

export interface RunView extends LossSeries {
  status: Status;
  totalSteps: number;
  progress?: Progress;
  gpuBytes?: number;
  stepsPerSecond?: number;
  error?: unknown;
  saved?: AdapterSummary;
  /** The run's last checkpoint in the browser. */
  checkpoint?: { step: number; savedAt: number };
  /** Why the last checkpoint could not be written (the run goes on; the one before is kept). */
  checkpointError?: unknown;
  /** What happened to the run that the person should know: a lost GPU, a resume. */
  notice?: string;
}

const EMPTY: RunView = { status: 'idle', steps: [], train: [], validation: [], totalSteps: 0 };

export interface TrainingRun {
  view: RunView;
  /** Training or on its way: other steps should not change the data under it. */
  busy: boolean;
  adapterName: string;
  setAdapterName(name: string): void;
  task: string;
  setTask(task: string): void;
  start(): void;
  pause(): void;
  resume(): void;
  stop(): void;
  /** The newest checkpoint of a run this page is not running: one a reload, a crash or a closed tab interrupted. */
  interrupted?: CheckpointSummary;
  /** Why resuming it failed (e.g. its dataset is not open). */
  interruptedError?: unknown;
  resumeInterrupted(): void;
  discardInterrupted(): void;
  /** Looks for interrupted runs again (their checkpoints may have been cleared elsewhere). */
  refreshInterrupted(): void;
}

/** The run's view is redrawn at most this often while it trains. */
const FLUSH_MS = 250;
/** Lost GPUs in one run after which the studio stops starting its engine again. */
const MAX_RECOVERIES = 3;

type RunUpdate = RunEvent | { type: 'step'; report: StepReport };
interface Pending { events: RunUpdate[] }
const emptyPending = (): Pending => ({ events: [] });

/** How a run starts: from scratch, from this page's pause, or from a checkpoint (a reload's offer, or a lost GPU). */
type RunStart =
  | { from: 'scratch'; notice?: string }
  | { from: 'pause' }
  | { from: 'checkpoint'; checkpoint: CheckpointSummary; offered: boolean; notice?: string };

/** The view after the worker's updates since the last flush, in the order they came: one new state, arrays copied once. */
function applyEvents(v: RunView, { events }: Pending, stepsPerSecond: number | undefined): RunView {
  const next: RunView = { ...v, steps: [...v.steps], train: [...v.train], validation: [...v.validation] };
  let stepped = false;
  for (const e of events) {
    if (e.type === 'step') {
      next.steps.push(e.report.step + 1);
      next.train.push(e.report.loss);
      next.progress = { phase: 'training', done: e.report.step + 1, total: next.totalSteps };
      stepped = true;
    } else if (e.type === 'progress') {
      next.progress = e.progress;
      next.status = e.progress.phase === 'caching image features' ? 'preparing' : next.status === 'preparing' ? 'training' : next.status;
    } else if (e.type === 'validation') {
      next.validation.push({ step: e.step, loss: e.loss });
    } else if (e.type === 'memory') {
      next.gpuBytes = e.gpuBytes;
    } else if (e.type === 'checkpoint') {
      next.checkpoint = { step: e.step, savedAt: e.savedAt };
      next.checkpointError = undefined;
    } else {
      next.checkpointError = e.error;
    }
  }
  if (stepped) next.stepsPerSecond = stepsPerSecond;
  return next;
}

/** The view of a run as its checkpoint left it: its losses so far, about to continue. */
function viewOfCheckpoint(c: CheckpointSummary, notice?: string): RunView {
  return {
    ...EMPTY, status: 'preparing', totalSteps: c.totalSteps, steps: c.losses.map((_, i) => i + 1), train: [...c.losses],
    validation: [...c.validation], checkpoint: { step: c.step, savedAt: c.savedAt }, notice,
  };
}

/** Resolves once the browser has drawn the current state, or after 100 ms in a hidden tab (which draws no frames). */
function afterNextPaint(): Promise<void> {
  return new Promise((resolve) => {
    requestAnimationFrame(() => setTimeout(resolve, 0));
    setTimeout(resolve, 100);
  });
}

export function useTrainingRun(studio: Studio): TrainingRun {
  const [view, setView] = useState<RunView>(EMPTY);
  const [adapterName, setAdapterName] = useState('');
  const [task, setTask] = useState('caption');
  const [interrupted, setInterrupted] = useState<CheckpointSummary>();
  const [interruptedError, setInterruptedError] = useState<unknown>();
  const controller = useRef<AbortController | undefined>(undefined);
  const stopRequested = useRef(false);
  const pending = useRef<Pending>(emptyPending());
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const lastFlush = useRef(0);
  const times = useRef<number[]>([]);
  /** The run of this page: its id (from its first checkpoint), what it was set up with, its last step, its lost GPUs. */
  const runId = useRef<string | undefined>(undefined);
  const runDetails = useRef<RunDetails | undefined>(undefined);
  const lastStep = useRef(0);
  const recoveries = useRef(0);
  /** A run is being driven (set up, trained, saved): Start does nothing meanwhile. */
  const driving = useRef(false);
  /** The engine (bridge.restarts) the run last trained in: after a restart, its state there is gone. */
  const runEngine = useRef(0);
  const latest = useRef(studio);
  latest.current = studio;
  const { bridge } = studio;

  // What the worker reports while it trains (every step, its loss, GPU memory, phase progress) is gathered
  // here and drawn at most every FLUSH_MS: the page renders a few times a second however fast the GPU is.
  const flush = useCallback(() => {
    clearTimeout(timer.current);
    timer.current = undefined;
    lastFlush.current = performance.now();
    const batch = pending.current;
    if (batch.events.length === 0) return;
    pending.current = emptyPending();
    const recent = times.current.slice(-20);
    const rate = recent.length > 1 ? (recent.length - 1) / ((recent.at(-1)! - recent[0]) / 1000) : undefined;
    // A transition: React renders it in slices of a few milliseconds between other tasks, so redrawing the
    // curves and tables never holds the page's thread for long while the engine trains.
    startTransition(() => setView((v) => applyEvents(v, batch, rate)));
  }, []);

  const schedule = useCallback(() => {
    if (timer.current !== undefined) return;
    timer.current = setTimeout(flush, Math.max(0, lastFlush.current + FLUSH_MS - performance.now()));
  }, [flush]);

  const onStep = useCallback((r: StepReport) => {
    pending.current.events.push({ type: 'step', report: r });
    lastStep.current = r.step + 1;
    times.current.push(performance.now());
    if (times.current.length > 40) times.current = times.current.slice(-20);
    schedule();
  }, [schedule]);

  const onEvent = useCallback((e: RunEvent) => {
    if (e.type === 'checkpoint') runId.current = e.runId;
    pending.current.events.push(e);
    schedule();
  }, [schedule]);

  const refreshInterrupted = useCallback(async () => {
    const checkpoints = await bridge.listCheckpoints();
    setInterrupted(checkpoints.find((c) => c.runId !== runId.current));
  }, [bridge]);

  useEffect(() => {
    void refreshInterrupted().catch(() => undefined);
  }, [refreshInterrupted]);

  const finish = async () => {
    const s = latest.current;
    const details = runDetails.current;
    setView((v) => ({ ...v, status: 'saving', progress: undefined }));
    const saved = await s.bridge.saveRun({
      name: details?.adapterName.trim() || `${s.dataset?.label ?? 'dataset'} adapter`, task: details?.task.trim() || 'caption',
    });
    setView((v) => ({ ...v, saved, error: undefined }));
    await s.refreshAdapters();
    if (s.model?.canGenerate) {
      setView((v) => ({ ...v, status: 'evaluating' }));
      try {
        const result = await s.bridge.evaluate({ adapterId: saved.id, split: latest.current.split }, { onProgress: (progress) => setView((v) => ({ ...v, progress })) });
        s.setEvaluation(result);
        await s.refreshAdapters();
      } catch (e) {
        setView((v) => ({ ...v, error: e }));
      }
    }
    setView((v) => ({ ...v, status: 'done', progress: undefined }));
  };

  /** The model and dataset a checkpoint's run needs, loaded again by the studio where they came from a URL. */
  const loadWhatTheRunNeeds = async (c: CheckpointSummary) => {
    const s = latest.current;
    if (s.model?.id !== c.model.id && c.model.url) {
      setView((v) => ({ ...v, notice: `Loading the run's model again from ${c.model.url}…` }));
      await s.loadModel(c.model.url, (progress) => setView((v) => ({ ...v, progress })));
    }
    if (c.dataset.url && !(s.datasetInput && 'url' in s.datasetInput && s.datasetInput.url === c.dataset.url)) {
      setView((v) => ({ ...v, notice: `Opening the run's dataset again from ${c.dataset.url}…` }));
      await s.openDataset({ url: c.dataset.url, label: c.dataset.label }, (progress) => setView((v) => ({ ...v, progress })));
    }
    s.setSplit(c.split);
    s.setSettings(c.details.settings);
    setAdapterName(c.details.adapterName);
    setTask(c.details.task);
  };

  const drive = async (start: RunStart): Promise<void> => {
    driving.current = true;
    try {
      await driveRun(start);
    } finally {
      driving.current = false;
    }
  };

  const driveRun = async (start: RunStart): Promise<void> => {
    const s = latest.current;
    controller.current = new AbortController();
    stopRequested.current = false;
    // The run's first view is drawn as a transition too: the Start click's own task stays short.
    if (start.from === 'pause') {
      startTransition(() => setView((v) => ({ ...v, status: 'training', error: undefined })));
    } else {
      times.current = [];
      pending.current = emptyPending();
      if (start.from === 'scratch') {
        runId.current = undefined;
        startTransition(() => setView({ ...EMPTY, status: 'preparing', notice: start.notice }));
        // What the studio stores from here on is worth keeping: ask the browser not to evict it.
        void requestPersistentStorage();
      } else {
        runId.current = start.checkpoint.runId;
        const view = viewOfCheckpoint(start.checkpoint, start.notice);
        startTransition(() => setView(view));
      }
    }
    try {
      // The new state is drawn before the worker starts: its first seconds (compiling ONNX Runtime's code
      // and the GPU's shaders) take most of the CPU, and the page's one big redraw should not wait behind them.
      await afterNextPaint();
      let config: Partial<TrainConfig>;
      let options: StudioRunOptions;
      if (start.from === 'checkpoint') {
        const c = start.checkpoint;
        await loadWhatTheRunNeeds(c);
        setView((v) => ({ ...v, notice: start.notice }));
        runDetails.current = c.details;
        config = {};
        options = { split: c.split, validateEvery: c.validateEvery, checkpointEvery: c.checkpointEvery, details: c.details, fromCheckpoint: c.runId };
      } else {
        const settings = s.settings;
        const split = await s.bridge.describeSplit(s.split);
        config = { ...settings.config, steps: stepsOf(settings, split.train.examples) };
        if (start.from === 'scratch') {
          setView((v) => ({ ...v, totalSteps: config.steps! }));
          runDetails.current = { settings, adapterName, task };
        }
        options = {
          split: s.split, validateEvery: settings.validateEvery, checkpointEvery: settings.checkpointEvery,
          details: runDetails.current ?? { settings, adapterName, task }, resume: start.from === 'pause',
        };
      }
      runEngine.current = s.bridge.restarts;
      const outcome = await s.bridge.trainStudio(config, options, { signal: controller.current.signal, onStep, onEvent });
      flush();
      setView((v) => ({ ...v, totalSteps: outcome.totalSteps ?? v.totalSteps }));
      if (outcome.error) {
        setView((v) => ({ ...v, status: 'failed', error: outcome.error, progress: undefined }));
      } else if (stopRequested.current || outcome.step >= (outcome.totalSteps ?? Infinity)) {
        await finish();
      } else {
        setView((v) => ({ ...v, status: 'paused', progress: undefined }));
      }
    } catch (e) {
      flush();
      if (isDeviceLost(e)) return recover();
      if (start.from === 'checkpoint' && start.offered && runId.current === start.checkpoint.runId && lastStep.current <= start.checkpoint.step) {
        // The offered run did not start (its model or dataset is not there): the offer stays, with the reason.
        setInterrupted(start.checkpoint);
        setInterruptedError(e);
        setView(EMPTY);
        return;
      }
      setView((v) => ({ ...v, status: v.steps.length > 0 ? 'failed' : 'idle', error: e, progress: undefined }));
    }
  };

  /** After a lost GPU: the engine starts again (App loads the model and dataset into it), then the run resumes from its last checkpoint. */
  const recover = async (): Promise<void> => {
    const lostAt = lastStep.current;
    recoveries.current += 1;
    if (recoveries.current > MAX_RECOVERIES) {
      setView((v) => ({
        ...v, status: 'failed', progress: undefined,
        error: { message: `the GPU device was lost ${MAX_RECOVERIES} times in this run`, problem: `the GPU device was lost ${MAX_RECOVERIES} times in this run`,
          where: 'WebGPU device', fix: 'Close other tabs and apps that use the GPU, update its driver, then press "Resume" on the interrupted run after a reload.' },
      }));
      return;
    }
    setView((v) => ({ ...v, status: 'recovering', progress: undefined, notice: `The GPU device was lost at step ${lostAt}: starting the engine again on a new device…` }));
    await resumeOwnRun((step) => step === undefined
      ? `The GPU device was lost at step ${lostAt}, before the run's first checkpoint. The studio started its engine again on a new device and the run again from its start.`
      : `The GPU device was lost at step ${lostAt}. The studio started its engine again on a new device and resumed from the checkpoint of step ${step}.`);
  };

  /** This page's run, continued in a new engine (the model and dataset loaded into it again) from its last checkpoint. */
  const resumeOwnRun = async (notice: (checkpointStep: number | undefined) => string | undefined): Promise<void> => {
    try {
      await latest.current.restoreEngine();
      const checkpoint = runId.current ? (await latest.current.bridge.listCheckpoints()).find((c) => c.runId === runId.current) : undefined;
      if (!checkpoint) return await drive({ from: 'scratch', notice: notice(undefined) });
      lastStep.current = checkpoint.step;
      await drive({ from: 'checkpoint', checkpoint, offered: false, notice: notice(checkpoint.step) });
    } catch (e) {
      setView((v) => ({ ...v, status: 'failed', error: e, progress: undefined }));
    }
  };

  useEffect(() => () => clearTimeout(timer.current), []);

  return {
    view, adapterName, setAdapterName, task, setTask, interrupted, interruptedError,
    refreshInterrupted: () => void refreshInterrupted().catch(() => undefined),
    busy: ['preparing', 'training', 'pausing', 'stopping', 'saving', 'evaluating', 'recovering'].includes(view.status),
    start: () => {
      // The button turns busy when the transition above is drawn: a second click before that starts nothing.
      if (driving.current) return;
      recoveries.current = 0;
      void drive({ from: 'scratch' });
    },
    // A paused run whose engine was replaced since (a lost GPU) continues from its checkpoint.
    resume: () => void (runEngine.current === bridge.restarts ? drive({ from: 'pause' }) : resumeOwnRun(() => undefined)),
    pause: () => {
      setView((v) => ({ ...v, status: 'pausing' }));
      controller.current?.abort();
    },
    stop: () => {
      stopRequested.current = true;
      if (view.status === 'paused' || view.status === 'failed') {
        void finish().catch((e) => setView((v) => ({ ...v, status: 'failed', error: e })));
      } else {
        setView((v) => ({ ...v, status: 'stopping' }));
        controller.current?.abort();
      }
    },
    resumeInterrupted: () => {
      if (!interrupted) return;
      setInterrupted(undefined);
      setInterruptedError(undefined);
      recoveries.current = 0;
      lastStep.current = interrupted.step;
      void drive({ from: 'checkpoint', checkpoint: interrupted, offered: true });
    },
    discardInterrupted: () => {
      if (!interrupted) return;
      if (!confirm(`Discard the run interrupted at step ${interrupted.step} of ${interrupted.totalSteps}? Its training is lost.`)) return;
      setInterruptedError(undefined);
      void bridge.deleteCheckpoint(interrupted.runId).then(refreshInterrupted).catch(setInterruptedError);
    },
  };
}

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

/** The settings: memoised, so that the run's many updates do not re-render the form. */
const SettingsForm = memo(function SettingsForm({ settings, setSettings, editable, dModel, datasetLabel, adapterName, setAdapterName, task, setTask }: {
  settings: StudioSettings; setSettings(s: StudioSettings): void; editable: boolean; dModel?: number; datasetLabel?: string;
  adapterName: string; setAdapterName(name: string): void; task: string; setTask(task: string): void;
}) {
  const config = settings.config;
  const set = (patch: Partial<StudioSettings>) => setSettings({ ...settings, ...patch });
  const setConfig = (patch: Partial<TrainConfig>) => set({ config: { ...config, ...patch } });
  const num = (value: string) => Number(value);
  const toggleModality = (m: Modality, on: boolean) =>
    setConfig({ modalities: on ? [...new Set([...config.modalities, m])].sort() as Modality[] : config.modalities.filter((x) => x !== m) });
  return (
    <fieldset className="card settings" disabled={!editable} data-testid="train-settings">
      <legend>Settings <span className="muted">(the paper&apos;s defaults)</span></legend>
      <Field label="Modalities" help={HELP.modalities}>
        <div className="row">
          {(['image', 'text'] as const).map((m) => (
            <label key={m}><input type="checkbox" checked={config.modalities.includes(m)} onChange={(e) => toggleModality(m, e.target.checked)} /> {m}</label>
          ))}
        </div>
      </Field>
      <div className="row wrap">
        {(['image', 'text'] as const).map((m) => (
          <Field key={m} label={`Rank (${m})`} htmlFor={`rank-${m}`}>
            <input id={`rank-${m}`} type="number" min={1} max={dModel} value={config.rank[m]} disabled={!config.modalities.includes(m)}
              onChange={(e) => setConfig({ rank: { ...config.rank, [m]: num(e.target.value) } })} />
          </Field>
        ))}
      </div>
      <small className="help">{HELP.rank}</small>
      <div className="row wrap">
        <Field label="Optimizer" htmlFor="optimizer" help={HELP.optimizer}>
          <select id="optimizer" value={config.optimizer} onChange={(e) => setConfig({ optimizer: e.target.value as TrainConfig['optimizer'] })}>
            <option value="adafactor">Adafactor</option>
            <option value="adamw">AdamW</option>
          </select>
        </Field>
        <Field label="Learning rate" htmlFor="lr" help={HELP.learningRate}>
          <input id="lr" type="number" step="any" min={0} value={config.learningRate} onChange={(e) => setConfig({ learningRate: num(e.target.value) })} />
        </Field>
      </div>
      <div className="row wrap">
        <Field label="Warm-up steps" htmlFor="warmup" help={HELP.warmupSteps}>
          <input id="warmup" type="number" min={0} value={config.warmupSteps} onChange={(e) => setConfig({ warmupSteps: num(e.target.value) })} />
        </Field>
        <Field label="Schedule" htmlFor="schedule" help={HELP.schedule}>
          <select id="schedule" value={config.schedule} onChange={(e) => setConfig({ schedule: e.target.value as TrainConfig['schedule'] })}>
            <option value="inverse_sqrt">inverse square root</option>
            <option value="constant">constant</option>
          </select>
        </Field>
      </div>
      <div className="row wrap">
        <Field label="Batch size" htmlFor="batch" help={HELP.batchSize}>
          <input id="batch" type="number" min={1} value={config.batchSize} onChange={(e) => setConfig({ batchSize: num(e.target.value) })} />
        </Field>
        <Field label="Length" htmlFor="length" help={HELP.length}>
          <div className="row">
            <input id="length" type="number" min={1} value={settings.length.value} onChange={(e) => set({ length: { ...settings.length, value: num(e.target.value) } })} />
            <select aria-label="Length unit" value={settings.length.unit} onChange={(e) => set({ length: { ...settings.length, unit: e.target.value as 'steps' | 'epochs' } })}>
              <option value="steps">steps</option>
              <option value="epochs">epochs</option>
            </select>
          </div>
        </Field>
      </div>
      <div className="row wrap">
        <Field label="Dropout" htmlFor="dropout" help={HELP.dropout}>
          <input id="dropout" type="number" step="any" min={0} max={0.9} value={config.dropout} onChange={(e) => setConfig({ dropout: num(e.target.value) })} />
        </Field>
        <Field label="Seed" htmlFor="seed" help={HELP.seed}>
          <input id="seed" type="number" min={0} value={config.seed} onChange={(e) => setConfig({ seed: num(e.target.value) })} />
        </Field>
      </div>
      <details>
        <summary>More settings</summary>
        <div className="row wrap">
          <Field label="Gradient clipping" htmlFor="clip" help={HELP.clipNorm}>
            <input id="clip" type="number" step="any" min={0} value={config.clipNorm} onChange={(e) => setConfig({ clipNorm: num(e.target.value) })} />
          </Field>
          <Field label="Validate every (steps)" htmlFor="validate-every" help={HELP.validateEvery}>
            <input id="validate-every" type="number" min={0} value={settings.validateEvery} onChange={(e) => set({ validateEvery: num(e.target.value) })} />
          </Field>
          <Field label="Checkpoint every (steps)" htmlFor="checkpoint-every" help={HELP.checkpointEvery}>
            <input id="checkpoint-every" type="number" min={0} value={settings.checkpointEvery} onChange={(e) => set({ checkpointEvery: num(e.target.value) })} />
          </Field>
        </div>
        <button type="button" className="link" onClick={() => setSettings(structuredClone(DEFAULT_SETTINGS))}>Back to the paper&apos;s defaults</button>
      </details>
      <div className="row wrap">
        <Field label="Adapter name" htmlFor="adapter-name">
          <input id="adapter-name" value={adapterName} placeholder={`${datasetLabel ?? 'dataset'} adapter`} onChange={(e) => setAdapterName(e.target.value)} />
        </Field>
        <Field label="Task" htmlFor="task" help="Adapters are kept per task: train another for a second task.">
          <input id="task" value={task} onChange={(e) => setTask(e.target.value)} />
        </Field>
      </div>
    </fieldset>
  );
});

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
