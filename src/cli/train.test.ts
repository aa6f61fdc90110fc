/**
 * The command-line trainer end to end: it writes an adapter the studio can read back, and with --state
 * it saves the run and resumes it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { readAdapterFile } from '../formats/adapterFile.ts';
import { parseManifest } from '../formats/manifest.ts';

const run = promisify(execFile);
const PACKAGE = 'public/models/tiny-pali-test';

function train(...args: string[]) {
  return run(process.execPath, ['--liftoff-only', '--import', 'tsx', '--import', './src/cli/rawImports.mjs', 'src/cli/train.ts',
    '--model', PACKAGE, '--data', 'e2e/fixtures/tiny-captions', ...args], { timeout: 240_000 });
}

describe('npm run train', () => {
  it('writes an adapter for the model, and resumes a saved state', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'adalink-cli-'));
    const out = join(dir, 'adapter.safetensors');
    const state = join(dir, 'run.state');
    const manifest = parseManifest(readFileSync(`${PACKAGE}/manifest.json`, 'utf8'), PACKAGE);

    const first = await train('--steps', '4', '--batch-size', '4', '--rank-image', '8', '--rank-text', '4', '--out', out, '--state', state);
    expect(first.stdout).toContain('32 examples from 32 images');
    const adapter = readAdapterFile(new Uint8Array(readFileSync(out)), manifest);
    expect(adapter.metadata.steps).toBe('4');
    expect(adapter.weights.map((w) => [w.modality, w.rank])).toEqual([['image', 8], ['text', 4]]);
    expect(adapter.weights[0].wup.some((v) => v !== 0)).toBe(true);

    const second = await train('--steps', '6', '--out', out, '--state', state);
    expect(second.stdout).toContain('resuming from step 4');
    expect(readAdapterFile(new Uint8Array(readFileSync(out)), manifest).metadata.steps).toBe('6');

    const bad = await train('--rank', '0', '--out', join(dir, 'x.safetensors')).catch((e: { stderr: string; code: number }) => e);
    expect((bad as { code: number }).code).toBe(1);
    expect((bad as { stderr: string }).stderr).toContain('rank 0 is not an integer between 1 and d_model = 32');
  });
});
