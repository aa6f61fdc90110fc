/**
 * hubManifest: the manifest of a Hub repository in the transformers.js layout. The tiny Florence-2's
 * (e2e/fixtures/hub/tiny-florence-test, Transformers' native config) agrees field for field with the package
 * exported from the same checkpoint (public/models/tiny-florence-test/manifest.json); Microsoft's remote-code
 * config form (Florence-2-base-ft's sizes) reads the same way; what it cannot use is refused, saying what is.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PackageError } from '../errors.ts';
import { HUB_DEFAULTS, hubGraphPath, hubManifest, type HubConfigFiles, type HubOrigin } from './hubManifest.ts';
import { parseManifest, VJP_GPU_INPUT_TYPES } from './manifest.ts';

const HUB = 'e2e/fixtures/hub/tiny-florence-test';
const json = (file: string) => JSON.parse(readFileSync(`${HUB}/${file}`, 'utf8'));
const tiny = (): HubConfigFiles => ({
  config: json('config.json'), generationConfig: json('generation_config.json'),
  preprocessorConfig: json('preprocessor_config.json'), tokenizerConfig: json('tokenizer_config.json'),
});
const ORIGIN: HubOrigin = { repo: 'onnx-community/tiny-florence-test', revision: '0123456789abcdef0123', variant: 'fp32' };

/** Microsoft's remote-code config.json of Florence-2-base-ft (trust_remote_code), the fields read. */
const remoteCode = {
  model_type: 'florence2', projection_dim: 768, vocab_size: 50265, bos_token_id: 0, eos_token_id: 2, pad_token_id: 1,
  text_config: { model_type: 'florence2_language', d_model: 768, vocab_size: 51289, max_position_embeddings: 1024, decoder_start_token_id: 2 },
  vision_config: { model_type: 'davit', patch_size: [7, 3, 3, 3], patch_stride: [4, 2, 2, 2], patch_padding: [3, 1, 1, 1], projection_dim: 768, dim_embed: [128, 256, 512, 1024] },
};

