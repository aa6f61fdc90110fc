/**
 * The command-line trainer on photos as a new user brings them (issue 12): the zip of mixed formats the studio
 * test drops (e2e/studio.photos.test.ts) — JPEGs of every kind, WebP, AVIF, GIF, BMP, PNG, three bad files —
 * read with the same examples as the studio (every readable image; the bad files reported and left out), two
 * training steps with finite losses, and an adapter written. On the tiny test package: the reading is the same
 * for every model, and the tiny one trains in seconds on SwiftShader.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { mixedPhotoZip, photoFixtures } from '../data/testing/photoFixtures.ts';
import { readAdapterFile } from '../formats/adapterFile.ts';
import { parseManifest } from '../formats/manifest.ts';

const run = promisify(execFile);
const PACKAGE = 'public/models/tiny-pali-test';

describe('npm run train on a zip of photos in every format', () => {
  it('reads every readable image, reports the bad ones, trains with finite losses', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'adalink-photos-'));
    const zip = join(dir, 'mixed-photos.zip');
    writeFileSync(zip, mixedPhotoZip());
    const out = join(dir, 'adapter.safetensors');
    const { stdout } = await run(process.execPath, ['--liftoff-only', '--import', 'tsx', '--import', './src/cli/rawImports.mjs', 'src/cli/train.ts',
      '--model', PACKAGE, '--data', zip, '--steps', '2', '--batch-size', '2', '--warmup', '1', '--rank', '8', '--out', out], { timeout: 600_000 });
    const fixtures = photoFixtures();
    const good = fixtures.filter((f) => !f.bad);
    expect(stdout).toContain(`${good.length} examples from ${good.length} images`);
    for (const f of fixtures.filter((f) => f.bad)) expect(stdout).toMatch(new RegExp(`skipped ${f.file}: image cannot be decoded`));
    expect(stdout.match(/^skipped /gm)).toHaveLength(fixtures.length - good.length);
    const loss = Number(stdout.match(/last loss ([\d.]+)/)?.[1]);
    expect(Number.isFinite(loss)).toBe(true);
    const adapter = readAdapterFile(new Uint8Array(readFileSync(out)), parseManifest(readFileSync(`${PACKAGE}/manifest.json`, 'utf8'), PACKAGE));
    expect(adapter.metadata.steps).toBe('2');
  }, 12 * 60_000);
});
