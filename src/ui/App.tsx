/**
 * The studio: six steps in tabs (Model → Dataset → Train → Evaluate → Adapters → Playground). App owns
 * what the steps share — the bridge to the worker, the loaded model, the open dataset and its split,
 * the adapters — and each panel (one file each, in panels/) owns the rest. Heavy work is in the worker;
 * this thread renders.
 */
import { useCallback, useEffect, useState } from 'react';
import type { AdapterSummary, DatasetSummary, EvaluationResult, ModelInfo, SplitOptions } from '../shared/engineApi.ts';
import { DEFAULT_SETTINGS, DEFAULT_SPLIT, type StudioSettings } from '../shared/settings.ts';
import type { EngineBridge } from './engineBridge.ts';
import { AdaptersPanel } from './panels/AdaptersPanel.tsx';
import { DatasetPanel } from './panels/DatasetPanel.tsx';
import { EvaluatePanel } from './panels/EvaluatePanel.tsx';
import { ModelPanel } from './panels/ModelPanel.tsx';
import { PlaygroundPanel } from './panels/PlaygroundPanel.tsx';
import { TrainPanel, useTrainingRun } from './panels/TrainPanel.tsx';

export const TABS = ['model', 'dataset', 'train', 'evaluate', 'adapters', 'playground'] as const;
export type Tab = (typeof TABS)[number];
const TAB_LABELS: Record<Tab, string> = {
  model: '1 · Model', dataset: '2 · Dataset', train: '3 · Train', evaluate: '4 · Evaluate', adapters: '5 · Adapters', playground: '6 · Playground',
};

export interface Studio {
  bridge: EngineBridge;
  model?: ModelInfo;
  setModel(model: ModelInfo): void;
  dataset?: DatasetSummary;
  setDataset(dataset: DatasetSummary): void;
  split: SplitOptions;
  setSplit(split: SplitOptions): void;
  settings: StudioSettings;
  setSettings(settings: StudioSettings): void;
  adapters: AdapterSummary[];
  refreshAdapters(): Promise<void>;
  evaluation?: EvaluationResult;
  setEvaluation(result: EvaluationResult | undefined): void;
  go(tab: Tab): void;
}

export function App({ bridge }: { bridge: EngineBridge }) {
  const [tab, setTab] = useState<Tab>(() => (TABS.includes(location.hash.slice(1) as Tab) ? location.hash.slice(1) as Tab : 'model'));
  const [model, setModel] = useState<ModelInfo>();
  const [dataset, setDataset] = useState<DatasetSummary>();
  const [split, setSplit] = useState<SplitOptions>(DEFAULT_SPLIT);
  const [settings, setSettings] = useState<StudioSettings>(DEFAULT_SETTINGS);
  const [adapters, setAdapters] = useState<AdapterSummary[]>([]);
  const [evaluation, setEvaluation] = useState<EvaluationResult>();
  const refreshAdapters = useCallback(async () => setAdapters(await bridge.listAdapters()), [bridge]);
  useEffect(() => {
    void refreshAdapters().catch(() => undefined);
  }, [refreshAdapters]);
  const go = useCallback((next: Tab) => {
    setTab(next);
    history.replaceState(null, '', `#${next}`);
  }, []);
  const studio: Studio = {
    bridge, model, setModel, dataset, setDataset, split, setSplit, settings, setSettings, adapters, refreshAdapters, evaluation, setEvaluation, go,
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
        {tab === 'adapters' && <AdaptersPanel studio={studio} />}
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