describe('the manifest of a Hub repository', () => {
  it('agrees with the package exported from the same checkpoint where it applies', () => {
    const derived = hubManifest(tiny(), ORIGIN);
    const pkg = parseManifest(readFileSync('public/models/tiny-florence-test/manifest.json'), 'public/models/tiny-florence-test');
    expect(derived.d_model).toBe(pkg.d_model);
    expect(derived.image).toEqual(pkg.image);
    const { default_prompt: prompt, ...text } = derived.text;
    const { default_prompt: _, ...packageText } = pkg.text;
    expect(text).toEqual(packageText);
    expect(prompt).toBe(HUB_DEFAULTS.defaultPrompt);
    expect(derived.architecture).toBe(pkg.architecture);
    expect(derived.tokenizer).toBe(pkg.tokenizer);
    // The roles the engine reads, named as in the package (vjp, encoder, decoder_init are composed under role names).
    for (const key of ['vjp', 'encoder', 'decoder_init'] as const) {
      expect(derived.files[key]!.inputs).toEqual(pkg.files[key]!.inputs);
      expect(derived.files[key]!.outputs).toEqual(pkg.files[key]!.outputs);
    }
    expect(derived.files.vision).toEqual({ path: 'onnx/vision_encoder.onnx', inputs: { pixel_values: 'pixel_values' }, outputs: { image_embeds: 'image_features' } });
    expect(derived.files.text_embeddings).toEqual({ path: 'onnx/embed_tokens.onnx', tensor: 'inputs_embeds' });
    expect(derived.files.vjp.input_types).toEqual(VJP_GPU_INPUT_TYPES);
    expect(derived.files.decoder_step).toBeUndefined();
    expect(derived.id).toBe('hub:onnx-community/tiny-florence-test@0123456789abcdef0123');
    expect(derived.name).toContain('tiny-florence-test');
  });

  it('names the fp16 graphs and another id for the fp16 variant; takes the lengths and prompt it is given', () => {
    const m = hubManifest(tiny(), { ...ORIGIN, variant: 'fp16' }, { maxPromptTokens: 20, maxTargetTokens: 40, defaultPrompt: 'caption en', license: 'MIT' });
    expect(m.id).toBe('hub:onnx-community/tiny-florence-test@0123456789abcdef0123:fp16');
    expect([m.files.vision.path, m.files.text_embeddings.path, m.files.encoder!.path, m.files.vjp.path]).toEqual(
      ['vision_encoder', 'embed_tokens', 'encoder_model', 'decoder_model'].map((g) => `onnx/${g}_fp16.onnx`));
    expect(hubGraphPath('decoder_model', 'fp32')).toBe('onnx/decoder_model.onnx');
    expect([m.text.max_prompt_tokens, m.text.max_target_tokens, m.text.default_prompt, m.license]).toEqual([20, 40, 'caption en', 'MIT']);
    expect(() => hubManifest(tiny(), ORIGIN, { maxPromptTokens: 48 })).toThrow('17 image tokens + 48 prompt tokens, or 24 target tokens, exceed the 64 positions');
  });

  it('reads Microsoft\'s remote-code config form: text_config, vision_config, projection_dim; image tokens from the DaViT stages', () => {
    const preprocessor = { size: { height: 768, width: 768 }, resample: 3, image_mean: [0.485, 0.456, 0.406], image_std: [0.229, 0.224, 0.225], image_seq_length: 577 };
    const m = hubManifest({ config: remoteCode, preprocessorConfig: preprocessor }, ORIGIN);
    expect(m.d_model).toBe(768);
    expect(m.text).toMatchObject({ vocab_size: 51289, pad_id: 1, bos_id: 0, eos_id: 2, decoder_start_id: 2, add_bos: true });
    expect(m.image).toEqual({ size: 768, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], tokens: 577, resample: 'bicubic' });
    // Without image_seq_length (nor a preprocessor_config.json): 1 + (768/32)² from the patch geometry, ImageNet's statistics.
    expect(hubManifest({ config: remoteCode }, ORIGIN).image).toEqual({ size: 768, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], tokens: 577, resample: 'bicubic' });
  });

  it('takes special ids from generation_config.json when the config lacks them, and Pillow\'s filters by number or name', () => {
    const files = tiny();
    const config = files.config as { text_config: Record<string, unknown> };
    delete config.text_config.decoder_start_token_id;
    const m = hubManifest({ ...files, generationConfig: { decoder_start_token_id: 2, eos_token_id: [2] } }, ORIGIN);
    expect(m.text.decoder_start_id).toBe(2);
    expect(() => hubManifest({ ...files, generationConfig: {} }, ORIGIN)).toThrow('no decoder start id ("decoder_start_token_id")');
    const pre = files.preprocessorConfig as Record<string, unknown>;
    expect(hubManifest({ ...tiny(), preprocessorConfig: { ...pre, resample: 2 } }, ORIGIN).image.resample).toBe('bilinear');
    expect(hubManifest({ ...tiny(), preprocessorConfig: { ...pre, resample: 'LANCZOS' } }, ORIGIN).image.resample).toBe('lanczos');
    expect(hubManifest({ ...tiny(), preprocessorConfig: { ...pre, do_normalize: false } }, ORIGIN).image).toMatchObject({ mean: [0, 0, 0], std: [1, 1, 1] });
  });

  it('refuses an unknown model type, a missing config and what the engine cannot reproduce', () => {
    const refused = (files: HubConfigFiles, message: string | RegExp, origin = ORIGIN) => {
      const error = (() => { try { hubManifest(files, origin); } catch (e) { return e; } })();
      expect(error).toBeInstanceOf(PackageError);
      expect((error as PackageError).message).toMatch(message);
    };
    refused({ ...tiny(), config: { ...tiny().config as object, model_type: 'paligemma' } },
      /model type "paligemma" is not supported: the studio reads Hub models of type "florence2" \(Florence-2\).*onnx-community\/tiny-florence-test@.*config\.json.*Choose a Florence-2 repository/);
    refused({ config: undefined }, /config\.json is missing or is not a JSON object/);
    refused({ config: { model_type: 'florence2' } }, /no text_config or no vision_config/);
    refused({ config: { ...remoteCode, projection_dim: 1024, vision_config: { ...remoteCode.vision_config, projection_dim: undefined } } }, /image projection is 1024 wide but the language model's d_model is 768/);
    const pre = tiny().preprocessorConfig as Record<string, unknown>;
    refused({ ...tiny(), preprocessorConfig: { ...pre, resample: 0 } }, /"resample" is 0 \(nearest\)/);
    refused({ ...tiny(), preprocessorConfig: { ...pre, size: { height: 32, width: 48 } } }, /resizes to 48×32, not a square/);
    refused({ ...tiny(), preprocessorConfig: { ...pre, rescale_factor: 1 } }, /rescales by 1/);
    refused(tiny(), /not a repository "owner\/name"/, { ...ORIGIN, repo: 'no-owner' });
  });
});
