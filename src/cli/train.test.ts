/**
 * The command-line trainer end to end: it writes an adapter the studio can read back; with --state it
 * saves the run and resumes it; and a run killed mid-way (SIGKILL, as a crash or a closed laptop would)
 * resumes from its last checkpoint and ends with exactly the losses and weights of the uninterrupted run.
 * Each run is a process that loads the model and caches the features again: the uninterrupted run is made
 * once and serves both tests.
 */
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { decodeTrainingState } from '../formats/trainingState.ts';
import { readAdapterFile } from '../formats/adapterFile.ts';
import { parseManifest } from '../formats/manifest.ts';

const run = promisify(execFile);
const PACKAGE = 'public/models/tiny-pali-test';
const MINUTE = 60_000;

function trainArgs(...args: string[]): string[] {
  return ['--liftoff-only', '--import', 'tsx', '--import', './src/cli/rawImports.mjs', 'src/cli/train.ts',
    '--model', PACKAGE, '--data', 'e2e/fixtures/tiny-captions', ...args];
}

function train(...args: string[]) {
  return run(process.execPath, trainArgs(...args), { timeout: 240_000 });
}

function readState(path: string) {
  return decodeTrainingState(new Uint8Array(readFileSync(path)), path);
}

/** The run both tests use: dropout on (a resumed run must also draw the same masks: counter-based, by seed and step), a checkpoint every 3 steps. */
function settings(dir: string): string[] {
  return ['--steps', '12', '--batch-size', '4', '--rank-image', '8', '--rank-text', '4', '--dropout', '0.1', '--warmup', '3',
    '--checkpoint-every', '3', '--out', join(dir, 'adapter.safetensors')];
}

/**
 * The uninterrupted 12-step run, once for the file: the first test reads its adapter and resumes its state, the
 * second compares the run killed mid-way with it.
 */
let uninterrupted: Promise<{ dir: string; stdout: string; out: string; state: string }> | undefined;
function wholeRun() {
  uninterrupted ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'adalink-cli-'));
    const state = join(dir, 'whole.state');
    const { stdout } = await train(...settings(dir), '--state', state);
    return { dir, stdout, out: join(dir, 'adapter.safetensors'), state };
  })();
  return uninterrupted;
}

describe('npm run train', () => {
  it('writes an adapter for the model, and resumes a saved state', async () => {
    const manifest = parseManifest(readFileSync(`${PACKAGE}/manifest.json`, 'utf8'), PACKAGE);
    const { dir, stdout, out, state } = await wholeRun();
    expect(stdout).toContain('32 examples from 32 images');
    const adapter = readAdapterFile(new Uint8Array(readFileSync(out)), manifest);
    expect(adapter.metadata.steps).toBe('12');
    expect(adapter.weights.map((w) => [w.modality, w.rank])).toEqual([['image', 8], ['text', 4]]);
    expect(adapter.weights[0].wup.some((v) => v !== 0)).toBe(true);

    // A copy of the finished run's state, trained on to step 14 (the second test reads the original).
    const more = join(dir, 'more.state');
    copyFileSync(state, more);
    const moreOut = join(dir, 'more.safetensors');
    const second = await train('--steps', '14', '--out', moreOut, '--state', more);
    expect(second.stdout).toContain('resuming from step 12');
    expect(readAdapterFile(new Uint8Array(readFileSync(moreOut)), manifest).metadata.steps).toBe('14');
    expect(readState(more).losses.slice(0, 12)).toEqual(readState(state).losses);

    const bad = await train('--rank', '0', '--out', join(dir, 'x.safetensors')).catch((e: { stderr: string; code: number }) => e);
    expect((bad as { code: number }).code).toBe(1);
    expect((bad as { stderr: string }).stderr).toContain('rank 0 is not an integer between 1 and d_model = 32');
  }, 10 * MINUTE);

  it('killed mid-run, resumes from its last checkpoint and ends exactly as the uninterrupted run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'adalink-cli-kill-'));

    // Killed as soon as its first checkpoint is on disk, mid-run.
    const killedState = join(dir, 'killed.state');
    const child = spawn(process.execPath, trainArgs(...settings(dir), '--state', killedState), { stdio: 'ignore' });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    const started = Date.now();
    while (!existsSync(killedState) && child.exitCode === null && Date.now() - started < 240_000) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGKILL');
    expect((await exited).signal, 'the run was killed, not finished').toBe('SIGKILL');
    const interrupted = readState(killedState);
    console.log(`killed after the checkpoint of step ${interrupted.step} of 12`);
    expect(interrupted.step).toBeGreaterThanOrEqual(3);
    expect(interrupted.step).toBeLessThan(12);

    const resumed = await train(...settings(dir), '--state', killedState);
    expect(resumed.stdout).toContain(`resuming from step ${interrupted.step}`);

    const [after, whole] = [readState(killedState), readState((await wholeRun()).state)];
    expect(whole.step).toBe(12);
    expect(after.losses, 'the loss of every step').toEqual(whole.losses);
    for (const name of Object.keys(whole.tensors)) expect(after.tensors[name], name).toEqual(whole.tensors[name]);
  }, 15 * MINUTE);
});
