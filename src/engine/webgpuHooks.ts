/**
 * The one place that changes WebGPU's prototypes. Two kinds of hook:
 *  - scoped (`hookMethod`): in place until its undo is called — the command recorder's, around one ORT run;
 *    a method carries one scoped hook at a time, so a second recording inside the first throws instead of
 *    wrapping (and later unwrapping) the wrong function;
 *  - for the life of the thread (`hookForever`), installed once per name — GPU memory accounting, and in
 *    Node the copy of shared-memory views that Dawn's writeBuffer needs (src/cli/nodeGpu.ts); refused while a
 *    scoped hook is on the same method, whose undo would take it off again.
 */

export type Method = (...args: unknown[]) => unknown;
type Wrap = (original: Method) => (this: unknown, ...args: unknown[]) => unknown;

/** prototype → the names of its methods that carry a scoped hook now. */
const scoped = new Map<object, Set<string>>();
const forever = new Set<string>();

function methodName(prototype: object, name: string): string {
  return `${(prototype as { constructor?: { name?: string } }).constructor?.name ?? 'prototype'}.${name}`;
}

/** Replaces `name` on `prototype` with `wrap(original)` until the returned undo is called. */
export function hookMethod(prototype: object, name: string, wrap: Wrap): () => void {
  const names = scoped.get(prototype) ?? new Set<string>();
  if (names.has(name)) throw new Error(`${methodName(prototype, name)} is already hooked: WebGPU hooks do not nest`);
  names.add(name);
  scoped.set(prototype, names);
  const slots = prototype as Record<string, Method>;
  const original = slots[name];
  slots[name] = wrap(original);
  return () => {
    slots[name] = original;
    names.delete(name);
  };
}

/** Replaces `name` on `prototype` with `wrap(original)` for good, once per `key`; false when already done. */
export function hookForever(key: string, prototype: object, name: string, wrap: Wrap): boolean {
  if (forever.has(key)) return false;
  if (scoped.get(prototype)?.has(name)) throw new Error(`${methodName(prototype, name)} carries a scoped hook: install "${key}" before it or after it`);
  forever.add(key);
  const slots = prototype as Record<string, Method>;
  slots[name] = wrap(slots[name]);
  return true;
}
