/**
 * Step 6 — try it: drop any image, type a prompt, and read the caption of the frozen model next to the
 * caption with an adapter, chosen by task name (then by adapter, newest first).
 */
import { useState } from 'react';
import type { PickedFile, PlaygroundResult } from '../../shared/engineApi.ts';
import type { Studio } from '../studio.ts';
import { DropZone } from '../components/DropZone.tsx';
import { ErrorBox, ProgressBar, Thumb } from '../components/common.tsx';
import { useTask } from '../components/useTask.ts';

export function PlaygroundPanel({ studio }: { studio: Studio }) {
  const { model, adapters, bridge } = studio;
  const usable = adapters.filter((a) => a.modelId === model?.id);
  const tasks = [...new Set(usable.map((a) => a.task))].sort();
  const [task, setTask] = useState<string>('');
  const [chosen, setChosen] = useState<string>('');
  const [image, setImage] = useState<PickedFile>();
  const [prompt, setPrompt] = useState('');
  const [result, setResult] = useState<PlaygroundResult>();
  const captioning = useTask();
  const { busy } = captioning;
  const activeTask = task === '(none)' ? undefined : (tasks.includes(task) ? task : tasks[0]);
  const inTask = usable.filter((a) => a.task === activeTask);
  const adapterId = activeTask ? (inTask.find((a) => a.id === chosen) ?? inTask[0])?.id : undefined;

  const caption = async (file = image) => {
    if (!file) return;
    await captioning.run(async (onProgress) => setResult(await bridge.caption(file.file, prompt || model?.defaultPrompt || '', adapterId, onProgress)));
  };

  return (
    <section>
      <h2>Playground</h2>
      {!model && <p className="notice">Load a model in step 1 first.</p>}
      <div className="grid-2">
        <div className="card">
          <DropZone testId="playground-drop" title="Drop an image" hint="A photo (JPEG, PNG, WebP, AVIF, GIF, BMP); it is resized to the model's image size." accept="image/*" multiple={false}
            disabled={!model || busy} onFiles={(files) => { setImage(files[0]); setResult(undefined); void caption(files[0]); }} />
          <div className="row wrap">
            <label htmlFor="pg-prompt">Prompt</label>
            <input id="pg-prompt" value={prompt} placeholder={model?.defaultPrompt ?? 'caption en'} onChange={(e) => setPrompt(e.target.value)} />
          </div>
          <div className="row wrap">
            <label htmlFor="pg-task">Task</label>
            <select id="pg-task" value={activeTask ?? '(none)'} onChange={(e) => { setTask(e.target.value); setChosen(''); }}>
              {tasks.map((t) => <option key={t} value={t}>{t}</option>)}
              <option value="(none)">no adapter</option>
            </select>
            {activeTask && (
              <select aria-label="Adapter" value={adapterId} onChange={(e) => setChosen(e.target.value)}>
                {inTask.map((a) => <option key={a.id} value={a.id}>{a.name}</option>)}
              </select>
            )}
          </div>
          <button type="button" className="primary" disabled={!model || !image || busy} onClick={() => void caption()}>Caption</button>
          <ProgressBar progress={captioning.progress} />
          <ErrorBox error={captioning.error} onDismiss={captioning.dismissError} />
        </div>
        <div className="card" data-testid="playground-result">
          {result ? (
            <div className="playground-result">
              <Thumb blob={result.thumbnail} alt="the dropped image" size={160} />
              <dl className="facts">
                <dt>Prompt</dt><dd>{result.prompt}</dd>
                <dt>Frozen model</dt><dd data-testid="pg-frozen">{result.frozen || <i>(empty)</i>}</dd>
                {result.adapted !== undefined && (<><dt>With {result.adapterName}</dt><dd data-testid="pg-adapted">{result.adapted || <i>(empty)</i>}</dd></>)}
              </dl>
            </div>
          ) : <p className="muted">The captions appear here.</p>}
        </div>
      </div>
    </section>
  );
}
