/**
 * The one error the caption metrics raise. Like the engine's errors, its message says what is wrong,
 * where (which id, which reference) and what to do, so it can be shown to a person as it is.
 */
export class MetricInputError extends Error {
  constructor(
    /** What is wrong. */
    readonly problem: string,
    /** Where: the id of the image / question, and the reference index where it matters. */
    readonly where: string,
    /** What the caller can do about it. */
    readonly fix: string,
  ) {
    super(`${problem} (${where}). ${fix}`);
    this.name = 'MetricInputError';
  }
}
