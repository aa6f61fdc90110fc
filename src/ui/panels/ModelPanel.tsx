/**
 * Step 1 — the frozen model: the bundled default with one click, a package from a folder or a URL, or a
 * Florence-2 from the Hugging Face Hub (its transformers.js graphs, downloaded once into this browser).
 * Shows what was loaded (name, size, image size, d_model, image tokens, licence, where it came from) and
 * the download's progress with an ETA. A model that fails to load leaves the previous one in place.
 */
import { useState } from 'react';
import { DEFAULT_HUB_REPO, type HubVariant, type ModelInput, type Progress } from '../../shared/engineApi.ts';
import type { Studio } from '../studio.ts';
import { DropZone } from '../components/DropZone.tsx';
import { ErrorBox, Field, formatBytes, ProgressBar } from '../components/common.tsx';
import { useTask, type Task } from '../components/useTask.ts';

export const DEFAULT_MODEL_URL = '/models/pali-scenes-default';

/**
 * The Hub's address for a development build's tests: a local stand-in that answers the Hub's URL layout,
 * from the page's ?hubEndpoint=http://127.0.0.1:PORT. Undefined in a production build (the worker refuses
 * another address there too): Hub models then come from https://huggingface.co.
 */
export const DEV_HUB_ENDPOINT: string | undefined = import.meta.env.DEV ? new URLSearchParams(location.search).get('hubEndpoint') ?? undefined : undefined;

export function ModelPanel({ studio }: { studio: Studio }) {
  const { model } = studio;
  const [url, setUrl] = useState('');
  const task = useTask();
  const hubTask = useTask();
  const loading = task.busy || hubTask.busy;

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
          <DropZone testId="model-drop" title="Drop a model package folder" hint="The folder holding manifest.json, the .onnx graphs and tokenizer.json, or the package as one .zip (a merged model)."
            folder multiple disabled={loading} onFiles={(files, label) => void load({ label, files })} />
          <form className="row" onSubmit={(e) => { e.preventDefault(); if (url.trim()) void load(url.trim()); }}>
            <input type="text" inputMode="url" aria-label="Model package URL" placeholder="https://…/my-package/ or /models/…" value={url} onChange={(e) => setUrl(e.target.value)} disabled={loading} />
            <button type="submit" disabled={loading || !url.trim()}>Load from URL</button>
          </form>
        </div>
        <HubCard studio={studio} task={hubTask} disabled={loading} />
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
            {model.hub && (
              <>
                <dt>Hub</dt>
                <dd data-testid="hub-origin">
                  {model.hub.repo}, {model.hub.variant}, commit <code>{model.hub.revision}</code>
                  {model.hub.requested !== model.hub.revision ? ` (${model.hub.requested})` : ''}
                </dd>
                <dt>Download</dt>
                <dd data-testid="hub-download">
                  {model.hub.downloaded > 0 ? `${formatBytes(model.hub.downloaded)} downloaded now` : 'nothing downloaded'}
                  {model.hub.cached > 0 ? `, ${formatBytes(model.hub.cached)} already in this browser` : ''}
                  {model.hub.kept ? '' : ' — this browser does not let the studio keep them: the next load downloads them again'}
                </dd>
              </>
            )}
          </dl>
          <button type="button" className="primary" onClick={() => studio.go('dataset')}>Next: choose a dataset →</button>
        </div>
      )}
    </section>
  );
}

/**
 * "From the Hugging Face Hub": a repository id, a variant, a revision. The worker downloads only the files
 * that variant needs (src/worker/hubSource.ts), once: they stay in this browser's Cache Storage, and a
 * download that stopped resumes where it stopped.
 */
function HubCard({ studio, task, disabled }: { studio: Studio; task: Task; disabled: boolean }) {
  const [repo, setRepo] = useState(DEFAULT_HUB_REPO);
  const [variant, setVariant] = useState<HubVariant>('fp32');
  const [revision, setRevision] = useState('');
  const load = () => task.run(async (onProgress) => {
    await studio.loadModel({ hub: { repo: repo.trim(), variant, ...(revision.trim() ? { revision: revision.trim() } : {}) } }, onProgress);
  }, { phase: 'loading model', done: 0, total: 0, unit: 'bytes' });
  return (
    <div className="card" data-testid="hub-card" role="region" aria-label="From the Hugging Face Hub">
      <h3>From the Hugging Face Hub</h3>
      <p>A Florence-2 in the transformers.js layout (its ONNX graphs). Only the files the variant needs are downloaded
        (Florence-2-base: about 1 GB in fp32, half in fp16), once: they stay in this browser, and a download that stops resumes where it stopped.</p>
      <form onSubmit={(e) => { e.preventDefault(); if (repo.trim()) void load(); }}>
        <Field label="Repository" htmlFor="hub-repo" help="owner/name, as huggingface.co shows it">
          <input id="hub-repo" type="text" spellCheck={false} autoCapitalize="off" value={repo} onChange={(e) => setRepo(e.target.value)} disabled={disabled} />
        </Field>
        <div className="row wrap">
          <Field label="Variant" htmlFor="hub-variant">
            <select id="hub-variant" value={variant} onChange={(e) => setVariant(e.target.value as HubVariant)} disabled={disabled}>
              <option value="fp32">fp32 (full precision)</option>
              <option value="fp16">fp16 (half the download)</option>
            </select>
          </Field>
          <Field label="Revision" htmlFor="hub-revision">
            <input id="hub-revision" type="text" spellCheck={false} autoCapitalize="off" placeholder="main" value={revision} onChange={(e) => setRevision(e.target.value)} disabled={disabled} />
          </Field>
        </div>
        <button type="submit" className="primary" disabled={disabled || !repo.trim()}>Download from the Hub</button>
      </form>
      <p className="muted" data-testid="hub-privacy">
        Only the model&apos;s files come from huggingface.co, and only when you press the button. Your images and captions stay on this machine.
      </p>
      {DEV_HUB_ENDPOINT && <p className="notice">Development build: Hub models come from {DEV_HUB_ENDPOINT} (?hubEndpoint), not huggingface.co.</p>}
      <HubProgress progress={task.progress} />
      <ErrorBox error={task.error} onDismiss={task.dismissError} />
    </div>
  );
}

/** The Hub download's bar (ProgressBar: the worker's time left and cached bytes), then the graphs'. */
function HubProgress({ progress }: { progress: Progress | undefined }) {
  if (progress?.phase !== 'loading model') return <ProgressBar progress={progress} />;
  return <ProgressBar progress={progress} label="Downloading the model from the Hub" testId="hub-progress" waiting="asking the Hub which files…" />;
}
