/** The DatasetError a call throws (for checking its message); fails the test when it throws something else or nothing. */
import { expect } from 'vitest';
import { DatasetError } from '../../errors.ts';

export async function datasetError(run: () => unknown): Promise<DatasetError> {
  try {
    await run();
  } catch (e) {
    expect(e).toBeInstanceOf(DatasetError);
    return e as DatasetError;
  }
  throw new Error('expected a DatasetError, nothing was thrown');
}
