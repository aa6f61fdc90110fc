/**
 * Tile shapes of the AdaLink matrix products and the kernel specs built from tiledMatmul.wgsl (the shared
 * register-blocked loop) + a kernel's own WGSL. One pipeline per (kernel, tile shape, variant), cached per
 * device by `getKernel` under a name that holds the shape.
 */
import snippet from './tiledMatmul.wgsl?raw';
import type { BindingKind, KernelSpec } from './common.ts';

/**
 * Invocations WG_X (along columns) × WG_Y (along rows), TM × TN outputs each, BK of the k range per step;
 * `ks` (optional, a multiple of BK): the k range is cut into slices of ks, each summed by workgroups of its
 * own into partials that a second pass adds in slice order (more workgroups when the outputs are few).
 */
export interface TileConfig {
  readonly wgX: number;
  readonly wgY: number;
  readonly tm: number;
  readonly tn: number;
  readonly bk: number;
  readonly ks?: number;
}

/** The kernels built on the shared loop. */
export type TiledKernel = 'adalinkDown' | 'adalinkUp' | 'adalinkHiddenGrad' | 'maskedXtYChunkPartials';

/** WebGPU's default limits, which the engine's device (onnxruntime-web's) is only sure to have. */
const MAX_WORKGROUP_STORAGE = 16384;
const MAX_INVOCATIONS = 256;

export const tileRows = (c: TileConfig) => c.wgY * c.tm;
export const tileCols = (c: TileConfig) => c.wgX * c.tn;

/** Bytes of workgroup memory the tiles take (k-major, each row padded by one vec4). */
export function tileStorageBytes(c: TileConfig): number {
  return c.bk * (tileRows(c) / 4 + 1) * 16 + c.bk * (tileCols(c) / 4 + 1) * 16;
}

export function checkTileConfig(c: TileConfig): void {
  const ok =
    [c.wgX, c.wgY, c.tm, c.tn, c.bk].every((v) => Number.isInteger(v) && v >= 1) &&
    c.tm % 4 === 0 &&
    c.tn % 4 === 0 &&
    c.wgX * c.wgY <= MAX_INVOCATIONS &&
    tileStorageBytes(c) <= MAX_WORKGROUP_STORAGE &&
    (c.ks === undefined || (Number.isInteger(c.ks) && c.ks >= c.bk && c.ks % c.bk === 0));
  if (!ok) throw new Error(`bad tile config ${JSON.stringify(c)}`);
}

/**
 * The class of a product of `rows` × `cols` outputs over a k range of `depth`, which decides its tile.
 * Shapes come in few classes, so that few pipelines get compiled:
 *  - `wide`: ≥ 48 columns; TM = 4 only for the partials of dWup at r ≤ 64 rows, TN = 8 from 128 columns;
 *  - `narrowW` (W = 1, 4, 8): < 48 columns (adalinkDown, adalinkHiddenGrad, dWdown's partials at small rank);
 *  - `fewW`: the partials of dWup at rank < 48 (fewer rows than columns), the narrow case transposed;
 * then `.k4` / `.k8` / `.k64` for a k range that short (adalinkUp: k = r), and a size: `.n2k` / `.n8k` for
 * the N-row kernels (all but the partials) at N ≤ 2048 / ≤ 8192, `.c256` for partials over chunks of
 * ≤ 256 rows (N ≤ 8192): small products need smaller tiles or k slices to fill the GPU.
 */
export function tileClass(kernel: TiledKernel, rows: number, cols: number, depth: number): string {
  const partials = kernel === 'maskedXtYChunkPartials';
  const k = depth <= 4 ? '.k4' : depth <= 8 ? '.k8' : depth <= 64 ? '.k64' : '';
  const size = partials ? (depth <= 256 ? '.c256' : '') : rows <= 2048 ? '.n2k' : rows <= 8192 ? '.n8k' : '';
  if (partials && rows < 48 && rows < cols) return `few${rows <= 4 ? 1 : rows <= 16 ? 4 : 8}${k}${size}`;
  if (cols >= 48) return `wide.tm${partials && rows <= 64 ? 4 : 8}.tn${cols >= 128 ? 8 : 4}${k}${size}`;
  return `narrow${cols <= 4 ? 1 : cols <= 16 ? 4 : 8}${k}${size}`;
}

