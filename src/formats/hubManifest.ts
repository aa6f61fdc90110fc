/**
 * The manifest of a model read straight from the Hugging Face Hub in the layout transformers.js publishes
 * (onnx-community/Florence-2-base-ft: forward graphs under onnx/, the checkpoint's JSON files at the top), so
 * that the rest of the engine sees it as it sees a package (docs/ENGINE.md §1, "Models from the Hub").
 *
 *   config.json               model_type, d_model, vocabulary, special ids (Transformers' native form, or
 *                             Microsoft's remote-code form: text_config, vision_config, projection_dim)
 *   generation_config.json    special ids the config lacks
 *   preprocessor_config.json  image size, mean, std, Pillow's resample filter, image_seq_length
 *
 * `files` names the Hub graphs each role comes from. The vision role runs onnx/vision_encoder.onnx itself;
 * `text_embeddings` is onnx/embed_tokens.onnx run once on every id (its output named by `tensor`); vjp,
 * encoder and decoder_init are composed by the engine from embed_tokens, encoder_model and decoder_model
 * (src/autodiff/seq2seqTraining.ts), so their tensor names are the roles' own and their `path` is the Hub
 * file that holds the decoder (vjp, decoder_init) or the encoder. No decoder_step: the engine decodes by
 * rerunning decoder_init on the prefix. The id names repo, revision and variant, so an adapter trained on one
 * base is refused on another (src/formats/adapterFile.ts).
 */
import { RESAMPLE_FILTERS, type ResampleFilter } from '../data/resample.ts';
import { PackageError, shown } from '../errors.ts';
import { DEFAULT_RESAMPLE, MANIFEST_LIMITS, VJP_GPU_INPUT_TYPES, type ModelManifest } from './manifest.ts';

/** The parsed JSON files of a Hub repository (each as JSON.parse gives it; absent when the repo has none). */
export interface HubConfigFiles {
  config: unknown;
  generationConfig?: unknown;
  preprocessorConfig?: unknown;
  /** tokenizer_config.json: read for nothing yet (the special ids come from the config, the tokens from tokenizer.json). */
  tokenizerConfig?: unknown;
}

export interface HubOrigin {
  /** "owner/name" on the Hub. */
  repo: string;
  /** The commit (or branch/tag) the files were read at. */
  revision: string;
  /** Which graphs: onnx/<name>.onnx (fp32) or onnx/<name>_fp16.onnx. */
  variant: 'fp32' | 'fp16';
}

/** What the files do not say: the lengths the engine cuts texts to, the prompt of examples without one. */
export interface HubManifestOptions {
  maxPromptTokens?: number;
  maxTargetTokens?: number;
  defaultPrompt?: string;
  license?: string;
}

/** Model types this reader knows. */
export const HUB_MODEL_TYPES = ['florence2'] as const;

/** The transformers.js graphs of a Florence-2 repository. */
export const HUB_GRAPHS = ['vision_encoder', 'embed_tokens', 'encoder_model', 'decoder_model'] as const;
export type HubGraph = (typeof HUB_GRAPHS)[number];

/**
 * Optimum's merged decoder (an If on use_cache_branch: the decoder without past, or with it), read in place of
 * decoder_model where a repository publishes only it (src/engine/hubPackage.ts keeps its no-cache branch).
 */
export const HUB_MERGED_DECODER = 'decoder_model_merged';

/** onnx/<graph>.onnx, or onnx/<graph>_fp16.onnx for the fp16 variant. */
export function hubGraphPath(graph: HubGraph | typeof HUB_MERGED_DECODER, variant: HubOrigin['variant']): string {
  return `onnx/${graph}${variant === 'fp16' ? '_fp16' : ''}.onnx`;
}

/**
 * The package defaults of tools/adalink/export.py (write_package), which the Florence-2 test package was made
 * with: 16 prompt and 24 target tokens. The prompt is Florence2Processor's text for its <CAPTION> task.
 */
export const HUB_DEFAULTS = { maxPromptTokens: 16, maxTargetTokens: 24, defaultPrompt: 'What does the image describe?' } as const;

