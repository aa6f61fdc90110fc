/**
 * The one run loop, for the studio's worker and the command-line trainer alike: the steps from the trainer's
 * current step to `totalSteps`, cut at every validation and every checkpoint, so that each is taken exactly at
 * its step; a pause (the signal) ends the loop after the steps in flight.
 */
import type { StepResult, Trainer } from './trainer.ts';

export interface RunSchedule {
  totalSteps: number;
  /** Validate at every multiple of this step and at the last step; 0: never. */
  validateEvery: number;
  /** Checkpoint at every multiple of this step; 0: never (the caller saves at the end). */
  checkpointEvery: number;
  signal?: AbortSignal;
  onStep?: (result: StepResult) => void;
  validate?: (step: number) => Promise<void>;
  checkpoint?: (step: number) => Promise<void>;
}

export async function runSchedule(trainer: Trainer, schedule: RunSchedule): Promise<void> {
  const { totalSteps, validateEvery, checkpointEvery, signal } = schedule;
  const next = (every: number) => (every > 0 ? (Math.floor(trainer.step / every) + 1) * every : Infinity);
  while (trainer.step < totalSteps && !signal?.aborted) {
    await trainer.run(Math.min(next(validateEvery), next(checkpointEvery), totalSteps) - trainer.step, { signal, onStep: schedule.onStep });
    const step = trainer.step;
    if (validateEvery > 0 && (step % validateEvery === 0 || step === totalSteps)) await schedule.validate?.(step);
    if (checkpointEvery > 0 && step % checkpointEvery === 0) await schedule.checkpoint?.(step);
  }
}
