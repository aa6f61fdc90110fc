/**
 * Step 3 — training. The settings (the paper's defaults, a line of help each), Start / Pause / Resume /
 * Stop, and the run as it goes: loss curve (train and validation), steps per second, ETA, GPU memory,
 * and a progress bar for every long phase (feature caching, training, validation, evaluation).
 * `useTrainingRun` holds the run in App, so it carries on while the person looks at other steps.
 * When the run ends, its adapter is saved in the browser and evaluated on the validation split.
 */
import { memo, useCallback, useEffect, useRef, useState } from 'react';
import type { Modality, TrainConfig } from '../../engine/config.ts';
import type { AdapterSummary, Progress, RunEvent, StepReport } from '../../shared/engineApi.ts';
import { DEFAULT_SETTINGS, HELP, stepsOf, type StudioSettings } from '../../shared/settings.ts';
import type { Studio } from '../App.tsx';
import { LossChart, type LossSeries } from '../components/charts.tsx';
import { downloadBytes, ErrorBox, Field, formatBytes, formatDuration, ProgressBar } from '../components/common.tsx';

type Status = 'idle' | 'preparing' | 'training' | 'pausing' | 'paused' | 'stopping' | 'saving' | 'evaluating' | 'done' | 'failed';

export interface RunView extends LossSeries {
  status: Status;
  totalSteps: number;
  progress?: Progress;
  gpuBytes?: number;
  stepsPerSecond?: number;
  error?: unknown;
  saved?: AdapterSummary;
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
}

/** The run's view is redrawn at most this often while it trains. */
const FLUSH_MS = 250;

type RunUpdate = RunEvent | { type: 'step'; report: StepReport };
interface Pending { events: RunUpdate[] }
const emptyPending = (): Pending => ({ events: [] });

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
    } else {
      next.gpuBytes = e.gpuBytes;
    }
  }
  if (stepped) next.stepsPerSecond = stepsPerSecond;
  return next;
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
  const controller = useRef<AbortController | undefined>(undefined);
  const stopRequested = useRef(false);
  const pending = useRef<Pending>(emptyPending());
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const lastFlush = useRef(0);
  const times = useRef<number[]>([]);
  const latest = useRef(studio);
  latest.current = studio;

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
    setView((v) => applyEvents(v, batch, rate));
  }, []);

  const schedule = useCallback(() => {
    if (timer.current !== undefined) return;
    timer.current = setTimeout(flush, Math.max(0, lastFlush.current + FLUSH_MS - performance.now()));
  }, [flush]);

  const onStep = useCallback((r: StepReport) => {
    pending.current.events.push({ type: 'step', report: r });
    times.current.push(performance.now());
    if (times.current.length > 40) times.current = times.current.slice(-20);
    schedule();
  }, [schedule]);

  const onEvent = useCallback((e: RunEvent) => {
    pending.current.events.push(e);
    schedule();
  }, [schedule]);

  const finish = useCallback(async () => {
    const s = latest.current;
    setView((v) => ({ ...v, status: 'saving', progress: undefined }));
    const saved = await s.bridge.saveRun({ name: adapterName.trim() || `${s.dataset?.label ?? 'dataset'} adapter`, task: task.trim() || 'caption' });
    setView((v) => ({ ...v, saved }));
    await s.refreshAdapters();
    if (s.model?.canGenerate) {
      setView((v) => ({ ...v, status: 'evaluating' }));
      try {
        const result = await s.bridge.evaluate({ adapterId: saved.id, split: s.split }, { onProgress: (progress) => setView((v) => ({ ...v, progress })) });
        s.setEvaluation(result);
        await s.refreshAdapters();
      } catch (e) {
        setView((v) => ({ ...v, error: e }));
      }
    }
    setView((v) => ({ ...v, status: 'done', progress: undefined }));
  }, [adapterName, task]);

  const drive = useCallback(async (resume: boolean) => {
    const s = latest.current;
    const settings = s.settings;
    controller.current = new AbortController();
    stopRequested.current = false;
    if (!resume) {
      times.current = [];
      pending.current = emptyPending();
      setView({ ...EMPTY, status: 'preparing' });
    } else {
      setView((v) => ({ ...v, status: 'training', error: undefined }));
    }
    try {
      // The new state is drawn before the worker starts: its first seconds (compiling ONNX Runtime's code
      // and the GPU's shaders) take most of the CPU, and the page's one big redraw should not wait behind them.
      await afterNextPaint();
      const split = await s.bridge.describeSplit(s.split);
      const config: TrainConfig = { ...settings.config, steps: stepsOf(settings, split.train.examples) };
      if (!resume) setView((v) => ({ ...v, totalSteps: config.steps }));
      const outcome = await s.bridge.trainStudio(config, { split: s.split, validateEvery: settings.validateEvery, resume },
        { signal: controller.current.signal, onStep, onEvent });
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
      setView((v) => ({ ...v, status: v.steps.length > 0 ? 'failed' : 'idle', error: e, progress: undefined }));
    }
  }, [finish, flush, onEvent, onStep]);

  useEffect(() => () => clearTimeout(timer.current), []);

  return {
    view, adapterName, setAdapterName, task, setTask,
    busy: ['preparing', 'training', 'pausing', 'stopping', 'saving', 'evaluating'].includes(view.status),
    start: () => void drive(false),
    resume: () => void drive(true),
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
  };
}

const STATUS_TEXT: Record<Status, string> = {
  idle: 'Not started', preparing: 'Preparing', training: 'Training', pausing: 'Pausing after the steps in flight…', paused: 'Paused',
  stopping: 'Stopping after the steps in flight…', saving: 'Saving the adapter', evaluating: 'Evaluating on the validation split', done: 'Done', failed: 'Stopped',
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
          </dl>
          <LossChart series={view} />
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
