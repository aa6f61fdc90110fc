/**
 * Prompts and captions → token ids, the way docs/ENGINE.md §2 says: the package's own tokenizer
 * (Hugging Face tokenizer.json), no special tokens from the tokenizer, then eos, cut to the maximum.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { PackageError } from '../engine/errors.ts';
import type { ModelManifest } from '../formats/manifest.ts';

export interface TextCodec {
  /** Prompt ids for the encoder: tokens + eos, at most max_prompt_tokens. */
  promptIds(prompt: string): number[];
  /** Target ids for the decoder: tokens + eos, at most max_target_tokens. */
  targetIds(caption: string): number[];
  decode(ids: number[]): string;
}

export function createTextCodec(tokenizerJson: string, manifest: ModelManifest, where: string): TextCodec {
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(JSON.parse(tokenizerJson), {});
  } catch (e) {
    throw new PackageError(`tokenizer cannot be read: ${(e as Error).message}`, `${where}/${manifest.tokenizer}`,
      'The package needs a Hugging Face tokenizer.json (BPE, WordPiece or Unigram).');
  }
  const { eos_id: eos, vocab_size: vocab } = manifest.text;
  const encode = (text: string, max: number): number[] => {
    const ids = tokenizer.encode(text, { add_special_tokens: false }).ids.slice(0, max - 1);
    for (const id of ids) {
      if (id >= vocab) {
        throw new PackageError(`tokenizer gave id ${id}, outside the model's vocabulary of ${vocab}`,
          `${where}/${manifest.tokenizer}`, 'The tokenizer does not belong to this model: re-export the package.');
      }
    }
    return [...ids, eos];
  };
  return {
    promptIds: (prompt) => encode(prompt, manifest.text.max_prompt_tokens),
    targetIds: (caption) => encode(caption, manifest.text.max_target_tokens),
    decode: (ids) => tokenizer.decode(ids, { skip_special_tokens: true }),
  };
}
