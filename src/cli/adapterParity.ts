/**
 * Adapter parity, the engine's side (issue 15, item 2): the same adapter files on the same images through the
 * engine as through PyTorch and transformers (python/parity/adapter_parity.py, whose JSON this reads):
 *
 *   python3 python/parity/adapter_parity.py --out /tmp/parity/pytorch.json
 *   npm run parity:adapter -- --pytorch /tmp/parity/pytorch.json [--out /tmp/parity/engine.json]
 *
 * Per model and per adapter (the studio's, and one trained further in PyTorch and saved by adalink_studio, read
 * here by the studio's own import, src/formats/adapterFile.ts): the encoder's inputs — adapted image tokens and
 * adapted prompt embeddings (src/engine/encoderInputs.ts) — against PyTorch's, max |engine − PyTorch| over each
 * example's own tokens, and the greedy ids (src/engine/generate.ts) against PyTorch's, token for token. It
 * prints a table and exits 1 unless every embedding agrees to --tolerance (1e-5) of max(1, its largest |x|) and
 * every caption is identical. (Relative above 1: the default model's image tokens reach |x| ≈ 190, where one
 * float32 ulp is 1.5e-5, so no float32 computation of them can be within 1e-5 absolute.)
 */
import { readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { parseArgs } from 'node:util';
import { readDataset } from '../data/dataset.ts';
import { readEncoderInputs } from '../engine/encoderInputs.ts';
import { cacheImageFeatures } from '../engine/featureCache.ts';
import { CaptionGenerator } from '../engine/generate.ts';
import { loadModelPackage, type ModelPackage } from '../engine/modelPackage.ts';
import { readAdapterFile } from '../formats/adapterFile.ts';
import { datasetSource, folderSource } from './fileSource.ts';
import { announceGpu, runCli, useDevice } from './runCli.ts';

/** What python/parity/adapter_parity.py writes per example. */
interface PyTorchExample {
  file_name: string;
  prompt_ids: number[];
  adapted_image_embeds: number[][];
  adapted_text_embeds: number[][];
  ids: number[];
  caption: string;
}

interface PyTorchAdapterRun {
  label: string;
  adapter: string;
  examples: PyTorchExample[];
}

interface PyTorchModel {
  package: string;
  dataset: string;
  max_target_tokens: number;
  runs: PyTorchAdapterRun[];
  skipped?: string;
}

interface ExampleResult {
  file_name: string;
  imageMaxAbs: number;
  textMaxAbs: number;
  /** max |x| of PyTorch's image tokens and prompt embeddings (the scale the differences are against). */
  imageScale: number;
  textScale: number;
  sameIds: boolean;
  engine: { ids: number[]; caption: string };
  pytorch: { ids: number[]; caption: string };
}

/** max |a[i] − b[i]| over the rows given (b: PyTorch's rows of width d). */
function maxAbs(engine: Float32Array, offset: number, pytorch: number[][]): number {
  let worst = 0;
  const d = pytorch[0].length;
  pytorch.forEach((row, t) => row.forEach((x, j) => { worst = Math.max(worst, Math.abs(engine[offset + t * d + j] - x)); }));
  return worst;
}

const largest = (rows: number[][]) => rows.reduce((m, row) => row.reduce((n, x) => Math.max(n, Math.abs(x)), m), 0);

const repoPath = (path: string) => (isAbsolute(path) ? path : join(process.cwd(), path));

async function compareRun(pkg: ModelPackage, features: Awaited<ReturnType<typeof cacheImageFeatures>>, model: PyTorchModel, run: PyTorchAdapterRun): Promise<ExampleResult[]> {
  const path = repoPath(run.adapter);
  // The studio's import: the file's checks, its base model against this package.
  const weights = readAdapterFile(new Uint8Array(await readFile(path)), pkg.manifest, path).weights;
  const promptIds = run.examples.map((e) => e.prompt_ids);
  const inputs = await readEncoderInputs(pkg, features, promptIds, weights);
  const generator = new CaptionGenerator(pkg);
  const captions = await generator.generate({ features, imageIndices: promptIds.map((_, i) => i), promptIds }, weights, {
    batchSize: promptIds.length, maxTokens: model.max_target_tokens,
  }).finally(() => generator.destroy());
  const d = pkg.manifest.d_model;
  const Ni = pkg.manifest.image.tokens;
  return run.examples.map((e, i) => ({
    file_name: e.file_name,
    imageMaxAbs: maxAbs(inputs.image, i * Ni * d, e.adapted_image_embeds),
    textMaxAbs: maxAbs(inputs.text, i * inputs.promptLength * d, e.adapted_text_embeds),
    imageScale: largest(e.adapted_image_embeds),
    textScale: largest(e.adapted_text_embeds),
    sameIds: JSON.stringify(captions[i].ids) === JSON.stringify(e.ids),
    engine: { ids: captions[i].ids, caption: captions[i].caption },
    pytorch: { ids: e.ids, caption: e.caption },
  }));
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({ options: { pytorch: { type: 'string' }, out: { type: 'string' }, tolerance: { type: 'string', default: '1e-5' }, help: { type: 'boolean', short: 'h' } } });
  if (args.help || !args.pytorch) {
    console.log('usage: npm run parity:adapter -- --pytorch <adapter_parity.py JSON> [--out engine.json] [--tolerance 1e-5]');
    process.exitCode = args.help ? 0 : 2;
    return;
  }
  console.log(`command: npm run parity:adapter -- ${process.argv.slice(2).join(' ')}`);
  const gpu = await announceGpu();
  const tolerance = Number(args.tolerance);
  const pytorch = JSON.parse(await readFile(args.pytorch, 'utf8')) as Record<string, PyTorchModel>;
  const report: Record<string, unknown> = { command: `npm run parity:adapter -- ${process.argv.slice(2).join(' ')}`, gpu, tolerance, models: {} };
  let failures = 0;
  for (const [name, model] of Object.entries(pytorch)) {
    if (model.skipped) {
      console.log(`\n${name}: skipped by PyTorch's side (${model.skipped})`);
      failures++;
      continue;
    }
    // Not released after: both packages run on ORT's one device, which runCli waits for and destroys at the exit.
    const pkg = await loadModelPackage(folderSource(`public/models/${model.package}`));
    useDevice(pkg.device);
    const dataset = await readDataset(await datasetSource(repoPath(model.dataset)));
    const images = model.runs[0].examples.map((e) => e.file_name);
    const features = await cacheImageFeatures(pkg, { label: dataset.label, source: dataset.source, images });
    const runs: Record<string, ExampleResult[]> = {};
    console.log(`\n${name} (${images.length} images of ${model.dataset}; max |engine − PyTorch| of the encoder's inputs, greedy ids)`);
    console.log('| adapter | image | image tokens (max \\|x\\|) | prompt tokens (max \\|x\\|) | ids | engine caption | PyTorch caption |');
    console.log('|---|---|---:|---:|---|---|---|');
    for (const run of model.runs) {
      const results = await compareRun(pkg, features, model, run);
      runs[run.label] = results;
      for (const r of results) {
        const ok = r.imageMaxAbs <= tolerance * Math.max(1, r.imageScale) && r.textMaxAbs <= tolerance * Math.max(1, r.textScale) && r.sameIds;
        if (!ok) failures++;
        console.log(`| ${run.label} | ${r.file_name} | ${r.imageMaxAbs.toExponential(2)} (${r.imageScale.toPrecision(3)}) | ${r.textMaxAbs.toExponential(2)} (${r.textScale.toPrecision(3)}) | ${r.sameIds ? 'same' : '**differ**'} | ${r.engine.caption} | ${r.pytorch.caption} |`);
      }
    }
    features.buffer.destroy();
    (report.models as Record<string, unknown>)[name] = { package: model.package, dataset: model.dataset, runs };
  }
  report.failures = failures;
  if (args.out) await writeFile(args.out, `${JSON.stringify(report, null, 1)}\n`);
  console.log(failures === 0
    ? `\nparity: every adapted embedding within ${tolerance} × max(1, max |x|) of PyTorch's, every greedy caption identical`
    : `\nparity FAILED: ${failures} example(s) (or models skipped) with an embedding more than ${tolerance} × max(1, max |x|) from PyTorch's, or other ids`);
  if (failures) process.exitCode = 1;
}

runCli(main);
