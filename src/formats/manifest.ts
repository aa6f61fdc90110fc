/**
 * The model package's manifest.json (docs/ENGINE.md §1): what the engine needs to know about a frozen
 * model, checked field by field when it is read so that a bad package fails at load, not mid-training.
 */
import { RESAMPLE_FILTERS, type ResampleFilter } from '../data/resample.ts';
import { PackageError, shorten, shown } from '../errors.ts';

/**
 * Upper bounds far above any real model (PaliGemma-3B-896: d_model 2048, 257 216 tokens, 896 px, 4096 image
 * tokens), so that a hostile manifest cannot ask the engine for buffers no device has.
 */
export const MANIFEST_LIMITS = {
  d_model: 16_384, 'image.size': 4096, 'image.tokens': 65_536, 'text.vocab_size': 4_194_304,
  'text.max_prompt_tokens': 8192, 'text.max_target_tokens': 8192,
} as const;
/** A file path inside the package: '/'-separated names of letters, digits, '.', '_', '-' and '+'; no '.' or '..'. */
const PACKAGE_PATH = /^(?!\.{1,2}(\/|$))[\w.+-]+(\/(?!\.{1,2}(\/|$))[\w.+-]+)*$/;
/** The longest id, name, licence, architecture or role name read. */
const MAX_NAME_CHARS = 1000;

export const VJP_INPUT_ROLES = ['image_embeds', 'text_embeds', 'text_mask', 'decoder_input_ids', 'labels'] as const;
export const VJP_OUTPUT_ROLES = ['loss', 'grad_image_embeds', 'grad_text_embeds'] as const;
export const VISION_INPUT_ROLES = ['pixel_values'] as const;
export const VISION_OUTPUT_ROLES = ['image_embeds'] as const;
/** The generation graphs (docs/ENGINE.md §7), optional: all three or none. */
export const ENCODER_INPUT_ROLES = ['image_embeds', 'text_embeds', 'text_mask'] as const;
export const ENCODER_OUTPUT_ROLES = ['encoder_hidden'] as const;
export const DECODER_INIT_INPUT_ROLES = ['decoder_input_ids', 'encoder_hidden', 'encoder_mask'] as const;
export const DECODER_INIT_OUTPUT_ROLES = ['logits', 'self_keys', 'self_values', 'cross_keys', 'cross_values'] as const;
export const DECODER_STEP_INPUT_ROLES = ['decoder_input_ids', 'encoder_mask', 'past_self_keys', 'past_self_values', 'cross_keys', 'cross_values'] as const;
export const DECODER_STEP_OUTPUT_ROLES = ['logits', 'self_keys', 'self_values'] as const;
export const GENERATION_GRAPHS = ['encoder', 'decoder_init', 'decoder_step'] as const;

export interface GraphFile<In extends string, Out extends string> {
  path: string;
  /** role → the graph's own tensor name */
  inputs: Record<In, string>;
  outputs: Record<Out, string>;
}

/**
 * The vjp graph's GPU-input form (tools/adalink/vjp.py): a float32 prompt mask and int32 ids and labels, so
 * that no op runs on the CPU and graph capture can replay the step. Absent from the manifest: all int64.
 */
export const VJP_GPU_INPUT_TYPES = { text_mask: 'float32', decoder_input_ids: 'int32', labels: 'int32' } as const;
export type VjpInputTypes = typeof VJP_GPU_INPUT_TYPES;

export interface ModelManifest {
  format: 'adalink-model-package';
  version: 1;
  id: string;
  name: string;
  license: string;
  architecture: string;
  d_model: number;
  image: {
    size: number; mean: [number, number, number]; std: [number, number, number]; tokens: number;
    /**
     * Pillow's filter of the processor's resize to size×size (docs/IMAGES.md). Absent from the file:
     * DEFAULT_RESAMPLE, filled in by parseManifest.
     */
    resample: ResampleFilter;
  };
  text: {
    vocab_size: number;
    pad_id: number;
    bos_id: number;
    eos_id: number;
    decoder_start_id: number;
    max_prompt_tokens: number;
    max_target_tokens: number;
    default_prompt: string;
    /** Prompt and target ids start with bos_id (docs/ENGINE.md §2; Florence-2). Absent: false. */
    add_bos?: boolean;
  };
  tokenizer: string;
  /**
   * The package's weights file, when its graphs keep their weights there as ONNX external data (each weight
   * once, whichever graphs use it: src/formats/sharedWeights.ts). Absent: every graph holds its own.
   */
  weights?: string;
  files: {
    vision: GraphFile<(typeof VISION_INPUT_ROLES)[number], (typeof VISION_OUTPUT_ROLES)[number]>;
    text_embeddings: { path: string; tensor: string };
    vjp: GraphFile<(typeof VJP_INPUT_ROLES)[number], (typeof VJP_OUTPUT_ROLES)[number]> & { input_types?: VjpInputTypes };
    /** Generation (evaluation, playground): present together or not at all. */
    encoder?: GraphFile<(typeof ENCODER_INPUT_ROLES)[number], (typeof ENCODER_OUTPUT_ROLES)[number]>;
    decoder_init?: GraphFile<(typeof DECODER_INIT_INPUT_ROLES)[number], (typeof DECODER_INIT_OUTPUT_ROLES)[number]>;
    decoder_step?: GraphFile<(typeof DECODER_STEP_INPUT_ROLES)[number], (typeof DECODER_STEP_OUTPUT_ROLES)[number]>;
  };
}

