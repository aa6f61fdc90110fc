/**
 * "Download merged" (src/formats/mergedModel.ts, visionFold.ts), in Node over Dawn: an adapter folded into a
 * package gives, with no adapter, what the live adapter gives on the base package — the encoder's inputs (the
 * adapted image tokens and prompt embeddings, as generation builds them) to float32 rounding, and the same
 * greedy captions on every image of e2e/fixtures/tiny-captions.
 *
 * The adapters are the trained ones of the reference fixtures, which change all 32 greedy captions of the frozen
 * models (checked here, so that a merge that did nothing would fail). The merged package is loaded by the
 * normal package loader from the files of the zip a person downloads. tiny-pali-test's vision graph ends with
 * a linear layer (folded); tiny-florence-test's ends with a LayerNorm (the adapter appended after it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { folderSource } from '../cli/fileSource.ts';
import { installNodeWebGpu } from '../cli/nodeGpu.ts';
import { withDefaults } from '../config.ts';
import { zipSource } from '../data/zip.ts';
import { readImageFolder, type CaptionDataset } from '../data/imagefolder.ts';
import { FormatError, PackageError } from '../errors.ts';
import { mergedModelFile } from '../worker/mergedDownload.ts';
import { writeAdapterFile, type AdapterWeights } from '../formats/adapterFile.ts';
import { sha256Hex } from '../formats/digest.ts';
import { mergeAdapterIntoPackage, zipMergedPackage, type MergedPackage } from '../formats/mergedModel.ts';
import { parseManifest } from '../formats/manifest.ts';
import { encodeOnnxModel, readOnnxModel } from '../formats/onnx.ts';
import { adaptRows, mergeImageAdapter } from '../formats/visionFold.ts';
import { createSession, hostTensor } from './onnxRuntime.ts';
import { cacheImageFeatures, type FeatureCache } from './featureCache.ts';
import { readEncoderInputs } from './encoderInputs.ts';
import { CaptionGenerator, type Caption } from './generate.ts';
import { loadModelPackage, releaseModelPackage, type ModelPackage } from './modelPackage.ts';
import { florenceGreedy, florenceTraining } from './testing/florenceSetup.ts';
import { fixtureAdapter, readFixture, readGreedyFixture, TINY_DATASET } from './testing/tinySetup.ts';

/** Images (the greedy fixtures' first ones) per package: few, as every graph shape costs shader compilations on SwiftShader. */
const IMAGES = 8;
const CASES = [
  { path: 'public/models/tiny-pali-test', adapter: fixtureAdapter(readFixture('adafactor')), prompts: readGreedyFixture().examples.slice(0, IMAGES), merge: 'folded' },
  { path: 'public/models/tiny-florence-test', adapter: fixtureAdapter(florenceTraining), prompts: florenceGreedy.examples.slice(0, IMAGES), merge: 'appended' },
] as const;

let dataset: CaptionDataset;
beforeAll(async () => {
  installNodeWebGpu();
  dataset = await readImageFolder(folderSource(TINY_DATASET));
});

/** The adapter as the studio downloads it. */
function adapterFile(pkg: ModelPackage, adapter: AdapterWeights[]): Uint8Array {
  const config = withDefaults({ modalities: adapter.map((w) => w.modality), rank: { image: adapter[0].rank, text: adapter[1].rank } });
  const tensors = Object.fromEntries(adapter.flatMap((w) => [[`${w.modality}.wdown`, w.wdown], [`${w.modality}.wup`, w.wup]]));
  return writeAdapterFile({ format: 'adalink-training-state', version: 1, packageId: pkg.manifest.id, exampleCount: 32, config, step: 50, losses: [1], tensors },
    pkg.manifest, { name: 'My captions' });
}

