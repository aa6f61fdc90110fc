/**
 * Step 1 — the frozen model: the bundled default with one click, or a package from a folder or a URL.
 * Shows what was loaded (name, size, image size, d_model, image tokens, licence) and the download's
 * progress with an ETA. A package that fails to load leaves the previous one in place.
 */
import { useState } from 'react';
import type { ModelInput } from '../../shared/engineApi.ts';
import type { Studio } from '../studio.ts';
import { DropZone } from '../components/DropZone.tsx';
import { ErrorBox, formatBytes, ProgressBar } from '../components/common.tsx';
import { useTask } from '../components/useTask.ts';

export const DEFAULT_MODEL_URL = '/models/pali-scenes-default';

export function ModelPanel({ studio }: { studio: Studio }) {
  const { model } = studio;
  const [url, setUrl] = useState('');
  const task = useTask();
  const loading = task.busy;

  const load = (source: ModelInput) => task.run(async (onProgress) => {
    await studio.loadModel(source, onProgress);
  }, { phase: 'loading model', done: 0, total: 0, unit: 'bytes' });

  return (
    <section>
      <h2>Choose the frozen model</h2>
      <p className="muted">The model stays frozen; training adds a small AdaLink adapter next to it. Start with the default model if unsure.</p>
      <div className="grid-2">
        <div className="card">
          <h3>Default model</h3>
          <p>PaLI-style scenes model (ViT + BART, 7.95 M parameters, 35 MB), bundled with the studio.</p>
          <button type="button" className="primary" disabled={loading} onClick={() => void load(DEFAULT_MODEL_URL)}>Load the default model</button>
        </div>
        <div className="card">
          <h3>Or your own model package</h3>
          <DropZone testId="model-drop" title="Drop a model package folder" hint="The folder holding manifest.json, the .onnx graphs and tokenizer.json."
            folder multiple disabled={loading} onFiles={(files, label) => void load({ label, files })} />
          <form className="row" onSubmit={(e) => { e.preventDefault(); if (url.trim()) void load(url.trim()); }}>
            <input type="text" inputMode="url" aria-label="Model package URL" placeholder="https://…/my-package/ or /models/…" value={url} onChange={(e) => setUrl(e.target.value)} disabled={loading} />
            <button type="submit" disabled={loading || !url.trim()}>Load from URL</button>
          </form>
        </div>
      </div>
      <ProgressBar progress={task.progress} />
      <ErrorBox error={task.error} onDismiss={task.dismissError} />
      {model && (
        <div className="card model-card" data-testid="model-card">
          <h3>{model.name}</h3>
          <dl className="facts">
            <dt>Package</dt><dd>{model.id}</dd>
            <dt>Size</dt><dd>{model.bytes ? formatBytes(model.bytes) : '—'}</dd>
            <dt>Image size</dt><dd>{model.imageSize} × {model.imageSize} px</dd>
            <dt>d_model</dt><dd>{model.dModel}</dd>
            <dt>Image tokens</dt><dd>{model.imageTokens}</dd>
            <dt>Vocabulary</dt><dd>{model.vocabSize} tokens</dd>
            <dt>Licence</dt><dd>{model.license}</dd>
            <dt>Captions</dt><dd>{model.canGenerate ? `yes (default prompt "${model.defaultPrompt}")` : 'no generation graphs: training only'}</dd>
            <dt>From</dt><dd>{model.label}</dd>
          </dl>
          <button type="button" className="primary" onClick={() => studio.go('dataset')}>Next: choose a dataset →</button>
        </div>
      )}
    </section>
  );
}
