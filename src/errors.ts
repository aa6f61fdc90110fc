/**
 * Typed errors, raised where bad input enters. Each says what is wrong, where, and what to do, so the
 * UI and the command line can show `message` to a person as it is.
 */
export type ErrorKind = 'package' | 'dataset' | 'config' | 'format' | 'gpu' | 'training' | 'engine' | 'storage' | 'metric';

export class AdaLinkError extends Error {
  constructor(
    readonly kind: ErrorKind,
    /** What is wrong. */
    readonly problem: string,
    /** Where: a file, a field, a row. */
    readonly where: string,
    /** What the person can do about it. */
    readonly fix: string,
  ) {
    super(`${problem} (${where}). ${fix}`);
    this.name = `${kind[0].toUpperCase()}${kind.slice(1)}Error`;
  }
}

/** A model package that cannot be used: missing file, bad manifest, a graph that is not what it says. */
export class PackageError extends AdaLinkError {
  constructor(problem: string, where: string, fix: string) {
    super('package', problem, where, fix);
  }
}

/** A dataset row or file that cannot be read. */
export class DatasetError extends AdaLinkError {
  constructor(problem: string, where: string, fix: string) {
    super('dataset', problem, where, fix);
  }
}

/** A training setting out of range. */
export class ConfigError extends AdaLinkError {
  constructor(problem: string, where: string, fix: string) {
    super('config', problem, where, fix);
  }
}

/** A file in one of the project's formats (safetensors, state) that is malformed. */
export class FormatError extends AdaLinkError {
  constructor(problem: string, where: string, fix: string) {
    super('format', problem, where, fix);
  }
}

/** No usable WebGPU device. */
export class GpuError extends AdaLinkError {
  constructor(problem: string, where: string, fix: string) {
    super('gpu', problem, where, fix);
  }
}

/** Training went wrong on the way (e.g. the loss became NaN); the last good adapter is kept. */
export class TrainingError extends AdaLinkError {
  constructor(problem: string, where: string, fix: string) {
    super('training', problem, where, fix);
  }
}

/** The engine's worker did not start (its script failed to load or threw while loading). */
export class EngineStartError extends AdaLinkError {
  constructor(problem: string, where: string, fix: string) {
    super('engine', problem, where, fix);
  }
}

/**
 * The engine's GPU device was lost (a driver reset, the GPU unplugged or taken by another app, or a test
 * destroying it). Every call in flight in that engine rejects with this; the bridge starts a new engine.
 */
export class DeviceLostError extends GpuError {
  constructor(reason: string, message: string) {
    super(`the GPU device was lost (${reason}${message ? `: ${message}` : ''})`, 'WebGPU device',
      'The studio starts its engine again on a new device and resumes training from the last checkpoint.');
    this.name = 'DeviceLostError';
  }
}

/** Browser storage (IndexedDB) refused or lost something (src/storage/storageError.ts raises it). */
export class StorageError extends AdaLinkError {
  constructor(problem: string, where: string, fix: string) {
    super('storage', problem, where, fix);
    this.name = 'StorageError';
  }
}

/**
 * The site's storage is full (a QuotaExceededError): the write was refused as a whole — an IndexedDB
 * transaction that fails changes nothing — so everything stored before it is still there.
 */
export class StorageFullError extends StorageError {
  constructor(problem: string, where: string, fix: string) {
    super(problem, where, fix);
    this.name = 'StorageFullError';
  }
}

/** The one error the caption metrics raise (src/eval/): where is the id of the image or question. */
export class MetricInputError extends AdaLinkError {
  constructor(problem: string, where: string, fix: string) {
    super('metric', problem, where, fix);
    this.name = 'MetricInputError';
  }
}

/** Long text (a 10 MB name) cut for a message: a message is read by a person. */
export function shorten(text: string, max = 80): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

/**
 * A value as a message shows it: its JSON, cut to `max` characters, and of an array or object only the
 * first few items, so a hostile value (10 MB long, 100 000 levels deep) costs a message no more than a glance.
 */
export function shown(value: unknown, max = 60): string {
  let text: string;
  // One level only, and never JSON.stringify of a container: its recursion overflows the stack on deep values.
  const item = (v: unknown) => (Array.isArray(v) ? '[…]' : typeof v === 'object' && v !== null ? '{…}' : shown(v, 20));
  if (Array.isArray(value)) {
    text = `[${value.slice(0, 8).map(item).join(', ')}${value.length > 8 ? ', …' : ''}]`;
  } else if (typeof value === 'object' && value !== null) {
    const keys = Object.keys(value);
    const entries = keys.slice(0, 8).map((k) => `${shown(k, 20)}: ${item((value as Record<string, unknown>)[k])}`);
    text = `{${entries.join(', ')}${keys.length > 8 ? ', …' : ''}}`;
  } else {
    text = typeof value === 'string' ? JSON.stringify(value) : typeof value === 'bigint' ? `${value}n` : String(value);
  }
  return shorten(text, max);
}

/**
 * Runs `f`; an AdaLinkError of another kind (a FormatError of a reader the package code calls) becomes a
 * PackageError with the same parts, `where` given where it had none: the person sees one kind per step.
 */
export function asPackageError<T>(f: () => T, where: string): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof AdaLinkError && !(e instanceof PackageError)) throw new PackageError(e.problem, e.where || where, e.fix);
    throw e;
  }
}
