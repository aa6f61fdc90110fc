/**
 * Step 2 — the person's images and captions: drop a folder, a .zip or files (imagefolder metadata.jsonl,
 * COCO captions JSON, CSV), or try the demo. Shows a preview, counts, the caption lengths, the
 * train/validation split, and every row that was left out with its reason. A dataset that cannot be
 * read leaves the previous one in place.
 */
import { useEffect, useState } from 'react';
import type { DatasetInput, Progress, SplitSummary } from '../../shared/engineApi.ts';
import type { Studio } from '../studio.ts';
import { Histogram } from '../components/charts.tsx';
import { DropZone } from '../components/DropZone.tsx';
import { ErrorBox, Field, ProgressBar, Thumb } from '../components/common.tsx';

export const DEMO_DATASET = { url: '/demo/relational-captions.zip', label: 'relational-captions.zip' };
/** The same kind of scenes as camera JPEGs (sizes up to 512 px, some progressive, some EXIF-rotated): tools/README.md. */
export const PHOTO_DEMO_DATASET = { url: '/demo/relational-photos.zip', label: 'relational-photos.zip' };

export function DatasetPanel({ studio, busy }: { studio: Studio; busy: boolean }) {
  const { bridge, dataset, split } = studio;
  const [progress, setProgress] = useState<Progress>();
  const [error, setError] = useState<unknown>();
  const [loading, setLoading] = useState(false);
  const [splitSummary, setSplitSummary] = useState<SplitSummary>();
  const [splitError, setSplitError] = useState<unknown>();

  const open = async (input: DatasetInput) => {
    setLoading(true);
    setError(undefined);
    try {
      await studio.openDataset(input, setProgress);
    } catch (e) {
      setError(e);
    } finally {
      setLoading(false);
      setProgress(undefined);
    }
  };

  useEffect(() => {
    if (!dataset) return;
    let current = true;
    bridge.describeSplit(split).then(
      (s) => { if (current) { setSplitSummary(s); setSplitError(undefined); } },
      (e) => { if (current) { setSplitSummary(undefined); setSplitError(e); } },
    );
    return () => { current = false; };
  }, [bridge, dataset, split]);

  const hasValidation = dataset?.splits.some((s) => s.split === 'validation') ?? false;
  const number = (value: string, fallback: number) => (Number.isFinite(Number(value)) && value !== '' ? Number(value) : fallback);

  return (
    <section>
      <h2>Bring your images and captions</h2>
      <DropZone testId="dataset-drop" title="Drop a dataset folder, a .zip, or files"
        hint="A metadata.jsonl (imagefolder), a COCO captions .json or a .csv, with the images (JPEG, PNG, WebP, AVIF, GIF, BMP). Several captions per image and a prompt column are fine."
        folder disabled={loading || busy} onFiles={(files, label) => void open({ label, files })}>
        <button type="button" className="primary" disabled={loading || busy} onClick={() => void open(DEMO_DATASET)}>Try the demo dataset</button>
        <button type="button" disabled={loading || busy} onClick={() => void open(PHOTO_DEMO_DATASET)}>Try the photo demo (JPEG)</button>
      </DropZone>
      {busy && <p className="muted">A training run is in progress: pause or stop it to open another dataset.</p>}
      <ProgressBar progress={progress} />
      <ErrorBox error={error} onDismiss={() => setError(undefined)} />
      {dataset && (
        <>
          <div className="grid-2">
            <div className="card" data-testid="dataset-summary">
              <h3>{dataset.label}</h3>
              <dl className="facts">
                <dt>Format</dt><dd>{{ imagefolder: 'imagefolder (metadata.jsonl)', coco: 'COCO captions JSON', csv: 'CSV' }[dataset.format]}</dd>
                <dt>Images</dt><dd data-testid="dataset-images">{dataset.images}</dd>
                <dt>Captions</dt><dd>{dataset.examples} (up to {dataset.maxCaptionsPerImage} per image)</dd>
                <dt>Splits</dt><dd>{dataset.splits.map((s) => `${s.split}: ${s.images} images`).join(' · ')}</dd>
                <dt>Prompts</dt><dd>{dataset.hasPrompts ? 'a prompt/question column' : 'none: the model\'s default prompt'}</dd>
                {dataset.tasks.length > 0 && (
                  <><dt>Tasks</dt><dd data-testid="dataset-tasks">{dataset.tasks.map((t) => `${t.task} (${t.examples})`).join(' · ')}</dd></>
                )}
                <dt>Skipped</dt><dd>{dataset.skipped.length === 0 ? 'nothing' : `${dataset.skipped.length} (listed below)`}</dd>
              </dl>
            </div>
            <div className="card">
              <h3>Caption length</h3>
              <Histogram edges={dataset.lengthHistogram.edges} counts={dataset.lengthHistogram.counts} xLabel="words per caption" />
            </div>
          </div>

          <div className="card" data-testid="split-control">
            <h3>Train / validation split</h3>
            <div className="row wrap">
              <label><input type="radio" name="split" checked={split.mode === 'dataset'} disabled={!hasValidation}
                onChange={() => studio.setSplit({ ...split, mode: 'dataset' })} /> Use the dataset&apos;s own validation split{hasValidation ? '' : ' (it has none)'}</label>
              <label><input type="radio" name="split" checked={split.mode === 'holdout' || !hasValidation}
                onChange={() => studio.setSplit({ ...split, mode: 'holdout' })} /> Hold out a share of the images</label>
            </div>
            <div className="row wrap">
              {(split.mode === 'holdout' || !hasValidation) && (
                <>
                  <Field label="Held out for validation (%)" htmlFor="split-fraction">
                    <input id="split-fraction" type="number" min={1} max={90} value={Math.round(split.fraction * 100)}
                      onChange={(e) => studio.setSplit({ ...split, fraction: number(e.target.value, 10) / 100 })} />
                  </Field>
                  <Field label="Split seed" htmlFor="split-seed">
                    <input id="split-seed" type="number" min={0} value={split.seed} onChange={(e) => studio.setSplit({ ...split, seed: number(e.target.value, 0) })} />
                  </Field>
                </>
              )}
              <Field label="Training images to use (0 = all)" htmlFor="max-train" help="Fewer images for a quick first try on a slow GPU.">
                <input id="max-train" type="number" min={0} value={split.maxTrainImages} onChange={(e) => studio.setSplit({ ...split, maxTrainImages: number(e.target.value, 0) })} />
              </Field>
              <Field label="Validation images to use (0 = all)" htmlFor="max-validation" help="Evaluation captions each of these twice (before and after).">
                <input id="max-validation" type="number" min={0} value={split.maxValidationImages} onChange={(e) => studio.setSplit({ ...split, maxValidationImages: number(e.target.value, 0) })} />
              </Field>
            </div>
            {splitSummary && (
              <p data-testid="split-summary">
                Training: <b>{splitSummary.train.images} images</b>, {splitSummary.train.examples} captions · Validation: <b>{splitSummary.validation.images} images</b>, {splitSummary.validation.examples} captions
              </p>
            )}
            <ErrorBox error={splitError} />
            <button type="button" className="primary" disabled={!studio.model} onClick={() => studio.go('train')}>Next: train →</button>
            {!studio.model && <span className="muted"> Load a model in step 1 first.</span>}
          </div>

          <div className="card" data-testid="skipped-report">
            <h3>Validation report</h3>
            {dataset.skipped.length === 0
              ? <p>Every row and image was read.</p>
              : (
                <>
                  <p>{dataset.skipped.length} row{dataset.skipped.length === 1 ? ' was' : 's were'} left out; the rest of the dataset is used.</p>
                  <div className="table-scroll">
                    <table>
                      <thead><tr><th>Where</th><th>Why it was left out</th></tr></thead>
                      <tbody>{dataset.skipped.map((s, i) => <tr key={i}><td>{s.where}</td><td>{s.reason}</td></tr>)}</tbody>
                    </table>
                  </div>
                </>
              )}
          </div>

          <div className="card">
            <h3>Preview</h3>
            <div className="preview-grid" data-testid="preview-grid">
              {dataset.preview.map((item) => (
                <figure key={item.path} className="preview-item">
                  <Thumb blob={item.thumbnail} alt={item.path} />
                  <figcaption>
                    <span className="muted">{item.path} · {item.split}</span>
                    {item.prompt && <span className="prompt">{item.prompt}</span>}
                    {item.captions.map((c, i) => <span key={i} className="caption">{c}</span>)}
                  </figcaption>
                </figure>
              ))}
            </div>
          </div>
        </>
      )}
    </section>
  );
}