/** The generic tile of a class (before tuning): 256 invocations of 4 × 4 to 8 × 8 outputs. */
function genericTile(cls: string): TileConfig {
  const [shape, ...rest] = cls.split('.');
  let c: TileConfig;
  if (shape === 'wide') {
    const tm = rest.includes('tm4') ? 4 : 8;
    const tn = rest.includes('tn8') ? 8 : 4;
    c = { wgX: 16, wgY: 16, tm, tn, bk: tm * tn >= 64 ? 8 : 16 };
  } else {
    const w = Number(shape.replace(/\D/g, ''));
    const narrow = { wgX: w, wgY: Math.min(64, 256 / w), tm: 4, tn: 4, bk: w >= 8 ? 16 : 8 };
    c = shape.startsWith('few') ? { ...narrow, wgX: narrow.wgY, wgY: narrow.wgX } : narrow;
  }
  return { ...c, bk: rest.includes('k4') ? 4 : rest.includes('k8') ? Math.min(8, c.bk) : c.bk };
}

const T = (wgX: number, wgY: number, tm: number, tn: number, bk: number, ks?: number): TileConfig =>
  ks ? { wgX, wgY, tm, tn, bk, ks } : { wgX, wgY, tm, tn, bk };

/**
 * Tiles measured best on an H100 by bench/kernelTiles.ts (docs/BENCHMARKS.md "Kernel roofline"), by kernel
 * and class, at d = 1024 and r ∈ {4, 64, 256}: the large classes at N = 32768, `.n8k` at N = 4096, `.n2k`
 * and `.c256` at N = 1024 (bench/results/kernel-tiles*.json); the other classes get genericTile.
 */
const TUNED: Partial<Record<TiledKernel, Record<string, TileConfig>>> = {
  adalinkDown: {
    narrow1: T(1, 32, 4, 4, 8, 256),
    'wide.tm8.tn4': T(8, 32, 4, 8, 16),
    'wide.tm8.tn8': T(16, 16, 8, 4, 8),
    'narrow1.n8k': T(1, 64, 4, 4, 4, 128),
    'wide.tm8.tn4.n8k': T(8, 32, 4, 8, 16, 256),
    'wide.tm8.tn8.n8k': T(16, 16, 8, 4, 16),
    'narrow1.n2k': T(1, 32, 4, 4, 16, 128),
    'wide.tm8.tn4.n2k': T(16, 16, 4, 4, 16, 128),
    'wide.tm8.tn8.n2k': T(16, 16, 8, 4, 16, 256),
  },
  adalinkUp: {
    'wide.tm8.tn8': T(8, 32, 4, 8, 16),
    'wide.tm8.tn8.k4': T(16, 16, 4, 4, 4),
    'wide.tm8.tn8.k64': T(16, 16, 8, 4, 8),
    'wide.tm8.tn8.k4.n8k': T(16, 16, 4, 4, 4),
    'wide.tm8.tn8.k64.n8k': T(16, 16, 8, 8, 8),
    'wide.tm8.tn8.n8k': T(16, 16, 8, 4, 16),
    'wide.tm8.tn8.k4.n2k': T(16, 8, 4, 4, 4),
    'wide.tm8.tn8.k64.n2k': T(16, 16, 4, 4, 16),
    'wide.tm8.tn8.n2k': T(16, 16, 4, 4, 16),
  },
  adalinkHiddenGrad: {
    narrow1: T(1, 32, 4, 4, 8, 256),
    'wide.tm8.tn4': T(16, 16, 8, 4, 16),
    'wide.tm8.tn8': T(16, 16, 4, 8, 16),
    'narrow1.n8k': T(1, 32, 4, 4, 16, 128),
    'wide.tm8.tn4.n8k': T(16, 16, 4, 4, 16, 256),
    'wide.tm8.tn8.n8k': T(16, 16, 4, 8, 16),
    'narrow1.n2k': T(1, 64, 8, 4, 4, 128),
    'wide.tm8.tn4.n2k': T(16, 8, 8, 4, 16, 128),
    'wide.tm8.tn8.n2k': T(16, 8, 8, 4, 16, 128),
  },
  maskedXtYChunkPartials: {
    few1: T(64, 1, 4, 4, 4, 128),
    narrow1: T(1, 64, 4, 4, 4, 128),
    'wide.tm4.tn8': T(16, 8, 8, 4, 16),
    'wide.tm8.tn4': T(16, 16, 4, 4, 8),
    'wide.tm8.tn8': T(16, 16, 8, 8, 8),
    'few1.c256': T(32, 1, 4, 4, 8, 64),
    'narrow1.c256': T(1, 32, 4, 4, 8, 64),
    'wide.tm4.tn8.c256': T(16, 8, 8, 4, 16, 64),
    'wide.tm8.tn4.c256': T(16, 8, 8, 4, 16, 64),
    'wide.tm8.tn8.c256': T(16, 16, 4, 4, 16, 128),
  },
};

