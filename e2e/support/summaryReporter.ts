import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';

/**
 * The line both runners end with (Playwright's: e2e/support/playwrightSummaryReporter.ts); under `npm test`
 * (scripts/test.mjs, which sets ADALINK_SUMMARY_DIR) the counts and the failed tests' names are also written
 * there, for the lines over both: the names then sit just above the last line, where a CI log's tail shows them.
 */
export function summaryLine(runner: 'vitest' | 'playwright', passed: number, failed: number, skipped: number, failedNames: string[] = []): string {
  const folder = process.env.ADALINK_SUMMARY_DIR;
  if (folder) writeFileSync(join(folder, `${runner}.json`), JSON.stringify({ passed, failed, skipped, failedNames }));
  return `\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`;
}

/** A failed test's name with the start of its error on the same line: a CI log's tail then says why. */
export function failedName(name: string, message: string | undefined): string {
  const why = (message ?? '').replace(/\u001b\[[0-9;]*m/g, '').replace(/\s+/g, ' ').trim();
  return why ? `${name}: ${why.length > 400 ? `${why.slice(0, 400)}…` : why}` : name;
}

/** Ends Vitest's run with one plain line, `tests: N passed, N failed, N skipped`, after its own summary. */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const failedNames: string[] = [];
    for (const module of testModules) {
      if (module.state() === 'failed' && [...module.children.allTests()].length === 0) {
        failed++;
        failedNames.push(`${module.moduleId} (the file failed before its tests)`);
      }
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') {
          failed++;
          failedNames.push(failedName(`${module.relativeModuleId} › ${test.fullName}`, test.result().errors?.[0]?.message));
        } else skipped++;
      }
    }
    process.stdout.write(summaryLine('vitest', passed, failed, skipped, failedNames));
  }
}
