/**
 * The input side shared by training and generation: a batch's cached image features and prompt
 * embeddings, each adapted modality passed through AdaLink's forward (Ẽ = E + dropout(E·Wdown)·Wup).
 * Encodes the work into the caller's command encoder; buffers come from the caller's pool.
 *
 * An adapter may apply to some rows (examples) of the batch only (`rows`: generation with one adapter per
 * task). Rows are contiguous in the flattened buffers (row b = tokens [b·T, (b+1)·T)), so such a modality's
 * Ẽ starts as a copy of E; each adapter's rows are gathered into scratch buffers (one copy per run of
 * consecutive rows), adapted there, and copied back.
 */
import { adalinkForward } from '../kernels/adalinkForward.ts';
import { embeddingLookup } from '../kernels/embeddingLookup.ts';
import type { Modality } from '../config.ts';
import type { BufferPool } from './gpuBuffers.ts';
import type { ModelManifest } from '../formats/manifest.ts';

export interface AdapterOnGpu {
  modality: Modality;
  r: number;
  Wdown: GPUBuffer;
  Wup: GPUBuffer;
  /** Dropout probability and key of this step (p = 0: none). */
  p: number;
  key: number;
  /**
   * The batch rows (examples) it adapts, ascending; absent = every row. The adapters of one modality then
   * cover disjoint rows, and rows none covers keep E.
   */
  rows?: readonly number[];
}

export interface AdaptedEmbeddings {
  /** Flattened token counts: B·Ni image tokens, B·Nt prompt tokens. */
  tokens: Record<Modality, number>;
  /** E per modality, f32 [tokens, d]. */
  embeds: Record<Modality, GPUBuffer>;
  /** Ẽ per modality (E itself where the modality has no adapter). */
  adapted: Record<Modality, GPUBuffer>;
  /** H = dropout(E·Wdown) per modality adapted on every row, kept for the backward pass. */
  hidden: Map<Modality, GPUBuffer>;
}

export function encodeAdaptedEmbeddings(
  device: GPUDevice,
  encoder: GPUCommandEncoder,
  pool: BufferPool,
  manifest: ModelManifest,
  batch: { features: GPUBuffer; imageIndices: number[]; promptIds: Uint32Array<ArrayBuffer>; promptLength: number; embeddingTable: GPUBuffer },
  adapters: readonly AdapterOnGpu[],
): AdaptedEmbeddings {
  const d = manifest.d_model;
  const Ni = manifest.image.tokens;
  const B = batch.imageIndices.length;
  const tokens: Record<Modality, number> = { image: B * Ni, text: B * batch.promptLength };
  const embeds: Record<Modality, GPUBuffer> = {
    image: pool.get('image embeds', tokens.image * d * 4),
    text: pool.get('text embeds', tokens.text * d * 4),
  };
  const promptIds = pool.get('prompt ids', tokens.text * 4);
  device.queue.writeBuffer(promptIds, 0, batch.promptIds);

  const bytesPerImage = Ni * d * 4;
  batch.imageIndices.forEach((image, b) => encoder.copyBufferToBuffer(batch.features, image * bytesPerImage, embeds.image, b * bytesPerImage, bytesPerImage));
  embeddingLookup(device, encoder, { ids: promptIds, table: batch.embeddingTable, embeddings: embeds.text, N: tokens.text, d, V: manifest.text.vocab_size });

  const adapted: Record<Modality, GPUBuffer> = { ...embeds };
  const hidden = new Map<Modality, GPUBuffer>();
  const rowTokens: Record<Modality, number> = { image: Ni, text: batch.promptLength };
  for (const modality of new Set(adapters.map((a) => a.modality))) {
    const own = adapters.filter((a) => a.modality === modality);
    const N = tokens[modality];
    adapted[modality] = pool.get(`adapted ${modality}`, N * d * 4);
    if (own.length === 1 && !own[0].rows) {
      const a = own[0];
      hidden.set(modality, pool.get(`${modality} H`, N * a.r * 4));
      adalinkForward(device, encoder, {
        E: embeds[modality], Wdown: a.Wdown, Wup: a.Wup, H: hidden.get(modality)!, adapted: adapted[modality],
        N, d, r: a.r, p: a.p, key: a.key,
      });
      continue;
    }
    checkRows(own, B, modality);
    encoder.copyBufferToBuffer(embeds[modality], 0, adapted[modality], 0, N * d * 4);
    const rowBytes = rowTokens[modality] * d * 4;
    for (const a of own) {
      const runs = consecutiveRuns(a.rows!);
      const n = a.rows!.length * rowTokens[modality];
      if (n === 0) continue;
      const E = pool.get(`${modality} rows E`, n * d * 4);
      const out = pool.get(`${modality} rows adapted`, n * d * 4);
      let at = 0;
      for (const [first, count] of runs) {
        encoder.copyBufferToBuffer(embeds[modality], first * rowBytes, E, at * rowBytes, count * rowBytes);
        at += count;
      }
      adalinkForward(device, encoder, {
        E, Wdown: a.Wdown, Wup: a.Wup, H: pool.get(`${modality} rows H`, n * a.r * 4), adapted: out,
        N: n, d, r: a.r, p: a.p, key: a.key,
      });
      at = 0;
      for (const [first, count] of runs) {
        encoder.copyBufferToBuffer(out, at * rowBytes, adapted[modality], first * rowBytes, count * rowBytes);
        at += count;
      }
    }
  }
  return { tokens, embeds, adapted, hidden };
}

/** The adapters of one modality, some restricted to rows: each row of [0, B) at most once, ascending per adapter. */
function checkRows(adapters: readonly AdapterOnGpu[], B: number, modality: Modality): void {
  const taken = new Set<number>();
  for (const a of adapters) {
    if (!a.rows) throw new Error(`an ${modality} adapter over every row cannot share the batch with others of its modality`);
    a.rows.forEach((row, i) => {
      if (!Number.isInteger(row) || row < 0 || row >= B || taken.has(row) || (i > 0 && row <= a.rows![i - 1])) {
        throw new Error(`${modality} adapter rows [${a.rows!.join(', ')}] must be ascending rows of the ${B} in the batch, each in one adapter`);
      }
      taken.add(row);
    });
  }
}

/** Ascending rows as [first, count] runs of consecutive rows. */
function consecutiveRuns(rows: readonly number[]): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  for (const row of rows) {
    const last = runs.at(-1);
    if (last && last[0] + last[1] === row) last[1]++;
    else runs.push([row, 1]);
  }
  return runs;
}
