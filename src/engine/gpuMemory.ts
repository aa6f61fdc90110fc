/**
 * GPU memory in use, as the engine sees it (the studio's worker, the benchmarks): every buffer created on
 * any GPUDevice of this thread (ORT's included — ORT and the engine share one device) and not yet destroyed. WebGPU offers no query of the
 * driver's own figure, so this counts what the studio and ONNX Runtime asked for. Installed once, before
 * the first device exists (src/engine/webgpuHooks.ts).
 *
 * Each live buffer has a kind, so that the peak can be split (bench/trainStep.ts prints the table):
 *  - a buffer created while a scope is open (`withMemoryKind(kind, run)`) gets the innermost open scope's kind;
 *    ONNX Runtime's sessions open one around their creation (`ort weights: …`) and each run (`ort run: …`),
 *    src/engine/onnxRuntime.ts; the engine around its own state (trainer.ts, frozenVjp.ts);
 *  - outside any scope: `engine: <label>` (digits as #), or `unlabelled`;
 *  - `setMemoryKind` moves buffers to another kind later: a session's run buffers become `ort cache: …` when
 *    the run ends (ORT keeps what a run freed for later runs, undestroyed) or `ort captured graph: …` for a
 *    captured session (its replays bind them);
 *  - a buffer of ORT's cache that a scope uses again (bound in a bind group, or a copy's destination) is
 *    claimed by that scope: ORT hands out cached buffers without createBuffer.
 * Scopes follow time, not async context (browsers have no async context): a scope is open from its start
 * until its promise settles, and the innermost open one is the last opened. The engine opens them one after
 * another (it awaits each ORT call); scopes that end out of order are counted (`memoryScopesOverlapped`),
 * as their buffers may carry the other's kind.
 */
import { hookForever } from './webgpuHooks.ts';

/** Kinds that name ORT's cache of freed buffers start so (a later scope may claim them). */
export const ORT_CACHE = 'ort cache';

interface Scope {
  kind: string;
  /** Collects the buffers created or claimed while this scope was the innermost. */
  owned?: GPUBuffer[];
}

let liveBytes = 0;
/** The most `liveBytes` has been since install or resetGpuPeak (as PyTorch's max_memory_allocated). */
let peakBytes = 0;
const live = new WeakMap<GPUBuffer, { size: number; kind: string }>();
const bytesByKind = new Map<string, number>();
let peakByKind = new Map<string, number>();
const scopes: Scope[] = [];
let overlapped = 0;

function count(kind: string, bytes: number): void {
  const now = (bytesByKind.get(kind) ?? 0) + bytes;
  if (now === 0) bytesByKind.delete(kind);
  else bytesByKind.set(kind, now);
}

function retag(buffer: GPUBuffer, kind: string): void {
  const entry = live.get(buffer);
  if (!entry || entry.kind === kind) return;
  count(entry.kind, -entry.size);
  count(kind, entry.size);
  entry.kind = kind;
}

/** A buffer used inside a scope: if it sat in ORT's cache, the scope has taken it. */
function claim(buffer: GPUBuffer | undefined): void {
  const scope = scopes[scopes.length - 1];
  if (!scope || !buffer || !live.get(buffer)?.kind.startsWith(ORT_CACHE)) return;
  retag(buffer, scope.kind);
  scope.owned?.push(buffer);
}

/**
 * Installs the accounting. `byKind` also follows buffers ORT takes back from its cache (a hook on every bind group
 * and every buffer copy): the benchmarks and tests that split the peak by kind ask for it; the studio's worker,
 * which shows only the total, does not pay for it on each dispatch (its kinds then leave reused cached buffers
 * under `ort cache`).
 */