/** ImageNet's mean and std: Florence-2's processor values, for a repo without preprocessor_config.json. */
const IMAGENET = { mean: [0.485, 0.456, 0.406] as [number, number, number], std: [0.229, 0.224, 0.225] as [number, number, number] };
/** Florence-2's image size when the repo has no preprocessor_config.json. */
const FLORENCE_IMAGE_SIZE = 768;
/** PIL.Image.Resampling by number (preprocessor_config.json's `resample`). */
const PIL_RESAMPLE: Record<number, string> = { 0: 'nearest', 1: 'lanczos', 2: 'bilinear', 3: 'bicubic', 4: 'box', 5: 'hamming' };

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export function hubManifest(files: HubConfigFiles, origin: HubOrigin, options: HubManifestOptions = {}): ModelManifest {
  const { repo, revision, variant } = origin;
  const where = (file: string) => `${repo}@${revision}/${file}`;
  if (!/^[\w.-]+\/[\w.-]+$/.test(repo) || !/^[\w.\-/]+$/.test(revision) || (variant !== 'fp32' && variant !== 'fp16')) {
    throw new PackageError(`the Hub origin ${shown({ repo, revision, variant }, 120)} is not a repository "owner/name", a revision and a variant fp32 or fp16`,
      'Hub model', 'Give the repository as owner/name (e.g. onnx-community/Florence-2-base-ft) and the commit it was read at.');
  }
  const config = files.config;
  if (!isObject(config)) {
    throw new PackageError('config.json is missing or is not a JSON object', where('config.json'),
      'Choose a Hugging Face model repository (it has config.json at the top), in the transformers.js layout (onnx/*.onnx).');
  }
  if (config.model_type !== 'florence2') {
    throw new PackageError(`model type ${shown(config.model_type)} is not supported: the studio reads Hub models of type ${HUB_MODEL_TYPES.map((t) => `"${t}" (Florence-2)`).join(', ')}`,
      where('config.json'), 'Choose a Florence-2 repository in the transformers.js layout (e.g. onnx-community/Florence-2-base-ft), or export a package with tools/.');
  }
  const text = isObject(config.text_config) ? config.text_config : undefined;
  const vision = isObject(config.vision_config) ? config.vision_config : undefined;
  if (!text || !vision) {
    throw new PackageError('config.json has no text_config or no vision_config, which a Florence-2 config has', where('config.json'),
      'The repository\'s config.json is damaged or not Florence-2\'s: download it again.');
  }
  const generation = isObject(files.generationConfig) ? files.generationConfig : {};
  const preprocessor = isObject(files.preprocessorConfig) ? files.preprocessorConfig : undefined;
  const fail = (file: string, problem: string, fix = 'The repository\'s files disagree or are damaged: download them again.') => new PackageError(problem, where(file), fix);

  const positive = (value: unknown, field: string, file = 'config.json', limit = Number.MAX_SAFE_INTEGER): number => {
    if (!Number.isSafeInteger(value) || (value as number) <= 0) throw fail(file, `"${field}" must be a positive integer, got ${shown(value)}`);
    if ((value as number) > limit) throw fail(file, `"${field}" is ${value}, more than the ${limit} this studio reads`);
    return value as number;
  };
  const d = positive(text.d_model, 'text_config.d_model', 'config.json', MANIFEST_LIMITS.d_model);
  // The image tokens are d wide: the projection's width (vision_config.projection_dim natively, projection_dim remotely).
  const projection = vision.projection_dim ?? config.projection_dim;
  if (projection !== undefined && projection !== d) {
    throw fail('config.json', `the image projection is ${shown(projection)} wide but the language model's d_model is ${d}`);
  }
  const vocab = positive(text.vocab_size, 'text_config.vocab_size', 'config.json', MANIFEST_LIMITS['text.vocab_size']);

  // Special ids: the language model's config, then generation_config.json, then the top level (remote-code form).
  const id = (key: string, role: string): number => {
    for (const source of [text, generation, config]) {
      let v = source[key];
      if (Array.isArray(v)) v = v[0];
      if (v === undefined || v === null) continue;
      if (!Number.isSafeInteger(v) || (v as number) < 0 || (v as number) >= vocab) {
        throw fail('config.json', `"${key}" is ${shown(v)}, not an id of the vocabulary of ${vocab}`);
      }
      return v as number;
    }
    throw fail('config.json', `no ${role} id ("${key}") in text_config, generation_config.json or config.json`);
  };

  const image = imageSettings(preprocessor, vision, (problem, fix) => fail('preprocessor_config.json', problem, fix));
  const maxPrompt = positive(options.maxPromptTokens ?? HUB_DEFAULTS.maxPromptTokens, 'max prompt tokens', 'options', MANIFEST_LIMITS['text.max_prompt_tokens']);
  const maxTarget = positive(options.maxTargetTokens ?? HUB_DEFAULTS.maxTargetTokens, 'max target tokens', 'options', MANIFEST_LIMITS['text.max_target_tokens']);
  if (maxPrompt < 2 || maxTarget < 2) throw fail('options', 'max prompt and target tokens must be 2 or more (bos and eos)');
  const positions = text.max_position_embeddings;
  if (Number.isSafeInteger(positions) && (image.tokens + maxPrompt > (positions as number) || maxTarget > (positions as number))) {
    throw fail('config.json', `${image.tokens} image tokens + ${maxPrompt} prompt tokens, or ${maxTarget} target tokens, exceed the ${positions} positions of the language model`,
      'Ask for fewer prompt or target tokens.');
  }
  const name = repo.split('/')[1];
  return {
    format: 'adalink-model-package',
    version: 1,
    id: `hub:${repo}@${revision}${variant === 'fp16' ? ':fp16' : ''}`,
    name: `Florence-2 (${name}, from the Hub at ${revision.slice(0, 12)}${variant === 'fp16' ? ', fp16' : ''}), DaViT + BART`,
    license: options.license ?? 'see the model card on the Hub',
    architecture: 'florence2-bart',
    d_model: d,
    image,
    text: {
      vocab_size: vocab,
      pad_id: id('pad_token_id', 'padding'),
      bos_id: id('bos_token_id', 'begin-of-sequence'),
      eos_id: id('eos_token_id', 'end-of-sequence'),
      decoder_start_id: id('decoder_start_token_id', 'decoder start'),
      max_prompt_tokens: maxPrompt,
      max_target_tokens: maxTarget,
      default_prompt: options.defaultPrompt ?? HUB_DEFAULTS.defaultPrompt,
      // Florence2Processor writes <s> prompt </s>, and the model was trained on <s> caption </s> (ENGINE.md §2).
      add_bos: true,
    },
    tokenizer: 'tokenizer.json',
    files: {
      vision: { path: hubGraphPath('vision_encoder', variant), inputs: { pixel_values: 'pixel_values' }, outputs: { image_embeds: 'image_features' } },
      text_embeddings: { path: hubGraphPath('embed_tokens', variant), tensor: 'inputs_embeds' },
      vjp: {
        path: hubGraphPath('decoder_model', variant),
        inputs: { image_embeds: 'image_embeds', text_embeds: 'text_embeds', text_mask: 'text_mask', decoder_input_ids: 'decoder_input_ids', labels: 'labels' },
        outputs: { loss: 'loss', grad_image_embeds: 'grad_image_embeds', grad_text_embeds: 'grad_text_embeds' },
        input_types: { ...VJP_GPU_INPUT_TYPES },
      },
      encoder: {
        path: hubGraphPath('encoder_model', variant),
        inputs: { image_embeds: 'image_embeds', text_embeds: 'text_embeds', text_mask: 'text_mask' },
        outputs: { encoder_hidden: 'encoder_hidden' },
      },
      decoder_init: {
        path: hubGraphPath('decoder_model', variant),
        inputs: { decoder_input_ids: 'decoder_input_ids', encoder_hidden: 'encoder_hidden', encoder_mask: 'encoder_mask' },
        outputs: { logits: 'logits', self_keys: 'self_keys', self_values: 'self_values', cross_keys: 'cross_keys', cross_values: 'cross_values' },
      },
    },
  };
}