/** The tile `chooseTile` uses unless a benchmark overrides it. */
export function defaultTile(kernel: TiledKernel, rows: number, cols: number, depth: number): TileConfig {
  const cls = tileClass(kernel, rows, cols, depth);
  return TUNED[kernel]?.[cls] ?? genericTile(cls);
}

const overrides = new Map<TiledKernel, (rows: number, cols: number, depth: number) => TileConfig | undefined>();

/** Benchmarks only: tile shapes for `kernel` other than `defaultTile` (undefined: back to the default). */
export function setTileOverride(
  kernel: TiledKernel,
  choose: ((rows: number, cols: number, depth: number) => TileConfig | undefined) | undefined,
): void {
  if (choose) overrides.set(kernel, choose);
  else overrides.delete(kernel);
}

export function chooseTile(kernel: TiledKernel, rows: number, cols: number, depth: number): TileConfig {
  const c = overrides.get(kernel)?.(rows, cols, depth) ?? defaultTile(kernel, rows, cols, depth);
  checkTileConfig(c);
  return c;
}

/** At most this many f32 of partials for the k slices of one product (64 MiB): fewer slices beyond. */
export const MAX_SLICE_PARTIALS = 2 ** 24;

/**
 * How `tile` cuts a k range of `depth` for a product of `outputs` outputs: `slices` slices of `sliceLength`
 * (a multiple of BK; the last one shorter), at most `maxPartials` / `outputs` slices. One slice when the tile
 * has no `ks`. A function of the shape and the tile only, so sums are reproducible.
 */
export function kSlicing(
  depth: number,
  tile: TileConfig,
  outputs: number,
  maxPartials = MAX_SLICE_PARTIALS,
): { slices: number; sliceLength: number } {
  if (!tile.ks || tile.ks >= depth || depth === 0) return { slices: 1, sliceLength: Math.max(depth, 1) };
  const most = Math.max(1, Math.floor(maxPartials / Math.max(outputs, 1)));
  const wanted = Math.min(Math.ceil(depth / tile.ks), most);
  const sliceLength = Math.ceil(Math.ceil(depth / wanted) / tile.bk) * tile.bk;
  return { slices: Math.ceil(depth / sliceLength), sliceLength };
}

export interface TiledSpecOptions {
  kernel: TiledKernel;
  /** The kernel's WGSL (defines loadA, loadB and main). */
  code: string;
  bindings: ReadonlyArray<readonly [binding: number, kind: BindingKind]>;
  tile: TileConfig;
  aKFastest: boolean;
  bNFastest: boolean;
  /** WGSL put between the constants and the loop (random.wgsl, a variant's helpers). */
  prelude?: string;
  /** Distinguishes pipelines of the same tile with a different prelude. */
  variant?: string;
  /** The kernel writes k-slice partials instead of finished outputs (WGSL constant SPLIT). */
  split?: boolean;
}

export function tiledSpec(o: TiledSpecOptions): KernelSpec {
  const { wgX, wgY, tm, tn, bk } = o.tile;
  const constants = [
    `const WG_X = ${wgX}u;`,
    `const WG_Y = ${wgY}u;`,
    `const TM = ${tm}u;`,
    `const TN = ${tn}u;`,
    `const BK = ${bk}u;`,
    `const A_K_FASTEST = ${o.aKFastest};`,
    `const B_N_FASTEST = ${o.bNFastest};`,
    `const SPLIT = ${o.split ?? false};`,
  ].join('\n');
  return {
    name: `${o.kernel}.main.${wgX}x${wgY}.${tm}x${tn}.k${bk}${o.variant ? `.${o.variant}` : ''}${o.split ? '.split' : ''}`,
    code: [constants, o.prelude ?? '', snippet, o.code].join('\n'),
    entryPoint: 'main',
    bindings: o.bindings,
  };
}
