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
const failedNames = [];
for (const [runner, code] of Object.entries(runners)) {
  let counts;
  try {
    counts = JSON.parse(readFileSync(join(summaries, `${runner}.json`), 'utf8'));
  } catch {
    counts = { passed: 0, failed: 1, skipped: 0 }; // The runner ended before its reporter wrote: count it failed.
  }
  if (code !== 0 && counts.failed === 0) counts.failed = 1;
  for (const name of counts.failedNames ?? []) failedNames.push(`${runner}: ${name}`);
  if (code !== 0 && (counts.failedNames ?? []).length === 0) failedNames.push(`${runner}: exited with ${code} (see its output above)`);
  for (const key of Object.keys(total)) total[key] += counts[key] ?? 0;
  parts.push(`${runner} ${counts.passed}/${counts.passed + counts.failed + counts.skipped}`);
  status ||= code;
}
rmSync(summaries, { recursive: true, force: true });
// The failed tests by name, just above the last line, where the tail of a CI log shows them.
const failedLines = failedNames.map((name) => `failed: ${name}\n`).join('');
process.stdout.write(`\n${failedLines}(${parts.join(', ')} passed)\ntests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped\n`);
process.exit(status);
