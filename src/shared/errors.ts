/**
 * Errors that cross from the worker to the UI keep what a person reads: the problem, where, and what
 * to do (src/errors.ts). Comlink's own handler sends only message, name and stack; the worker
 * installs this one, and the UI's side of comlink copies every field it receives onto the Error.
 */
import * as Comlink from 'comlink';

export interface ReadableError {
  name: string;
  message: string;
  problem?: string;
  where?: string;
  fix?: string;
}

/** What the worker posts once its module has loaded and the API is exposed. */
export const ENGINE_READY = { adalinkEngine: 'ready' } as const;

/** What the worker posts when its GPU device is lost (GPUDevice.lost): the engine cannot go on in it. */
export interface EngineDeviceLost {
  adalinkEngine: 'device lost';
  reason: string;
  message: string;
}

export function isDeviceLostMessage(data: unknown): data is EngineDeviceLost {
  return typeof data === 'object' && data !== null && (data as { adalinkEngine?: unknown }).adalinkEngine === 'device lost';
}

export function isDeviceLost(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'DeviceLostError';
}

/** Installs the throw handler (call once in the worker). */
export function sendReadableErrors(): void {
  const original = Comlink.transferHandlers.get('throw')!;
  Comlink.transferHandlers.set('throw', {
    canHandle: original.canHandle,
    serialize(thrown: unknown) {
      const value = (thrown as { value: unknown }).value;
      if (value instanceof Error) {
        const e = value as Error & Partial<ReadableError>;
        const fields: ReadableError = { name: e.name, message: e.message };
        if (typeof e.problem === 'string') Object.assign(fields, { problem: e.problem, where: e.where, fix: e.fix });
        return [{ isError: true, value: { ...fields, stack: e.stack } }, []];
      }
      return original.serialize(thrown);
    },
    deserialize: original.deserialize,
  });
}

/** What to show for any error: problem / where / fix when the engine said them, the message otherwise. */
export function readableError(e: unknown): ReadableError {
  if (e && typeof e === 'object' && 'message' in e) {
    const error = e as Partial<ReadableError> & { message: string };
    return { name: error.name ?? 'Error', message: error.message, problem: error.problem, where: error.where, fix: error.fix };
  }
  return { name: 'Error', message: String(e) };
}