export function trackGpuMemory({ byKind = false }: { byKind?: boolean } = {}): void {
  if (typeof GPUDevice === 'undefined') return;
  hookForever('gpu memory: createBuffer', GPUDevice.prototype, 'createBuffer', (create) => function createBuffer(this: unknown, ...args: unknown[]) {
    const descriptor = args[0] as GPUBufferDescriptor;
    const buffer = create.apply(this, args) as GPUBuffer;
    const scope = scopes[scopes.length - 1];
    const kind = scope?.kind ?? (descriptor.label ? `engine: ${descriptor.label.replace(/\d+/g, '#')}` : 'unlabelled');
    live.set(buffer, { size: descriptor.size, kind });
    scope?.owned?.push(buffer);
    count(kind, descriptor.size);
    liveBytes += descriptor.size;
    if (liveBytes > peakBytes) {
      peakBytes = liveBytes;
      peakByKind = new Map(bytesByKind);
    }
    return buffer;
  });
  hookForever('gpu memory: destroy', GPUBuffer.prototype, 'destroy', (destroy) => function destroyBuffer(this: unknown, ...args: unknown[]) {
    const entry = live.get(this as GPUBuffer);
    if (entry) {
      liveBytes -= entry.size;
      count(entry.kind, -entry.size);
      live.delete(this as GPUBuffer);
    }
    return destroy.apply(this, args);
  });
  if (!byKind) return;
  hookForever('gpu memory: createBindGroup', GPUDevice.prototype, 'createBindGroup', (create) => function createBindGroup(this: unknown, ...args: unknown[]) {
    if (scopes.length > 0) {
      for (const { resource } of (args[0] as GPUBindGroupDescriptor).entries) {
        claim(resource instanceof GPUBuffer ? resource : (resource as Partial<GPUBufferBinding>).buffer);
      }
    }
    return create.apply(this, args);
  });
  hookForever('gpu memory: copyBufferToBuffer', GPUCommandEncoder.prototype, 'copyBufferToBuffer', (copy) => function copyBufferToBuffer(this: unknown, ...args: unknown[]) {
    // (source, sourceOffset, destination, …) or (source, destination, size?)
    if (scopes.length > 0) claim((typeof args[1] === 'number' ? args[2] : args[1]) as GPUBuffer);
    return copy.apply(this, args);
  });
}

/**
 * Runs `run` with `kind` as the kind of the buffers created (or claimed from ORT's cache) until it returns or,
 * for a promise, settles; `owned` collects them (to move them to another kind later with setMemoryKind).
 */
export function withMemoryKind<T>(kind: string, run: () => T, owned?: GPUBuffer[]): T {
  const scope: Scope = { kind, owned };
  scopes.push(scope);
  const end = () => {
    const at = scopes.lastIndexOf(scope);
    if (at !== scopes.length - 1) overlapped++;
    scopes.splice(at, 1);
  };
  let result: T;
  try {
    result = run();
  } catch (e) {
    end();
    throw e;
  }
  if (result instanceof Promise) return result.finally(end) as T;
  end();
  return result;
}

/** Moves these buffers (those still alive) to `kind`. */
export function setMemoryKind(buffers: Iterable<GPUBuffer>, kind: string): void {
  for (const buffer of buffers) retag(buffer, kind);
}

/** The kind of a live buffer, or undefined (destroyed, or made before trackGpuMemory). */
export function memoryKindOf(buffer: GPUBuffer): string | undefined {
  return live.get(buffer)?.kind;
}

export function gpuBytesInUse(): number {
  return liveBytes;
}

/** The most bytes in use at any moment since trackGpuMemory or the last resetGpuPeak. */
export function gpuPeakBytes(): number {
  return peakBytes;
}

/** Bytes alive now, per kind, largest first. */
export function gpuBytesByKind(): Record<string, number> {
  return sortedByBytes(bytesByKind);
}

/** Bytes alive per kind at the moment of gpuPeakBytes, largest first. */
export function gpuPeakBytesByKind(): Record<string, number> {
  return sortedByBytes(peakByKind);
}

/** Scopes that ended while a later one was still open (their buffers may carry each other's kinds). */
export function memoryScopesOverlapped(): number {
  return overlapped;
}

export function resetGpuPeak(): void {
  peakBytes = liveBytes;
  peakByKind = new Map(bytesByKind);
}

function sortedByBytes(bytes: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...bytes].sort((a, b) => b[1] - a[1]));
}
