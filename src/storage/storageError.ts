import { AdaLinkError } from '../engine/errors.ts';

/** Browser storage (IndexedDB) refused or lost something. */
export class StorageError extends AdaLinkError {
  constructor(problem: string, where: string, fix: string) {
    super('format', problem, where, fix);
    this.name = 'StorageError';
  }
}
