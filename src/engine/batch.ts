/**
 * Tokenized examples → the padded arrays one vjp run takes (docs/ENGINE.md §1–2). Prompts pad to the
 * batch's longest prompt, targets to its longest target; padding is masked out of attention, of the
 * loss (label −100) and of the adapter gradients.
 */
import type { ModelManifest } from '../formats/manifest.ts';

export interface EncodedExample {
  imageIndex: number;
  promptIds: number[];
  targetIds: number[];
}

export interface Batch {
  size: number;
  promptLength: number;
  targetLength: number;
  imageIndices: number[];
  /** B·Nt prompt ids, padded with pad_id (looked up in the embedding table on the GPU). */
  promptIds: Uint32Array<ArrayBuffer>;
  /** B·Nt: 1 for a real prompt token, 0 for padding. */
  promptValid: Uint32Array<ArrayBuffer>;
  textMask: BigInt64Array;
  decoderInputIds: BigInt64Array;
  labels: BigInt64Array;
}

export const IGNORE_LABEL = -100n;

export function buildBatch(examples: EncodedExample[], text: ModelManifest['text']): Batch {
  const size = examples.length;
  const promptLength = Math.max(...examples.map((e) => e.promptIds.length));
  const targetLength = Math.max(...examples.map((e) => e.targetIds.length));
  const promptIds = new Uint32Array(size * promptLength).fill(text.pad_id);
  const promptValid = new Uint32Array(size * promptLength);
  const decoderInputIds = new BigInt64Array(size * targetLength).fill(BigInt(text.pad_id));
  const labels = new BigInt64Array(size * targetLength).fill(IGNORE_LABEL);
  examples.forEach((example, b) => {
    example.promptIds.forEach((id, t) => {
      promptIds[b * promptLength + t] = id;
      promptValid[b * promptLength + t] = 1;
    });
    example.targetIds.forEach((id, t) => {
      decoderInputIds[b * targetLength + t] = BigInt(t === 0 ? text.decoder_start_id : example.targetIds[t - 1]);
      labels[b * targetLength + t] = BigInt(id);
    });
  });
  return {
    size, promptLength, targetLength,
    imageIndices: examples.map((e) => e.imageIndex),
    promptIds, promptValid,
    textMask: BigInt64Array.from(promptValid, (v) => BigInt(v)),
    decoderInputIds, labels,
  };
}
