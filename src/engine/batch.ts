/**
 * Tokenized examples → the padded arrays one vjp run takes (docs/ENGINE.md §1–2). Prompts pad to the
 * batch's longest prompt (and, for the vjp graph only, to the run's when it asks); targets to its longest target
 * rounded up to a multiple of TARGET_BUCKET (at most max_target_tokens). Padding is masked out of attention, of
 * the loss (label −100) and of the adapter gradients.
 *
 * Why buckets: onnxruntime-web compiles its shaders for each new input shape, which costs more than the step
 * itself on a software GPU and is pure overhead on any GPU. Padded targets change nothing else — later
 * decoder positions never reach earlier ones (causal attention) and their labels are ignored — and the
 * adapters see only the prompt, whose length (and so the dropout mask, ENGINE.md §3) stays the batch's own.
 * The vjp graph may take the prompts padded further (vjpPromptLength): masked positions, which neither the
 * encoder's attention nor the decoder's cross-attention reads, and whose gradients are not used.
 */
import type { ModelManifest } from '../formats/manifest.ts';

export interface EncodedExample {
  imageIndex: number;
  promptIds: number[];
  targetIds: number[];
}

export interface Batch {
  size: number;
  /** Prompt positions per example as the adapters see them (the batch's longest prompt: its dropout masks, §3). */
  promptLength: number;
  /**
   * Prompt positions per example as the vjp graph takes them: promptLength, or more when the run pads every batch's
   * prompts to one length (one vjp shape for the run, frozenVjp.ts); the positions past promptLength are masked out.
   */
  vjpPromptLength: number;
  targetLength: number;
  imageIndices: number[];
  /** B·Nt prompt ids, padded with pad_id (looked up in the embedding table on the GPU). */
  promptIds: Uint32Array<ArrayBuffer>;
  /** B·Nt: 1 for a real prompt token, 0 for padding (the vjp graph's text_mask, in its input type). */
  promptValid: Uint32Array<ArrayBuffer>;
  /** B·Nd: decoder_start_id, then the target shifted right; pad_id after the target. */
  decoderInputIds: Int32Array<ArrayBuffer>;
  /** B·Nd: the target ids, IGNORE_LABEL after them. */
  labels: Int32Array<ArrayBuffer>;
}

export const IGNORE_LABEL = -100;

/** Target lengths are padded up to a multiple of this (docs/ENGINE.md §2). */
export const TARGET_BUCKET = 8;

export function targetBucket(longest: number, maxTargetTokens: number): number {
  return Math.max(longest, Math.min(maxTargetTokens, Math.ceil(longest / TARGET_BUCKET) * TARGET_BUCKET));
}

/**
 * `targetLength`: pad every batch's targets to this length (at least the longest target's bucket) — one shape
 * for all batches, as a captured vjp graph wants (frozenVjp.ts); by default the batch's own bucket.
 * `vjpPromptLength`: the same for the prompts the vjp graph takes (at least the batch's longest prompt).
 */
export function buildBatch(examples: EncodedExample[], text: ModelManifest['text'], targetLength?: number, vjpPromptLength?: number): Batch {
  const size = examples.length;
  const promptLength = Math.max(...examples.map((e) => e.promptIds.length));
  targetLength = Math.max(targetLength ?? 0, targetBucket(Math.max(...examples.map((e) => e.targetIds.length)), text.max_target_tokens));
  const promptIds = new Uint32Array(size * promptLength).fill(text.pad_id);
  const promptValid = new Uint32Array(size * promptLength);
  const decoderInputIds = new Int32Array(size * targetLength).fill(text.pad_id);
  const labels = new Int32Array(size * targetLength).fill(IGNORE_LABEL);
  examples.forEach((example, b) => {
    example.promptIds.forEach((id, t) => {
      promptIds[b * promptLength + t] = id;
      promptValid[b * promptLength + t] = 1;
    });
    example.targetIds.forEach((id, t) => {
      decoderInputIds[b * targetLength + t] = t === 0 ? text.decoder_start_id : example.targetIds[t - 1];
      labels[b * targetLength + t] = id;
    });
  });
  return {
    size, promptLength, vjpPromptLength: Math.max(vjpPromptLength ?? 0, promptLength), targetLength,
    imageIndices: examples.map((e) => e.imageIndex),
    promptIds, promptValid, decoderInputIds, labels,
  };
}