/** max |a − b| / max |b|. */
function relativeDifference(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

describe.each(CASES)('$path merged with its reference adapter', ({ path, adapter, prompts, merge }) => {
  let base: ModelPackage;
  let merged: ModelPackage;
  let result: MergedPackage;
  let zip: { fileName: string; bytes: Uint8Array };
  let file: Uint8Array;
  const features: FeatureCache[] = [];
  const generators: CaptionGenerator[] = [];
  const captions: Record<'frozen' | 'live' | 'merged', Caption[]> = { frozen: [], live: [], merged: [] };
  const promptIds = prompts.map((e) => e.prompt_ids);

  beforeAll(async () => {
    base = await loadModelPackage(folderSource(path));
    file = adapterFile(base, adapter);
    result = await mergeAdapterIntoPackage(base.source, file, 'My captions');
    zip = zipMergedPackage(result);
    merged = await loadModelPackage(zipSource(zip.bytes, zip.fileName));
    // Feature i is the image of example i.
    const images = { label: dataset.label, source: dataset.source, images: prompts.map((e) => e.file_name) };
    for (const pkg of [base, merged]) {
      features.push(await cacheImageFeatures(pkg, images));
      generators.push(new CaptionGenerator(pkg));
    }
    const inputs = (i: number) => ({ features: features[i], imageIndices: prompts.map((_, j) => j), promptIds });
    captions.frozen = await generators[0].generate(inputs(0), [], { batchSize: IMAGES });
    captions.live = await generators[0].generate(inputs(0), adapter, { batchSize: IMAGES });
    captions.merged = await generators[1].generate(inputs(1), [], { batchSize: IMAGES });
  });

  afterAll(async () => {
    generators.forEach((g) => g.destroy());
    features.forEach((f) => f.buffer.destroy());
    for (const pkg of [base, merged]) if (pkg) await releaseModelPackage(pkg);
  });

  it('is a package with a new id and a merged_from note', async () => {
    const sha = await sha256Hex(file);
    expect(merged.manifest.id).toBe(`${base.manifest.id}+merged-my-captions-${sha.slice(0, 8)}`);
    expect(zip.fileName).toBe(`${merged.manifest.id}.zip`);
    expect(result.manifest.merged_from).toMatchObject({ base_model: base.manifest.id, adapter_sha256: sha, adapter_name: 'My captions', image_merge: merge });
    expect(result.note).toContain(merge);
    // Only the embedding table and the vision graph differ from the base's files.
    for (const [name, bytes] of result.files) {
      const same = Buffer.from(bytes).equals(Buffer.from(await base.source.read(name)));
      expect([name, same]).toEqual([name, !['manifest.json', 'vision.onnx', 'text_embeddings.safetensors'].includes(name)]);
    }
    const nodes = (bytes: Uint8Array) => readOnnxModel(bytes).graph.nodes.length;
    const added = nodes(result.files.get('vision.onnx')!) - nodes(await base.source.read('vision.onnx'));
    expect(added).toBe(merge === 'folded' ? 0 : 3);
  });

  it('changes every caption of the frozen model (the adapter matters)', () => {
    const changed = captions.live.filter((c, i) => c.caption !== captions.frozen[i].caption).length;
    expect(changed).toBe(prompts.length);
  });

  it('gives the encoder the live adapter\'s inputs, without an adapter', async () => {
    const live = await readEncoderInputs(base, features[0], promptIds, adapter);
    const folded = await readEncoderInputs(merged, features[1], promptIds, []);
    const frozen = await readEncoderInputs(base, features[0], promptIds, []);
    const image = relativeDifference(folded.image, live.image);
    const text = relativeDifference(folded.text, live.text);
    console.log(`${path}: merged vs live encoder inputs, max |Δ| / max |x|: image ${image.toExponential(2)}, text ${text.toExponential(2)}; `
      + `the adapter's own change: image ${relativeDifference(frozen.image, live.image).toExponential(2)}, text ${relativeDifference(frozen.text, live.text).toExponential(2)}`);
    expect(image).toBeLessThan(1e-5);
    expect(text).toBeLessThan(1e-5);
    expect(relativeDifference(frozen.image, live.image)).toBeGreaterThan(1e-2);
  });

  it('writes the live adapter\'s greedy captions, token for token', () => {
    expect(captions.merged.map((c) => c.ids)).toEqual(captions.live.map((c) => c.ids));
    captions.merged.forEach((c, i) => expect(c.score).toBeCloseTo(captions.live[i].score, 4));
  });
});

describe('the default model (pali-scenes-default)', () => {
  it('folds into its last linear layer, whose float16 weight sits behind a Cast: the vision graph gives the adapted tokens', async () => {
    const source = folderSource('public/models/pali-scenes-default');
    const manifest = parseManifest(await source.read('manifest.json'), source.label);
    const d = manifest.d_model;
    const size = manifest.image.size;
    const random = (n: number, scale: number, seed: number) => Float32Array.from({ length: n }, (_, i) => scale * Math.sin(seed * 7919 + i * 12.9898));
    const image: AdapterWeights = { modality: 'image', rank: 4, wdown: random(d * 4, 0.3, 1), wup: random(4 * d, 0.3, 2) };
    const baseBytes = await source.read('vision.onnx');
    // Its graphs share one weights file (manifest.weights: src/formats/sharedWeights.ts).
    const weights = await source.read(manifest.weights!);
    const model = readOnnxModel(baseBytes, { externalData: (location) => (location === manifest.weights ? weights : undefined) });
    const how = mergeImageAdapter(model, 'image_embeds', d, image, 'vision.onnx');
    expect(how.kind).toBe('folded');
    expect(how.description).toContain('float16');
    // The Casts and float16 tensors of the old weight and bias are gone; the folded ones are float32.
    const names = new Set([...model.graph.initializers.map((t) => t.name), ...model.graph.nodes.flatMap((n) => n.outputs)]);
    expect(['val_182', 'val_182__f16', 'model.vit.proj.bias', 'model.vit.proj.bias__f16'].filter((n) => names.has(n))).toEqual([]);
    const run = async (bytes: Uint8Array) => {
      const session = await createSession(bytes, 'vision.onnx', { inputs: ['pixel_values'], outputs: ['image_embeds'] },
        { externalData: [{ path: manifest.weights!, data: weights }] });
      const out = await session.run({ pixel_values: hostTensor('float32', random(3 * size * size, 1, 3), [1, 3, size, size]) });
      await session.release();
      return out.image_embeds.data as Float32Array;
    };
    const live = adaptRows(await run(baseBytes), d, image);
    const folded = await run(encodeOnnxModel(model));
    const error = relativeDifference(folded, live);
    console.log(`pali-scenes-default: folded vision graph vs live adapter, max |Δ| / max |x| ${error.toExponential(2)}`);
    expect(error).toBeLessThan(1e-5);
  });
});

describe('a vision graph ending with Gemm (transB = 1)', () => {
  it('folds into its weight Bᵀ and bias C: A·B\'ᵀ + C\' is the adapted output (evaluated here on the CPU)', () => {
    const [n, k, d, r] = [3, 5, 4, 2];
    const random = (length: number, seed: number) => Float32Array.from({ length }, (_, i) => Math.sin(seed * 31.7 + i * 1.3));
    const [a, b, c] = [random(n * k, 1), random(d * k, 2), random(d, 3)];
    const w: AdapterWeights = { modality: 'image', rank: r, wdown: random(d * r, 4), wup: random(r * d, 5) };
    const model = {
      irVersion: 8, opsets: [{ domain: '', version: 17 }], producerName: '', producerVersion: '', metadata: {},
      graph: {
        name: 'g', valueInfo: [], inputs: [{ name: 'a', dataType: 'float32' as const, shape: [n, k] }], outputs: [{ name: 'y', dataType: 'float32' as const, shape: [n, d] }],
        initializers: [{ name: 'b', dataType: 'float32' as const, dims: [d, k], values: b }, { name: 'c', dataType: 'float32' as const, dims: [d], values: c }],
        nodes: [{ opType: 'Gemm', domain: '', name: 'proj', inputs: ['a', 'b', 'c'], outputs: ['y'], attributes: { transB: { type: 'int' as const, value: 1 } } }],
      },
    };
    const gemm = (weight: Float32Array, bias: Float32Array) => Float32Array.from({ length: n * d }, (_, i) => {
      let sum = bias[i % d];
      for (let j = 0; j < k; j++) sum += a[Math.floor(i / d) * k + j] * weight[(i % d) * k + j];
      return sum;
    });
    const live = adaptRows(gemm(b, c), d, w);
    expect(mergeImageAdapter(model, 'y', d, w, 'gemm').kind).toBe('folded');
    const [weight, bias] = model.graph.nodes[0].inputs.slice(1).map((name) => model.graph.initializers.find((t) => t.name === name)!.values);
    expect(model.graph.initializers.map((t) => t.name)).not.toContain('b');
    expect(relativeDifference(gemm(weight, bias), live)).toBeLessThan(1e-6);
  });
});

describe('merging refuses', () => {
  it('an adapter trained for another model, saying which', async () => {
    const pali = { manifest: { ...(await loadManifest('public/models/tiny-pali-test')), id: 'another-model' } } as ModelPackage;
    const other = writeAdapterFile({
      format: 'adalink-training-state', version: 1, packageId: 'another-model', exampleCount: 1, config: withDefaults({ modalities: ['text'], rank: { image: 1, text: 1 } }),
      step: 1, losses: [1], tensors: { 'text.wdown': new Float32Array(32), 'text.wup': new Float32Array(32) },
    }, pali.manifest);
    const error = await mergeAdapterIntoPackage(folderSource('public/models/tiny-pali-test'), other, 'x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FormatError);
    expect((error as FormatError).problem).toContain('"another-model"');
  });

  it('a model from the Hub, with what to do', async () => {
    const hub = { repo: 'onnx-community/Florence-2-base-ft', requested: 'main', revision: 'a'.repeat(40), variant: 'fp32' as const, downloaded: 0, cached: 0, kept: true, endpoint: '' };
    const error = await mergedModelFile({} as ModelPackage, hub, { name: 'x', file: new Uint8Array() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PackageError);
    expect((error as PackageError).fix).toContain('.safetensors');
  });
});

async function loadManifest(path: string) {
  return JSON.parse(new TextDecoder().decode(await folderSource(path).read('manifest.json')));
}
