/**
 * Prompts and captions → token ids, the way docs/ENGINE.md §2 says: the package's own tokenizer
 * (Hugging Face tokenizer.json), no special tokens from the tokenizer, then eos, cut to the maximum.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { AdaLinkError, PackageError, shorten, shown } from '../errors.ts';
import type { ModelManifest } from '../formats/manifest.ts';

/** A tokenizer.json over this size is refused: Florence-2's is 1 MB, Gemma's (256 000 tokens) 34 MB. */
export const MAX_TOKENIZER_BYTES = 128 * 1024 * 1024;

export interface TextCodec {
  /** Prompt ids for the encoder: tokens + eos, at most max_prompt_tokens. */
  promptIds(prompt: string): number[];
  /** Target ids for the decoder: tokens + eos, at most max_target_tokens. */
  targetIds(caption: string): number[];
  decode(ids: number[]): string;
}

/** Reads tokenizer.json (its bytes, or its text) and checks its token ids against the model's vocabulary. */
export function createTextCodec(tokenizerJson: string | Uint8Array, manifest: ModelManifest, where: string): TextCodec {
  const file = `${where}/${manifest.tokenizer}`;
  const notReadable = (problem: string) => new PackageError(problem, file, 'The package needs a Hugging Face tokenizer.json (BPE, WordPiece or Unigram).');
  const notThisModels = (problem: string) => new PackageError(problem, file, 'The tokenizer does not belong to this model: re-export the package.');
  if (tokenizerJson.length > MAX_TOKENIZER_BYTES) {
    throw notReadable(`tokenizer.json is ${(tokenizerJson.length / 2 ** 20).toFixed(0)} MiB, more than the ${MAX_TOKENIZER_BYTES / 2 ** 20} MiB this studio reads`);
  }
  const { eos_id: eos, vocab_size: vocab } = manifest.text;
  const isId = (id: unknown) => Number.isSafeInteger(id) && (id as number) >= 0 && (id as number) < vocab;
  let json: { model?: { vocab?: unknown } } | null;
  try {
    json = JSON.parse(typeof tokenizerJson === 'string' ? tokenizerJson : new TextDecoder('utf-8', { fatal: true }).decode(tokenizerJson));
  } catch (e) {
    throw notReadable(`tokenizer cannot be read: ${shorten((e as Error).message, 200)}`);
  }
  // Counted before the tokenizer is built: building one of a million tokens takes seconds.
  const modelVocab = json?.model?.vocab;
  const tokens = Array.isArray(modelVocab) ? modelVocab.length : typeof modelVocab === 'object' && modelVocab !== null ? Object.keys(modelVocab).length : 0;
  if (tokens > vocab) throw notThisModels(`the tokenizer has ${tokens} tokens, more than the model's vocabulary of ${vocab}`);
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json as object, {});
  } catch (e) {
    throw notReadable(`tokenizer cannot be read: ${shorten(String((e as Error)?.message ?? e), 200)}`);
  }
  // Every id the tokenizer can give must index the model's embedding table (a vocabulary bigger than the model's is another model's).
  for (const [token, id] of [...(tokenizer.model?.tokens_to_ids ?? []), ...[...tokenizer.get_added_tokens_decoder()].map(([i, t]) => [t.content, i] as const)]) {
    if (!isId(id)) throw notThisModels(`the tokenizer gives token ${shown(token, 40)} the id ${shown(id)}, outside the model's vocabulary of ${vocab}`);
  }
  /** The tokenizer's own code on a text: what it throws (a tokenizer.json of the wrong shape) becomes a PackageError. */
  const run = <T>(what: string, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof AdaLinkError) throw e;
      throw notReadable(`the tokenizer failed to ${what}: ${shorten(String((e as Error)?.message ?? e), 200)}`);
    }
  };
  const encode = (text: string, max: number): number[] => {
    const ids = run('encode a text', () => tokenizer.encode(text, { add_special_tokens: false }).ids.slice(0, max - 1));
    for (const id of ids) {
      if (!isId(id)) throw notThisModels(`tokenizer gave id ${shown(id)}, outside the model's vocabulary of ${vocab}`);
    }
    return [...ids, eos];
  };
  return {
    promptIds: (prompt) => encode(prompt, manifest.text.max_prompt_tokens),
    targetIds: (caption) => encode(caption, manifest.text.max_target_tokens),
    decode: (ids) => run('decode ids', () => tokenizer.decode(ids, { skip_special_tokens: true })),
  };
}
