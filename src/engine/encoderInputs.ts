/**
 * The encoder's inputs as generation builds them, read back to the host: each example's adapted image tokens
 * and adapted prompt embeddings (docs/ENGINE.md §7, dropout off), prompts padded with pad_id to the longest.
 * For checks outside the studio's own loop — the merged model against the live adapter
 * (src/engine/mergedModel.test.ts) and the engine against PyTorch (src/cli/adapterParity.ts).
 */
import type { AdapterWeights } from '../formats/adapterFile.ts';
import { encodeAdaptedEmbeddings } from './adaptedEmbeddings.ts';
import { BufferPool, readFloats, storageBuffer } from './gpuBuffers.ts';
import type { ModelPackage } from './modelPackage.ts';

export interface EncoderInputs {
  /** Ẽ of the image tokens, f32 [examples, Ni, d]. */
  image: Float32Array;
  /** Ẽ of the padded prompts, f32 [examples, promptLength, d]. */
  text: Float32Array;
  promptLength: number;
}

/** Example i captions image i of `features` (f32 [images, Ni, d] on the package's device). */
export async function readEncoderInputs(
  pkg: ModelPackage, features: { buffer: GPUBuffer }, promptIds: number[][], adapter: readonly AdapterWeights[],
): Promise<EncoderInputs> {
  const { device, manifest } = pkg;
  const pool = new BufferPool(device);
  const table = storageBuffer(device, 'embedding table', pkg.textEmbeddings);
  const promptLength = Math.max(...promptIds.map((p) => p.length));
  const ids = new Uint32Array(promptIds.flatMap((p) => [...p, ...Array<number>(promptLength - p.length).fill(manifest.text.pad_id)]));
  const onGpu = adapter.map((w) => ({ modality: w.modality, r: w.rank, Wdown: storageBuffer(device, 'Wdown', w.wdown), Wup: storageBuffer(device, 'Wup', w.wup), p: 0, key: 0 }));
  try {
    const encoder = device.createCommandEncoder();
    const out = encodeAdaptedEmbeddings(device, encoder, pool, manifest, {
      features: features.buffer, imageIndices: promptIds.map((_, i) => i), promptIds: ids, promptLength, embeddingTable: table,
    }, onGpu);
    device.queue.submit([encoder.finish()]);
    const d = manifest.d_model;
    return {
      image: await readFloats(device, out.adapted.image, out.tokens.image * d),
      text: await readFloats(device, out.adapted.text, out.tokens.text * d),
      promptLength,
    };
  } finally {
    for (const b of [table, ...onGpu.flatMap((a) => [a.Wdown, a.Wup])]) b.destroy();
    pool.destroy();
  }
}
