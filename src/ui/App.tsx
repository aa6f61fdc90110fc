/**
 * The studio: six steps in tabs (Model → Dataset → Train → Evaluate → Adapters → Playground). App owns
 * what the steps share — the bridge to the worker, the loaded model and where it came from, the open
 * dataset (and the files it was opened from) and its split, the adapters — and each panel (one file each,
 * in panels/) owns the rest. Heavy work is in the worker; this thread renders.
 *
 * When the engine is started again after a lost GPU, App loads the same model and dataset into it
 * (`restoreEngine`); the Train panel then resumes its run from the last checkpoint.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type {
  AdapterSummary, DatasetInput, DatasetSummary, EvaluationResult, ModelInfo, ModelInput, Progress, SplitOptions,
} from '../shared/engineApi.ts';
import { parseHubModelAddress } from '../shared/engineApi.ts';
import { readableError } from '../shared/errors.ts';
import { DEFAULT_SETTINGS, DEFAULT_SPLIT, type StudioSettings } from '../shared/settings.ts';
import type { EngineBridge } from './engineBridge.ts';
import { TABS, type Studio, type Tab } from './studio.ts';
import { AdaptersPanel } from './panels/AdaptersPanel.tsx';
import { DatasetPanel } from './panels/DatasetPanel.tsx';
import { EvaluatePanel } from './panels/EvaluatePanel.tsx';
import { DEV_HUB_ENDPOINT, ModelPanel } from './panels/ModelPanel.tsx';
import { PlaygroundPanel } from './panels/PlaygroundPanel.tsx';
import { TrainPanel } from './panels/TrainPanel.tsx';
import { useTrainingRun } from './panels/useTrainingRun.ts';

/** A Hub model (the Hub form, or a checkpoint's hf:// address) with the development build's stand-in, if any. */
function withHubEndpoint(source: ModelInput): ModelInput {
  const hub = typeof source === 'string' ? parseHubModelAddress(source) : 'hub' in source ? source.hub : undefined;
  if (!hub) return source;
  const endpoint = 'endpoint' in hub && hub.endpoint ? hub.endpoint : DEV_HUB_ENDPOINT;
  return { hub: endpoint ? { ...hub, endpoint } : { ...hub } };
}

const TAB_LABELS: Record<Tab, string> = {
  model: '1 · Model', dataset: '2 · Dataset', train: '3 · Train', evaluate: '4 · Evaluate', adapters: '5 · Adapters', playground: '6 · Playground',
};


