/** The Train step's settings: the paper's defaults, a line of help each (src/shared/settings.ts). */
import { memo } from 'react';
import type { Modality, TrainConfig } from '../../config.ts';
import { DEFAULT_SETTINGS, HELP, type StudioSettings } from '../../shared/settings.ts';
import { Field } from '../components/common.tsx';

/** The settings: memoised, so that the run's many updates do not re-render the form. */
export const SettingsForm = memo(function SettingsForm({ settings, setSettings, editable, dModel, datasetLabel, adapterName, setAdapterName, task, setTask }: {
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
