import type { Reporter, Suite } from '@playwright/test/reporter';
import { failedName, summaryLine } from './summaryReporter.ts';

/**
 * Ends Playwright's run with the same plain line as the vitest run (e2e/support/summaryReporter.ts),
 * `tests: N passed, N failed, N skipped`, after the list reporter's summary (`npm test` then adds the line over
 * both runners, scripts/test.mjs). A test that did not run (skipped, or after a failure in a serial group) counts
 * as skipped; an error outside any test (a file that does not load) counts as a failure, as vitest counts a
 * file that failed before its tests.
 */
export default class PlaywrightSummaryReporter implements Reporter {
  private suite: Suite | undefined;
  private errors = 0;

  onBegin(_config: unknown, suite: Suite): void {
    this.suite = suite;
  }

  onError(): void {
    this.errors++;
  }

  onEnd(): void {
    let passed = 0;
    let failed = this.errors;
    let skipped = 0;
    const failedNames = this.errors > 0 ? [`${this.errors} error(s) outside any test`] : [];
    for (const test of this.suite?.allTests() ?? []) {
      const outcome = test.outcome();
      if (outcome === 'expected' || outcome === 'flaky') passed++;
      else if (outcome === 'unexpected') {
        failed++;
        failedNames.push(failedName(`${test.location.file.split('/e2e/').pop()} › ${test.titlePath().filter(Boolean).join(' › ')}`,
          test.results.at(-1)?.error?.message));
      } else skipped++;
    }
    process.stdout.write(summaryLine('playwright', passed, failed, skipped, failedNames));
  }

  printsToStdio(): boolean {
    return true;
  }
}
