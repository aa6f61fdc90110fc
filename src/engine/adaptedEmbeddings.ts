/**
 * The input side shared by training and generation: a batch's cached image features and prompt
 * embeddings, each adapted modality passed through AdaLink's forward (Ẽ = E + dropout(E·Wdown)·Wup).
 * Encodes the work into the caller's command encoder; buffers come from the caller's pool.
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
}

export interface AdaptedEmbeddings {
  /** Flattened token counts: B·Ni image tokens, B·Nt prompt tokens. */
  tokens: Record<Modality, number>;
  /** E per modality, f32 [tokens, d]. */
  embeds: Record<Modality, GPUBuffer>;
  /** Ẽ per modality (E itself where the modality has no adapter). */
  adapted: Record<Modality, GPUBuffer>;
  /** H = dropout(E·Wdown) per adapted modality, kept for the backward pass. */
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
  for (const a of adapters) {
    const N = tokens[a.modality];
    adapted[a.modality] = pool.get(`adapted ${a.modality}`, N * d * 4);
    hidden.set(a.modality, pool.get(`${a.modality} H`, N * a.r * 4));
    adalinkForward(device, encoder, {
      E: embeds[a.modality], Wdown: a.Wdown, Wup: a.Wup, H: hidden.get(a.modality)!, adapted: adapted[a.modality],
      N, d, r: a.r, p: a.p, key: a.key,
    });
  }
  return { tokens, embeds, adapted, hidden };
}
