"""Runs python/tests (unittest) and, under `npm test` (scripts/test.mjs sets ADALINK_SUMMARY_DIR), writes the
counts to $ADALINK_SUMMARY_DIR/python.json as the other runners do: {"passed", "failed", "skipped", "failedNames"}.
Usage: python3 python/tests/run_tests.py   (from anywhere; exit status 1 if a test failed)"""
from __future__ import annotations

import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> int:
    sys.path.insert(0, HERE)
    suite = unittest.defaultTestLoader.discover(HERE, top_level_dir=HERE)
    result = unittest.TextTestRunner(verbosity=1).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped) + len(result.expectedFailures)
    failed_names = [test.id() for test, _ in result.failures + result.errors] + [test.id() for test in result.unexpectedSuccesses]
    counts = {"passed": result.testsRun - failed - skipped, "failed": failed, "skipped": skipped, "failedNames": failed_names}
    for test, reason in result.skipped:
        print(f"skipped: {test.id()}: {reason}")
    print(f"\ntests: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
    folder = os.environ.get("ADALINK_SUMMARY_DIR")
    if folder:
        with open(os.path.join(folder, "python.json"), "w") as f:
            json.dump(counts, f)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
