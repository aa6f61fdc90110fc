/**
 * Bad packages and bad settings fail early, with a message that names the file or field and says what
 * to do — on the real ORT WebGPU runtime, not a mock.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { installNodeWebGpu } from '../cli/nodeGpu.ts';
import { memorySource } from '../data/source.ts';
import { withDefaults } from '../config.ts';
import { ConfigError, PackageError } from '../errors.ts';
import { cacheImageFeatures } from './featureCache.ts';
import { loadModelPackage, releaseModelPackage } from './modelPackage.ts';
import { loadTiny, TINY_PACKAGE, type TinySetup } from './testing/tinySetup.ts';
import { Trainer } from './trainer.ts';

const original = new Map(readdirSync(TINY_PACKAGE).map((f) => [f, new Uint8Array(readFileSync(`${TINY_PACKAGE}/${f}`))]));
const manifest = JSON.parse(new TextDecoder().decode(original.get('manifest.json')));

/** The tiny package with some files replaced (undefined removes the file). */
function variant(changes: Record<string, Uint8Array | object | undefined>) {
  const files = new Map<string, Uint8Array>(original);
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined) files.delete(name);
    else files.set(name, value instanceof Uint8Array ? value : new TextEncoder().encode(JSON.stringify(value)));
  }
  return memorySource('broken-package', files);
}

async function loadError(changes: Record<string, Uint8Array | object | undefined>): Promise<PackageError> {
  const error = await loadModelPackage(variant(changes)).then(
    async (pkg) => { await releaseModelPackage(pkg); return undefined; },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PackageError);
  return error as PackageError;
}

beforeAll(() => installNodeWebGpu());

describe('a broken model package', () => {
  it('names a file the manifest lists but the folder lacks', async () => {
    const e = await loadError({ 'vjp.onnx': undefined });
    expect(e.message).toMatch(/"vjp\.onnx" named in manifest\.json is missing/);
  });

  it('names a graph input the manifest gets wrong', async () => {
    const e = await loadError({ 'manifest.json': { ...manifest, files: { ...manifest.files, vjp: { ...manifest.files.vjp, inputs: { ...manifest.files.vjp.inputs, text_mask: 'attention' } } } } });
    expect(e.message).toContain('no input "attention"');
    expect(e.where).toContain('vjp.onnx');
  });

  it('refuses a file that is not ONNX', async () => {
    const e = await loadError({ 'vision.onnx': new TextEncoder().encode('<html>404 not found</html>'.repeat(4)) });
    expect(e.message).toContain('not an ONNX model');
    const truncated = await loadError({ 'vjp.onnx': original.get('vjp.onnx')!.slice(0, 2000) });
    expect(truncated.message).toMatch(/the graph cannot be read: .*truncated/);
  });

  it('refuses a manifest that is not JSON or misses fields', async () => {
    expect((await loadError({ 'manifest.json': new TextEncoder().encode('{ "format": ') })).message).toContain('not valid JSON');
    const { d_model: _, ...noWidth } = manifest;
    expect((await loadError({ 'manifest.json': noWidth })).message).toContain('"d_model" must be a positive integer');
    expect((await loadError({ 'manifest.json': { ...manifest, tokenizer: '../../etc/passwd' } })).message).toContain('leaves the package folder');
  });

  it('finds shapes that disagree with the manifest', async () => {
    const wide = await loadError({ 'manifest.json': { ...manifest, d_model: manifest.d_model * 2 } });
    expect(wide.message).toContain('embedding table has shape');
    const tokens = await loadError({ 'manifest.json': { ...manifest, image: { ...manifest.image, tokens: manifest.image.tokens + 1 } } });
    expect(tokens.message).toContain(`grad_image_embeds has shape [batch, ${manifest.image.tokens}, ${manifest.d_model}]`);
    // A vision graph that disagrees with the manifest (the tiny Florence-2's: 17 image tokens) is found when it first runs.
    const pkg = await loadModelPackage(variant({ 'vision.onnx': new Uint8Array(readFileSync('public/models/tiny-florence-test/vision.onnx')) }));
    const tiny = await loadTiny();
    await expect(cacheImageFeatures(pkg, tiny.dataset)).rejects.toThrow(/vision graph gives image embeddings of shape/);
    await releaseModelPackage(pkg);
  });

  it('finds mask, ids and labels types that disagree with the manifest', async () => {
    const { input_types: _, ...int64 } = manifest.files.vjp;
    const error = await loadError({ 'manifest.json': { ...manifest, files: { ...manifest.files, vjp: int64 } } });
    expect(error.message).toContain('the vjp graph takes text_mask as float32, manifest.json says int64');
  });
});

describe('bad training settings', () => {
  let tiny: TinySetup;
  beforeAll(async () => {
    tiny = await loadTiny();
  });

  it.each([0, -1, 2.5, 10_000])('refuses rank %s with a ConfigError naming the range', (rank) => {
    const config = withDefaults({ rank: { image: rank, text: 4 } });
    expect(() => new Trainer(tiny.pkg, tiny.features, tiny.examples, config)).toThrow(ConfigError);
    expect(() => new Trainer(tiny.pkg, tiny.features, tiny.examples, config)).toThrow(`between 1 and d_model = ${tiny.pkg.manifest.d_model}`);
  });

  it('refuses a learning rate, batch size or dropout out of range', () => {
    for (const bad of [{ learningRate: 0 }, { batchSize: 0 }, { dropout: 1 }, { steps: 1.5 }] as const) {
      expect(() => new Trainer(tiny.pkg, tiny.features, tiny.examples, withDefaults({ rank: { image: 4, text: 4 }, ...bad }))).toThrow(ConfigError);
    }
  });
});
