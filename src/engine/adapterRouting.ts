/**
 * Which adapter each example of a generation goes through: one adapter set for all (a plain array, empty =
 * the frozen model), or one per task (RoutedAdapters: example i through adapters[route[i]], −1 = frozen).
 * Checks the choice, uploads every set it uses once, and says for each batch which rows each set adapts.
 */
import type { AdapterWeights } from '../formats/adapterFile.ts';
import { MODALITIES, type Modality } from '../config.ts';
import { ConfigError } from '../errors.ts';
import type { AdapterOnGpu } from './adaptedEmbeddings.ts';
import { storageBuffer } from './gpuBuffers.ts';

/** Per-example adapters: example i goes through adapters[route[i]] (route[i] = -1: the frozen model). */
export interface RoutedAdapters { adapters: ReadonlyArray<readonly AdapterWeights[]>; route: readonly number[] }
export type AdapterChoice = readonly AdapterWeights[] | RoutedAdapters;

/** A checked choice: the sets, and each example's set (−1: none). */
export interface AdapterRoute { sets: ReadonlyArray<readonly AdapterWeights[]>; route: readonly number[] }

/** Checks `choice` for `examples` examples of a model with d_model `d` (ConfigError: what, where, what to do). */
export function resolveAdapterChoice(choice: AdapterChoice, examples: number, d: number): AdapterRoute {
  if (isAdapterSet(choice)) {
    checkAdapterSet(choice, d, 'adapter');
    return { sets: [choice], route: new Array<number>(examples).fill(choice.length > 0 ? 0 : -1) };
  }
  const { adapters, route } = choice;
  if (!Array.isArray(adapters) || !Array.isArray(route)) {
    throw new ConfigError('routed adapters need an array of adapter sets and an array of routes', 'routed adapters', 'Give { adapters: [set, …], route: [index per example] }.');
  }
  if (route.length !== examples) {
    throw new ConfigError(`${route.length} routes for ${examples} examples`, 'routed adapters', 'Give one route per example (its adapter set\'s index, or -1 for the frozen model).');
  }
  route.forEach((r, i) => {
    if (!Number.isInteger(r) || r < -1 || r >= adapters.length) {
      throw new ConfigError(`route ${r} is not -1 or the index of one of the ${adapters.length} adapter sets`, `route of example ${i}`,
        `Route each example to an adapter set from 0 to ${adapters.length - 1}, or to -1 for the frozen model.`);
    }
  });
  adapters.forEach((set, k) => checkAdapterSet(set, d, `adapter set ${k}`));
  return { sets: adapters, route };
}

function isAdapterSet(choice: AdapterChoice): choice is readonly AdapterWeights[] {
  return Array.isArray(choice);
}

/** One adapter set: at most one adapter per modality, weights of its rank and d_model. */
export function checkAdapterSet(adapter: readonly AdapterWeights[], d: number, label: string): void {
  if (!Array.isArray(adapter)) throw new ConfigError('an adapter set must be an array of adapters', label, 'Give the adapter\'s weights, one entry per modality.');
  const seen = new Set<Modality>();
  for (const w of adapter) {
    const where = `${label} (${w.modality})`;
    if (!MODALITIES.includes(w.modality) || seen.has(w.modality)) {
      throw new ConfigError(`modality ${JSON.stringify(w.modality)} is unknown or given twice`, where, 'Give at most one adapter per modality, "image" or "text".');
    }
    seen.add(w.modality);
    if (!Number.isInteger(w.rank) || w.rank < 1 || w.wdown.length !== d * w.rank || w.wup.length !== w.rank * d) {
      throw new ConfigError(`weights of ${w.wdown.length} and ${w.wup.length} floats do not fit rank ${w.rank} and d_model ${d}`, where,
        'Use an adapter trained for this model.');
    }
  }
}

type AdapterBuffers = Array<AdapterWeights & { Wdown: GPUBuffer; Wup: GPUBuffer }>;

/** The sets of a route on the GPU, each uploaded once (only those some example uses). */
export class UploadedAdapters {
  private readonly buffers: Array<AdapterBuffers | undefined>;

  constructor(device: GPUDevice, private readonly choice: AdapterRoute) {
    const used = new Set(choice.route);
    this.buffers = choice.sets.map((set, k) => (used.has(k) ? set.map((w) => ({
      ...w,
      Wdown: storageBuffer(device, `${w.modality}.wdown`, w.wdown),
      Wup: storageBuffer(device, `${w.modality}.wup`, w.wup),
    })) : undefined));
  }

  /**
   * The adapters of the batch of examples [start, start + size), dropout off: a set that every row uses
   * applies to the whole batch (as one adapter always did), the others to their rows only.
   */
  forBatch(start: number, size: number): AdapterOnGpu[] {
    const route = this.choice.route.slice(start, start + size);
    return this.buffers.flatMap((set, k) => {
      const rows = route.flatMap((r, b) => (r === k ? [b] : []));
      if (!set || rows.length === 0) return [];
      return set.map((a) => ({
        modality: a.modality, r: a.rank, Wdown: a.Wdown, Wup: a.Wup, p: 0, key: 0,
        ...(rows.length === route.length ? {} : { rows }),
      }));
    });
  }

  destroy(): void {
    for (const set of this.buffers) for (const a of set ?? []) [a.Wdown, a.Wup].forEach((b) => b.destroy());
  }
}
