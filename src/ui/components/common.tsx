/** Small pieces every panel uses: progress bars with an ETA, readable errors, thumbnails, number formats. */
import { useEffect, useRef, useState, type ReactNode } from 'react';
import type { Progress } from '../../shared/engineApi.ts';
import { readableError } from '../../shared/errors.ts';

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

const PHASE_LABELS: Record<Progress['phase'], string> = {
  'loading model': 'Downloading the model',
  'opening graphs': 'Opening the model\'s graphs on the GPU',
  'reading dataset': 'Reading the dataset',
  'checking images': 'Checking every image',
  'caching image features': 'Caching image features (the vision tower runs once per image)',
  training: 'Training',
  'validation loss': 'Computing the validation loss',
  'captioning (frozen model)': 'Captioning with the frozen model',
  'captioning (adapted)': 'Captioning with the adapter',
  captioning: 'Captioning',
};

/** What an item of a phase is, where its rate is worth showing ("12 images/s"). */
const PHASE_ITEMS: Partial<Record<Progress['phase'], string>> = {
  'checking images': 'images', 'caching image features': 'images', training: 'steps',
};

/**
 * A progress bar for a long phase: what is happening, how far (bytes or items), and an ETA from the
 * rate since the phase began.
 */
/**
 * A long phase's bar: done of total, the rate and the time left. The time left is the worker's where it gives
 * one (a download's, from the bytes that came over the network: bytes found in the browser's cache are not a
 * rate), else from this bar's own rate; bytes already cached are said. `label`, `testId` and `waiting` (the
 * text while the total is not known yet) let a panel name its own bar.
 */
export function ProgressBar({ progress, label, testId, waiting }: { progress: Progress | undefined; label?: string; testId?: string; waiting?: string }) {
  const started = useRef<{ phase: string; at: number; done: number } | undefined>(undefined);
  if (!progress) return null;
  if (!started.current || started.current.phase !== progress.phase || progress.done < started.current.done) {
    started.current = { phase: progress.phase, at: performance.now(), done: progress.done };
  }
  const { done, total, unit, etaSeconds, cachedBytes } = progress;
  const fraction = total > 0 ? Math.min(1, done / total) : 0;
  const elapsed = (performance.now() - started.current.at) / 1000;
  const rate = (done - started.current.done) / Math.max(elapsed, 1e-3);
  const eta = etaSeconds ?? (total > 0 && rate > 0 && elapsed > 1 ? (total - done) / rate : NaN);
  const amount = total === 0 && waiting ? waiting
    : unit === 'bytes' ? `${formatBytes(done)}${total ? ` of ${formatBytes(total)}` : ''}` : `${done} of ${total}`;
  const noun = PHASE_ITEMS[progress.phase];
  const speed = noun && rate > 0 && elapsed > 1 && done < total ? ` · ${rate < 10 ? rate.toFixed(1) : Math.round(rate)} ${noun}/s` : '';
  const cached = cachedBytes ? ` · ${formatBytes(cachedBytes)} already in this browser` : '';
  const name = label ?? PHASE_LABELS[progress.phase];
  return (
    <div className="progress" role="progressbar" aria-label={name} data-testid={testId} aria-valuemin={0} aria-valuemax={total || undefined} aria-valuenow={done}>
      <div className="progress-text">
        <span>{name}</span>
        <span className="muted">{amount}{speed}{Number.isFinite(eta) && done < total ? ` · about ${formatDuration(eta)} left` : ''}{cached}</span>
      </div>
      <div className="progress-track"><div className="progress-fill" style={{ transform: `scaleX(${fraction.toFixed(3)})` }} /></div>
    </div>
  );
}

/** An error as a person reads it: what is wrong, where, what to do. */
export function ErrorBox({ error, onDismiss }: { error: unknown; onDismiss?: () => void }) {
  if (!error) return null;
  const e = readableError(error);
  return (
    <div className="error" role="alert">
      <strong>{e.problem ? capitalise(e.problem) : e.message}</strong>
      {e.where && <div className="muted">Where: {e.where}</div>}
      {e.fix && <div>What to do: {e.fix}</div>}
      {onDismiss && <button type="button" className="link" onClick={onDismiss}>Dismiss</button>}
    </div>
  );
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** An image from a Blob (a thumbnail the worker made), its object URL freed when it goes. */
export function Thumb({ blob, alt, size = 96 }: { blob?: Blob; alt: string; size?: number }) {
  const [url, setUrl] = useState<string>();
  useEffect(() => {
    if (!blob) return undefined;
    const u = URL.createObjectURL(blob);
    setUrl(u);
    return () => URL.revokeObjectURL(u);
  }, [blob]);
  if (!blob) return <div className="thumb missing" style={{ width: size, height: size }} title="no preview">?</div>;
  return url ? <img className="thumb" src={url} alt={alt} width={size} height={size} /> : <div className="thumb" style={{ width: size, height: size }} />;
}

export function Field({ label, help, children, htmlFor }: { label: string; help?: string; children: ReactNode; htmlFor?: string }) {
  return (
    <div className="field">
      <label htmlFor={htmlFor}>{label}</label>
      {children}
      {help && <small className="help">{help}</small>}
    </div>
  );
}

/** Saves bytes as a file through the browser's download. */
export function downloadBytes(bytes: Uint8Array, fileName: string): void {
  const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
