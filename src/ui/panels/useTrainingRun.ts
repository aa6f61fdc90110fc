/**
 * The training run of the Train step, held in App so that it carries on while the person looks at other
 * steps: its state machine (preparing, training, pausing, saving, evaluating, recovering after a lost GPU…),
 * the worker's events folded into one view at most every FLUSH_MS, the checkpoint to resume after a reload.
 */
import { startTransition, useCallback, useEffect, useRef, useState } from 'react';
import type { TrainConfig } from '../../config.ts';
import type { AdapterSummary, CheckpointSummary, Progress, RunDetails, RunEvent, SplitOptions, StepReport, StudioRunOptions } from '../../shared/engineApi.ts';
import { isDeviceLost } from '../../shared/errors.ts';
import { stepsOf } from '../../shared/settings.ts';
import type { Studio } from '../studio.ts';
import type { LossSeries } from '../components/charts.tsx';
import { requestPersistentStorage } from '../components/StorageCard.tsx';

export type Status = 'idle' | 'preparing' | 'training' | 'pausing' | 'paused' | 'stopping' | 'saving' | 'evaluating' | 'recovering' | 'done' | 'failed';

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
  /** With a dataset that has tasks: '' one shared adapter for all, EACH_TASK one adapter per task (a run each), or one task's name. */
  taskPlan: string;
  setTaskPlan(plan: string): void;
  /** The task the run in progress trains on (undefined: all examples), and the tasks queued after it. */
  runTask?: string;
  queuedTasks: string[];
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

/** The task plan that trains one adapter per task of the dataset, one run after another. */
export const EACH_TASK = '\u0000each task';

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
  const [taskPlan, setTaskPlan] = useState('');
  /** The task of the run being driven, the tasks after it (one adapter per task), and whether the next one starts when this one is saved. */
  const [runTask, setRunTask] = useState<string>();
  const [queuedTasks, setQueuedTasks] = useState<string[]>([]);
  const runTaskRef = useRef<string | undefined>(undefined);
  const queue = useRef<string[]>([]);
  const chainNext = useRef(false);
  /** The name a plan of one adapter per task names its adapters from. */
  const planName = useRef('');
  const setTaskOfRun = (next: string | undefined, rest: string[]) => {
    runTaskRef.current = next;
    queue.current = rest;
    setRunTask(next);
    setQueuedTasks(rest);
  };
  /** The split a run trains and is evaluated on: the studio's, restricted to the run's task. */
  const splitOfRun = (): SplitOptions => ({ ...latest.current.split, ...(runTaskRef.current === undefined ? {} : { task: runTaskRef.current }) });
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
        const result = await s.bridge.evaluate({ adapterId: saved.id, split: splitOfRun() }, (progress) => setView((v) => ({ ...v, progress })));
        s.setEvaluation(result);
        await s.refreshAdapters();
      } catch (e) {
        setView((v) => ({ ...v, error: e }));
      }
    }
    setView((v) => ({ ...v, status: 'done', progress: undefined }));
    // One adapter per task: the next task's run starts once this one's adapter is saved (drive runs it).
    chainNext.current = queue.current.length > 0 && !stopRequested.current;
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
    const { task: splitTask, ...split } = c.split;
    s.setSplit(split);
    // One adapter per task: the tasks after this one, as the checkpoint keeps them (a reload loses no task).
    setTaskOfRun(splitTask, c.details.taskPlan?.queued ?? []);
    planName.current = c.details.taskPlan?.adapterName ?? c.details.adapterName;
    if (c.details.taskPlan?.queued.length) setTaskPlan(EACH_TASK);
    s.setSettings(c.details.settings);
    setAdapterName(planName.current);
    setTask(c.details.task);
  };

  const drive = async (start: RunStart): Promise<void> => {
    driving.current = true;
    try {
      await driveRun(start);
      while (chainNext.current) {
        chainNext.current = false;
        const [next, ...rest] = queue.current;
        const saved = runTaskRef.current;
        setTaskOfRun(next, rest);
        await driveRun({ from: 'scratch', notice: `The adapter of task "${saved}" is saved. Now task "${next}".` });
      }
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
        const runSplit = splitOfRun();
        const split = await s.bridge.describeSplit(runSplit);
        config = { ...settings.config, steps: stepsOf(settings, split.train.examples) };
        // A run on one task names its adapter after the task.
        const ofTask = runTaskRef.current;
        const base = planName.current.trim() || `${s.dataset?.label ?? 'dataset'} adapter`;
        const details: RunDetails = ofTask === undefined ? { settings, adapterName, task }
          : { settings, adapterName: `${base} · ${ofTask}`, task: ofTask, taskPlan: { adapterName: planName.current, queued: [...queue.current] } };
        if (start.from === 'scratch') {
          setView((v) => ({ ...v, totalSteps: config.steps! }));
          runDetails.current = details;
        }
        options = {
          split: runSplit, validateEvery: settings.validateEvery, checkpointEvery: settings.checkpointEvery,
          details: runDetails.current ?? details, resume: start.from === 'pause',
        };
      }
      runEngine.current = s.bridge.restarts;
      const outcome = await s.bridge.withSignal(controller.current.signal).train(config, options, onStep, onEvent);
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
    view, adapterName, setAdapterName, task, setTask, taskPlan, setTaskPlan, runTask, queuedTasks, interrupted, interruptedError,
    refreshInterrupted: () => void refreshInterrupted().catch(() => undefined),
    busy: ['preparing', 'training', 'pausing', 'stopping', 'saving', 'evaluating', 'recovering'].includes(view.status),
    start: () => {
      // The button turns busy when the transition above is drawn: a second click before that starts nothing.
      if (driving.current) return;
      recoveries.current = 0;
      const tasks = (studio.dataset?.tasks ?? []).map((t) => t.task);
      planName.current = adapterName;
      if (taskPlan === EACH_TASK && tasks.length > 0) setTaskOfRun(tasks[0], tasks.slice(1));
      else setTaskOfRun(tasks.includes(taskPlan) ? taskPlan : undefined, []);
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
      setTaskOfRun(runTaskRef.current, []);
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