/**
 * Size, mean, std, filter and token count of the image processor (CLIPImageProcessor for Florence-2): the
 * engine resizes to a square S×S, scales bytes by 1/255 and normalises, as it does with `do_resize`,
 * `do_rescale` and `do_normalize`; anything else is refused.
 */
function imageSettings(p: Json | undefined, vision: Json, fail: (problem: string, fix?: string) => PackageError): ModelManifest['image'] {
  const unsupported = (what: string) => fail(`${what}: the studio resizes to a square, scales bytes by 1/255 and normalises`,
    'Use a repository whose processor does that (Florence-2\'s does), or export a package with tools/.');
  let size = FLORENCE_IMAGE_SIZE;
  if (p) {
    const s = p.size;
    const side = isObject(s) ? (s.height ?? s.shortest_edge) : s;
    if (isObject(s) && s.width !== undefined && s.width !== s.height) throw unsupported(`the processor resizes to ${shown(s.width)}×${shown(s.height)}, not a square`);
    if (!Number.isSafeInteger(side) || (side as number) <= 0 || (side as number) > MANIFEST_LIMITS['image.size']) throw fail(`"size" is ${shown(s)}, not a square size in pixels`);
    size = side as number;
    if (p.do_resize === false) throw unsupported('the processor does not resize');
    if (p.do_rescale === false || (p.rescale_factor !== undefined && Math.abs((p.rescale_factor as number) * 255 - 1) > 1e-6)) {
      throw unsupported(`the processor rescales by ${shown(p.do_rescale === false ? 1 : p.rescale_factor)}`);
    }
    const crop = isObject(p.crop_size) ? p.crop_size : undefined;
    if (p.do_center_crop === true && crop && (crop.height !== size || crop.width !== size)) throw unsupported('the processor crops the resized image');
  }
  const normalise = p?.do_normalize !== false;
  const triple = (v: unknown, fallback: [number, number, number], field: string): [number, number, number] => {
    if (v === undefined) return fallback;
    const list = typeof v === 'number' ? [v, v, v] : v;
    if (!Array.isArray(list) || list.length !== 3 || !list.every((x) => typeof x === 'number' && Number.isFinite(x))) throw fail(`"${field}" is ${shown(v)}, not three numbers`);
    return list as [number, number, number];
  };
  const mean = normalise ? triple(p?.image_mean, IMAGENET.mean, 'image_mean') : [0, 0, 0] as [number, number, number];
  const std = normalise ? triple(p?.image_std, IMAGENET.std, 'image_std') : [1, 1, 1] as [number, number, number];
  if (std.some((s) => s === 0)) throw fail('"image_std" has a zero');

  const filter = typeof p?.resample === 'number' ? PIL_RESAMPLE[p.resample] : typeof p?.resample === 'string' ? p.resample.toLowerCase() : DEFAULT_RESAMPLE;
  if (!RESAMPLE_FILTERS.includes(filter as ResampleFilter)) {
    throw fail(`"resample" is ${shown(p?.resample)} (${filter ?? 'unknown'}); the studio resizes with ${RESAMPLE_FILTERS.join(', ')}`,
      'Use a repository whose processor uses one of those filters.');
  }
  const seq = p?.image_seq_length;
  const tokens = seq !== undefined ? seq : imageTokenCount(vision, size);
  if (!Number.isSafeInteger(tokens) || (tokens as number) <= 0 || (tokens as number) > MANIFEST_LIMITS['image.tokens']) {
    throw fail(`"image_seq_length" is ${shown(tokens)}, not a token count`);
  }
  return { size, mean, std, tokens: tokens as number, resample: filter as ResampleFilter };
}

/**
 * Florence-2's image tokens without image_seq_length: 1 (the temporal-pooled token) + the last DaViT stage's
 * H×W, each stage's patch convolution mapping a side n to ⌊(n + 2·padding − kernel) / stride⌋ + 1
 * (tools/adalink/florence.py, image_token_count). Undefined when vision_config lacks the patch geometry.
 */
function imageTokenCount(vision: Json, size: number): number | undefined {
  const { patch_size: k, patch_stride: s, patch_padding: p } = vision;
  if (!Array.isArray(k) || !Array.isArray(s) || !Array.isArray(p) || k.length !== s.length || k.length !== p.length) return undefined;
  let side = size;
  for (let i = 0; i < k.length; i++) side = Math.floor((side + 2 * p[i] - k[i]) / s[i]) + 1;
  return side > 0 ? 1 + side * side : undefined;
}