export function App({ bridge }: { bridge: EngineBridge }) {
  const [tab, setTab] = useState<Tab>(() => (TABS.includes(location.hash.slice(1) as Tab) ? location.hash.slice(1) as Tab : 'model'));
  const [model, setModel] = useState<ModelInfo>();
  const [modelSource, setModelSource] = useState<ModelInput>();
  const [dataset, setDataset] = useState<DatasetSummary>();
  const [datasetInput, setDatasetInput] = useState<DatasetInput>();
  const [split, setSplit] = useState<SplitOptions>(DEFAULT_SPLIT);
  const [settings, setSettings] = useState<StudioSettings>(DEFAULT_SETTINGS);
  const [adapters, setAdapters] = useState<AdapterSummary[]>([]);
  const [evaluation, setEvaluation] = useState<EvaluationResult>();
  const [engineNotice, setEngineNotice] = useState<string>();
  const refreshAdapters = useCallback(async () => setAdapters(await bridge.listAdapters()), [bridge]);
  useEffect(() => {
    void refreshAdapters().catch(() => undefined);
  }, [refreshAdapters]);
  const go = useCallback((next: Tab) => {
    setTab(next);
    history.replaceState(null, '', `#${next}`);
  }, []);
  // The latest settings and split, for the loaders below (which outlive a render).
  const latest = useRef({ settings, split, modelSource, datasetInput });
  latest.current = { settings, split, modelSource, datasetInput };

  const loadModel = useCallback(async (source: ModelInput, onProgress?: (p: Progress) => void) => {
    const input = withHubEndpoint(source);
    const info = await bridge.loadModel(input, onProgress);
    setModel(info);
    // A Hub model is kept at the commit it was read at: a new engine (a lost GPU) loads the same files again.
    setModelSource(info.hub && typeof input === 'object' && 'hub' in input ? { hub: { ...input.hub, revision: info.hub.revision } } : input);
    // A rank cannot exceed the model's width: a small model gets its largest rank instead of an error at Start.
    const current = latest.current.settings;
    const rank = current.config.rank;
    if (rank.image > info.dModel || rank.text > info.dModel) {
      setSettings({ ...current, config: { ...current.config, rank: { image: Math.min(rank.image, info.dModel), text: Math.min(rank.text, info.dModel) } } });
    }
    setEvaluation(undefined);
    await refreshAdapters();
    return info;
  }, [bridge, refreshAdapters]);

  const openDataset = useCallback(async (input: DatasetInput, onProgress?: (p: Progress) => void) => {
    const summary = await bridge.openDataset(input, onProgress);
    setDataset(summary);
    setDatasetInput(input);
    setEvaluation(undefined);
    const hasValidation = summary.splits.some((s) => s.split === 'validation');
    setSplit({ ...latest.current.split, mode: hasValidation ? 'dataset' : 'holdout' });
    return summary;
  }, [bridge]);

  // One restoration per engine restart, however many ask for it (App itself, and the Train panel's run).
  const restoring = useRef<{ restarts: number; done: Promise<void> }>(undefined);
  const restoreEngine = useCallback(() => {
    if (bridge.restarts === 0) return Promise.resolve();
    if (restoring.current?.restarts === bridge.restarts) return restoring.current.done;
    const done = (async () => {
      const { modelSource: source, datasetInput: input } = latest.current;
      setEngineNotice('The GPU device was lost: the studio started its engine again on a new device and is loading the model and the dataset again…');
      try {
        if (source) setModel(await bridge.loadModel(source));
        if (input) setDataset(await bridge.openDataset(input));
        setEngineNotice('The GPU device was lost: the studio started its engine again on a new device and loaded the model and the dataset again.');
      } catch (e) {
        setEngineNotice(`The GPU device was lost, and loading the model and the dataset again failed: ${readableError(e).message} Load them again in steps 1 and 2.`);
        throw e;
      }
    })();
    restoring.current = { restarts: bridge.restarts, done };
    return done;
  }, [bridge]);
  useEffect(() => bridge.onEngineRestart(() => void restoreEngine().catch(() => undefined)), [bridge, restoreEngine]);

  const studio: Studio = {
    bridge, model, modelSource, loadModel, dataset, datasetInput, openDataset, restoreEngine,
    split, setSplit, settings, setSettings, adapters, refreshAdapters, evaluation, setEvaluation, go,
  };
  const run = useTrainingRun(studio);
  const done: Record<Tab, boolean> = {
    model: Boolean(model), dataset: Boolean(dataset), train: run.view.status === 'done', evaluate: Boolean(evaluation),
    adapters: adapters.some((a) => a.modelId === model?.id), playground: false,
  };

  return (
    <div className="app">
      <header className="header">
        <div className="brand">
          <h1>AdaLink Studio</h1>
          <span className="muted">Fine-tune a vision-language model on your own GPU. Your images never leave this computer.</span>
        </div>
        <StatusLine model={model} dataset={dataset} runStatus={run.view.status} step={run.view.steps.at(-1)} total={run.view.totalSteps} />
      </header>
      {engineNotice && (
        <p className="notice" role="status" data-testid="engine-notice">
          {engineNotice} <button type="button" className="link" onClick={() => setEngineNotice(undefined)}>Dismiss</button>
        </p>
      )}
      <nav className="tabs" role="tablist" aria-label="Steps">
        {TABS.map((t) => (
          <button key={t} type="button" role="tab" aria-selected={tab === t} className={`tab${tab === t ? ' active' : ''}${done[t] ? ' done' : ''}`}
            onClick={() => go(t)}>
            {TAB_LABELS[t]}{done[t] ? ' ✓' : ''}
          </button>
        ))}
      </nav>
      <main className="panel" role="tabpanel" aria-label={TAB_LABELS[tab]} data-testid={`panel-${tab}`}>
        {tab === 'model' && <ModelPanel studio={studio} />}
        {tab === 'dataset' && <DatasetPanel studio={studio} busy={run.busy} />}
        {tab === 'train' && <TrainPanel studio={studio} run={run} />}
        {tab === 'evaluate' && <EvaluatePanel studio={studio} run={run} />}
        {tab === 'adapters' && <AdaptersPanel studio={studio} onCheckpointsCleared={run.refreshInterrupted} />}
        {tab === 'playground' && <PlaygroundPanel studio={studio} />}
      </main>
    </div>
  );
}

function StatusLine({ model, dataset, runStatus, step, total }: {
  model?: ModelInfo; dataset?: DatasetSummary; runStatus: string; step?: number; total: number;
}) {
  return (
    <div className="status-line" data-testid="status-line">
      <span>Model: <b>{model ? model.id : 'none'}</b></span>
      <span>Dataset: <b>{dataset ? `${dataset.label} (${dataset.images} images)` : 'none'}</b></span>
      <span>Training: <b>{runStatus === 'idle' ? 'not started' : `${runStatus}${step !== undefined ? `, step ${step} of ${total}` : ''}`}</b></span>
    </div>
  );
}