/** The resize filter of a package that names none: bicubic, as the processors of CLIP, SigLIP and Florence-2. */
export const DEFAULT_RESAMPLE: ResampleFilter = 'bicubic';

/** Parses and checks manifest.json (its bytes, or its text); `where` names the package for the error messages. */
export function parseManifest(input: string | Uint8Array, where: string): ModelManifest {
  const file = `${where}/manifest.json`;
  const fail = (problem: string, fix = 'Re-export the package with tools/ (see tools/README.md) or fix manifest.json.') =>
    new PackageError(problem, file, fix);
  let text: string;
  try {
    text = typeof input === 'string' ? input : new TextDecoder('utf-8', { fatal: true }).decode(input);
  } catch {
    throw fail('manifest.json is not UTF-8 text');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw fail(`manifest.json is not valid JSON: ${shorten((e as Error).message)}`);
  }
  const m = raw as Record<string, any>;
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw fail('manifest.json is not a JSON object');
  if (m.format !== 'adalink-model-package') throw fail(`"format" is ${shown(m.format)}, expected "adalink-model-package"`);
  if (m.version !== 1) throw fail(`"version" is ${shown(m.version)}; this studio reads version 1`, 'Update the studio or re-export the package.');

  const positiveInt = (value: unknown, field: keyof typeof MANIFEST_LIMITS) => {
    if (!Number.isSafeInteger(value) || (value as number) <= 0) throw fail(`"${field}" must be a positive integer, got ${shown(value)}`);
    if ((value as number) > MANIFEST_LIMITS[field]) throw fail(`"${field}" is ${value}, more than the ${MANIFEST_LIMITS[field]} this studio reads`);
  };
  const nonNegativeInt = (value: unknown, field: string) => {
    if (!Number.isSafeInteger(value) || (value as number) < 0) throw fail(`"${field}" must be an integer ≥ 0, got ${shown(value)}`);
  };
  const string = (value: unknown, field: string) => {
    if (typeof value !== 'string' || value.length === 0) throw fail(`"${field}" must be a non-empty string`);
    if (value.length > MAX_NAME_CHARS) throw fail(`"${field}" is ${value.length} characters long, more than ${MAX_NAME_CHARS}`);
  };
  const triple = (value: unknown, field: string) => {
    if (!Array.isArray(value) || value.length !== 3 || !value.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      throw fail(`"${field}" must be three numbers (R, G, B)`);
    }
  };
  for (const f of ['id', 'name', 'license', 'architecture', 'tokenizer'] as const) string(m[f], f);
  if (m.weights !== undefined) {
    string(m.weights, 'weights');
    if (m.weights.includes('/') || m.weights.includes('\\') || m.weights.startsWith('.')) throw fail(`"weights" is ${shown(m.weights)}: name a file beside manifest.json`);
  }
  positiveInt(m.d_model, 'd_model');
  if (typeof m.image !== 'object' || m.image === null || Array.isArray(m.image)) throw fail('"image" is missing');
  positiveInt(m.image.size, 'image.size');
  positiveInt(m.image.tokens, 'image.tokens');
  triple(m.image.mean, 'image.mean');
  triple(m.image.std, 'image.std');
  if ((m.image.std as number[]).some((s) => s === 0)) throw fail('"image.std" has a zero');
  if (m.image.resample === undefined) m.image.resample = DEFAULT_RESAMPLE;
  if (!RESAMPLE_FILTERS.includes(m.image.resample)) {
    throw fail(`"image.resample" is ${shown(m.image.resample)}; this studio resizes with ${RESAMPLE_FILTERS.map((f) => `"${f}"`).join(', ')}`,
      'Name the resize filter of the model\'s image processor (Pillow\'s name, lower case), or remove the field for bicubic.');
  }
  if (typeof m.text !== 'object' || m.text === null || Array.isArray(m.text)) throw fail('"text" is missing');
  positiveInt(m.text.vocab_size, 'text.vocab_size');
  for (const f of ['pad_id', 'bos_id', 'eos_id', 'decoder_start_id'] as const) {
    nonNegativeInt(m.text[f], `text.${f}`);
    if (m.text[f] >= m.text.vocab_size) throw fail(`"text.${f}" = ${m.text[f]} is outside the vocabulary of ${m.text.vocab_size}`);
  }
  positiveInt(m.text.max_prompt_tokens, 'text.max_prompt_tokens');
  positiveInt(m.text.max_target_tokens, 'text.max_target_tokens');
  if (typeof m.text.default_prompt !== 'string') throw fail('"text.default_prompt" must be a string');
  if (m.text.default_prompt.length > MAX_NAME_CHARS) throw fail(`"text.default_prompt" is ${m.text.default_prompt.length} characters long, more than ${MAX_NAME_CHARS}`);
  if (m.text.add_bos !== undefined && typeof m.text.add_bos !== 'boolean') throw fail('"text.add_bos" must be true or false');
  if (m.text.add_bos === true && (m.text.max_prompt_tokens < 2 || m.text.max_target_tokens < 2)) {
    throw fail('"text.add_bos" needs max_prompt_tokens and max_target_tokens of 2 or more (bos and eos)');
  }

  if (typeof m.files !== 'object' || m.files === null) throw fail('"files" is missing');
  const graph = (key: string, inputs: readonly string[], outputs: readonly string[]) => {
    const g = m.files[key];
    if (typeof g !== 'object' || g === null) throw fail(`"files.${key}" is missing`);
    string(g.path, `files.${key}.path`);
    for (const [side, roles] of [['inputs', inputs], ['outputs', outputs]] as const) {
      if (typeof g[side] !== 'object' || g[side] === null) throw fail(`"files.${key}.${side}" is missing`);
      for (const role of roles) string(g[side][role], `files.${key}.${side}.${role}`);
    }
  };
  graph('vision', VISION_INPUT_ROLES, VISION_OUTPUT_ROLES);
  graph('vjp', VJP_INPUT_ROLES, VJP_OUTPUT_ROLES);
  const inputTypes: unknown = m.files.vjp.input_types;
  if (inputTypes !== undefined) {
    const expected = VJP_GPU_INPUT_TYPES as Record<string, string>;
    const matches = typeof inputTypes === 'object' && inputTypes !== null && !Array.isArray(inputTypes)
      && Object.keys(inputTypes).length === Object.keys(expected).length
      && Object.keys(expected).every((k) => (inputTypes as Record<string, unknown>)[k] === expected[k]);
    if (!matches) {
      throw fail(`"files.vjp.input_types" is ${shown(inputTypes, 120)}; this studio reads ${shown(expected, 120)} or no such field (int64 inputs)`,
        'Re-export the vjp graph with tools/ (export --vjp-only), which writes the GPU input types, or remove the field.');
    }
  }
  const generation = GENERATION_GRAPHS.filter((key) => m.files[key] !== undefined);
  if (generation.length > 0 && generation.length < GENERATION_GRAPHS.length) {
    const missing = GENERATION_GRAPHS.filter((key) => !generation.includes(key));
    throw fail(`"files" has ${generation.map((k) => `"${k}"`).join(' and ')} but not ${missing.map((k) => `"${k}"`).join(' or ')}: the generation graphs come together`,
      'Add all three generation graphs (encoder, decoder_init, decoder_step) or none, re-exporting with tools/.');
  }
  if (generation.length > 0) {
    graph('encoder', ENCODER_INPUT_ROLES, ENCODER_OUTPUT_ROLES);
    graph('decoder_init', DECODER_INIT_INPUT_ROLES, DECODER_INIT_OUTPUT_ROLES);
    graph('decoder_step', DECODER_STEP_INPUT_ROLES, DECODER_STEP_OUTPUT_ROLES);
  }
  if (typeof m.files.text_embeddings !== 'object' || m.files.text_embeddings === null) throw fail('"files.text_embeddings" is missing');
  string(m.files.text_embeddings.path, 'files.text_embeddings.path');
  string(m.files.text_embeddings.tensor, 'files.text_embeddings.tensor');
  const paths = [m.tokenizer, m.files.vision.path, m.files.vjp.path, m.files.text_embeddings.path, ...generation.map((key) => m.files[key].path)];
  for (const path of paths as string[]) {
    // Read relative to the package's folder or URL: '..', '/x', 'C:', 'https://…', '%2e%2e' or '\\' would reach outside it.
    if (!PACKAGE_PATH.test(path)) {
      throw fail(`file path "${shorten(path)}" leaves the package folder or is not a plain relative path`,
        "Name the package's files by relative paths of letters, digits, '.', '_', '-' and '/' (no '..', no leading '/', no URL).");
    }
  }
  return m as ModelManifest;
}

/** Every file a manifest names, manifest.json first: what a package's download or copy must hold. */
export function packagePaths(manifest: ModelManifest): string[] {
  const graphs = Object.values(manifest.files).filter(Boolean).map((f) => (f as { path: string }).path);
  return [...new Set(['manifest.json', manifest.tokenizer, ...graphs, ...(manifest.weights ? [manifest.weights] : [])])];
}
