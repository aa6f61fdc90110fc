/**
 * One long call made from a panel (load a model, evaluate, caption): whether it runs, its progress and its
 * error, kept the same way in every panel. `run` clears the last error, shows progress while the work
 * reports it, and keeps the error for an ErrorBox instead of throwing.
 */
import { useState } from 'react';
import type { Progress } from '../../shared/engineApi.ts';

export interface Task {
  busy: boolean;
  progress: Progress | undefined;
  error: unknown;
  dismissError(): void;
  run(work: (onProgress: (p: Progress) => void) => Promise<void>, initialProgress?: Progress): Promise<void>;
}

export function useTask(): Task {
  const [busy, setBusy] = useState(false);
  const [progress, setProgress] = useState<Progress>();
  const [error, setError] = useState<unknown>();
  return {
    busy, progress, error,
    dismissError: () => setError(undefined),
    async run(work, initialProgress) {
      setBusy(true);
      setError(undefined);
      setProgress(initialProgress);
      try {
        await work(setProgress);
      } catch (e) {
        setError(e);
      } finally {
        setBusy(false);
        setProgress(undefined);
      }
    },
  };
}
