// `npm test`: every test, in order — the type check of the four projects (tsc -b), the unit and Node tests
// (vitest), the browser tests (Playwright's runner), the Python package's tests (python/tests/run_tests.py:
// unittest, a few seconds; torch and transformers tests skip where those are missing) — and one last line over
// the three runners,
// `tests: N passed, N failed, N skipped`, which CI reads. A failing runner does not stop the next one (a unit
// failure should not hide the browser tests' state); the exit status is non-zero if any step failed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const summaries = mkdtempSync(join(tmpdir(), 'adalink-tests-'));
const env = { ...process.env, ADALINK_SUMMARY_DIR: summaries };
const run = (command, args) => spawnSync(command, args, { stdio: 'inherit', env }).status ?? 1;

let status = run('npx', ['tsc', '-b']);
if (status !== 0) process.exit(status);
const runners = {
  vitest: run('npx', ['vitest', 'run']),
  playwright: run('npx', ['playwright', 'test']),
  python: run('python3', [join('python', 'tests', 'run_tests.py')]),
};

const total = { passed: 0, failed: 0, skipped: 0 };
const parts = [];
for (const [runner, code] of Object.entries(runners)) {
  let counts;
  try {
    counts = JSON.parse(readFileSync(join(summaries, `${runner}.json`), 'utf8'));
  } catch {
    counts = { passed: 0, failed: 1, skipped: 0 }; // The runner ended before its reporter wrote: count it failed.
  }
  if (code !== 0 && counts.failed === 0) counts.failed = 1;
  for (const key of Object.keys(total)) total[key] += counts[key];
  parts.push(`${runner} ${counts.passed}/${counts.passed + counts.failed + counts.skipped}`);
  status ||= code;
}
rmSync(summaries, { recursive: true, force: true });
process.stdout.write(`\n(${parts.join(', ')} passed)\ntests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped\n`);
process.exit(status);
