/**
 * Which files of a Hub repository a variant downloads (hubSource.neededFiles), from the file lists the Hub's
 * revision API gives: the transformers.js layout with decoder_model, a repository that publishes only Optimum's
 * merged decoder, external data beside a graph, and what is refused before anything is downloaded.
 */
import { describe, expect, it } from 'vitest';
import { PackageError } from '../errors.ts';
import { neededFiles } from './hubSource.ts';
import type { HubFile } from './hubClient.ts';

const SHA = 'a'.repeat(40);
const files = (...paths: string[]): HubFile[] => paths.map((path, i) => ({ path, size: 100 + i }));
const GRAPHS = ['vision_encoder', 'embed_tokens', 'encoder_model'];
const base = (suffix: '' | '_fp16') => ['config.json', 'tokenizer.json', ...GRAPHS.map((g) => `onnx/${g}${suffix}.onnx`)];
const paths = (list: HubFile[]) => list.map((f) => f.path).sort();

describe('neededFiles', () => {
  it('takes the variant\'s graphs, the optional configs present, and each graph\'s external data; decoder_model over the merged one', () => {
    const repo = files(...base(''), 'onnx/decoder_model.onnx', 'onnx/decoder_model_merged.onnx', 'onnx/decoder_model_fp16.onnx',
      'onnx/encoder_model.onnx_data', 'onnx/encoder_model.onnx_data_1', 'preprocessor_config.json', 'README.md', 'onnx/vision_encoder_fp16.onnx');
    expect(paths(neededFiles(repo, 'fp32', 'owner/name@main', SHA))).toEqual([
      'config.json', 'onnx/decoder_model.onnx', 'onnx/embed_tokens.onnx', 'onnx/encoder_model.onnx', 'onnx/encoder_model.onnx_data',
      'onnx/encoder_model.onnx_data_1', 'onnx/vision_encoder.onnx', 'preprocessor_config.json', 'tokenizer.json',
    ]);
  });

  it('takes the merged decoder where the repository publishes no decoder_model, in either variant', () => {
    const repo = files(...base(''), ...base('_fp16').slice(2), 'onnx/decoder_model_merged.onnx', 'onnx/decoder_model_merged_fp16.onnx',
      'onnx/decoder_model_merged.onnx_data');
    expect(paths(neededFiles(repo, 'fp32', 'owner/name@main', SHA)).filter((p) => p.includes('decoder'))).toEqual([
      'onnx/decoder_model_merged.onnx', 'onnx/decoder_model_merged.onnx_data',
    ]);
    expect(paths(neededFiles(repo, 'fp16', 'owner/name@main', SHA)).filter((p) => p.startsWith('onnx/'))).toEqual([
      'onnx/decoder_model_merged_fp16.onnx', 'onnx/embed_tokens_fp16.onnx', 'onnx/encoder_model_fp16.onnx', 'onnx/vision_encoder_fp16.onnx',
    ]);
  });

  it('refuses a variant that is missing, saying the other one is complete; and a repository with no decoder at all', () => {
    const repo = files(...base(''), 'onnx/decoder_model_merged.onnx');
    const fp16 = (() => { try { neededFiles(repo, 'fp16', 'owner/name@main', SHA); } catch (e) { return e; } })() as PackageError;
    expect(fp16).toBeInstanceOf(PackageError);
    expect(fp16.fix).toBe('Choose the fp32 variant: this repository has its graphs.');
    expect(fp16.where).toBe('owner/name@main (commit aaaaaaaaaaaa)');
    const noDecoder = files(...base(''));
    expect(() => neededFiles(noDecoder, 'fp32', 'owner/name@main', SHA)).toThrow('the repository has no "onnx/decoder_model.onnx" (the fp32 variant needs it)');
    expect(() => neededFiles(files('config.json', 'README.md'), 'fp32', 'owner/name@main', SHA)).toThrow(PackageError);
  });
});
