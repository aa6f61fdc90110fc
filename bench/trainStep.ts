/**
 * The engine's train step on a real GPU (issue 5), in Node over Dawn — the numbers docs/BENCHMARKS.md
 * sets against PyTorch eager on the same GPU (tools/bench_train_step.py):
 *
 *   npm run bench:train -- [--model public/models/pali-scenes-default] [--data public/demo/relational-captions.zip]
 *                          [--batch 32] [--warmup 10] [--steps 60] [--vjp recorded|captured|plain] [--vjp-batch N] [--examples N]
 *                          [--release-vision] [--ort-cache bucket|lazyRelease|simple]
 *                          [--out bench/results/train-step-engine.json]
 *
 * On a bare GPU machine: node bench/gpu-runtime/build.mjs here, then (carry .devcarry) `. .devcarry/setup.sh &&
 * $NODE --liftoff-only .devcarry/bench-train.mjs …`. It prints the command, the machine and every figure, and
 * writes them as JSON:
 *  - caching image features: the frozen ViT once per image, images/s;
 *  - train step: median (and quartiles) of the intervals between consecutive steps' losses after `warmup`
 *    steps, with the engine's usual pipelining (≤ 2 steps in flight); examples/s;
 *  - one epoch end to end with cached features (ceil(examples / batch) steps, to the last loss read back);
 *  - the losses of the measured steps (first, last, mean): the same settings give the same losses whichever
 *    way the vjp runs, which is how a faster run shows it computes the same thing;
 *  - peak GPU memory: the most bytes of buffers alive on the device at once (the engine's and ONNX Runtime's) from
 *    the trainer's creation to the end of the measured steps (as PyTorch's max_memory_allocated);
 *  - where the host's time goes per step (Trainer.hostMs: encoding the forward, the vjp — ORT's run, or encoding
 *    its recording —, encoding the update, waiting for read-backs), and how the vjp ran (engine/frozenVjp.ts:
 *    `--vjp`, the engine's default `recorded`);
 *  - the AdaLink kernels' share: the adapter's own GPU work of one step (embedding gather, AdaLink forward with
 *    dropout, backward, clipping, Adafactor), timed alone on the same shapes, over the median step.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { prepareExamples, readSplit } from '../src/cli/datasetSplit.ts';
import { folderSource } from '../src/cli/fileSource.ts';
import { announceGpu, runCli, useDevice } from '../src/cli/runCli.ts';
import { encodeAdaptedEmbeddings } from '../src/engine/adaptedEmbeddings.ts';
import { buildBatch } from '../src/engine/batch.ts';
import { MODALITIES, withDefaults, type Modality } from '../src/config.ts';
import { BufferPool, gpuIdle, storageBuffer } from '../src/engine/gpuBuffers.ts';
import { loadModelPackage, type ModelPackage } from '../src/engine/modelPackage.ts';
import type { VjpReplay } from '../src/engine/frozenVjp.ts';
import { encodeExamples, Trainer } from '../src/engine/trainer.ts';
import type { EncodedExample } from '../src/engine/batch.ts';
import { adafactor } from '../src/kernels/adafactor.ts';
import { adalinkBackward } from '../src/kernels/adalinkBackward.ts';
import { gradNorm, STEP_STATUS_BYTES } from '../src/kernels/gradNorm.ts';
import { dropoutKey, initialWdown } from '../src/kernels/random.ts';
import { gpuPeakBytes, resetGpuPeak, trackGpuMemory } from '../src/engine/gpuMemory.ts';
import { ORT_BUFFER_CACHES, setOrtBufferCache, type OrtBufferCache } from '../src/engine/onnxRuntime.ts';

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

/**
 * The adapter's share of a step: the same kernels the trainer encodes around the vjp (ENGINE.md §4–5), on the
 * shapes of one batch, with a stand-in dL/dẼ (the kernels' cost does not depend on its values). Milliseconds per
 * step: `perGroup` steps' kernels encoded first, then submitted together and waited for (so the submit and the
 * wait are spread over them), median over `groups`.
 */
async function adalinkKernelMs(pkg: ModelPackage, features: GPUBuffer, batchExamples: EncodedExample[], groups = 5, perGroup = 20): Promise<number> {
  const { device, manifest } = pkg;
  const d = manifest.d_model;
  const config = withDefaults({});
  const batch = buildBatch(batchExamples, manifest.text);
  const pool = new BufferPool(device);
  const table = storageBuffer(device, 'embedding table', pkg.textEmbeddings);
  const status = storageBuffer(device, 'status', STEP_STATUS_BYTES);
  const loss = storageBuffer(device, 'loss', 16);
  const adapters = MODALITIES.map((modality) => {
    const r = config.rank[modality];
    const weights = (rows: number, cols: number) => storageBuffer(device, 'w', rows * cols * 4);
    return {
      modality, r, Wdown: storageBuffer(device, 'wdown', initialWdown(0, modality, d, r)), Wup: weights(r, d),
      dWdown: weights(d, r), dWup: weights(r, d),
      moments: [[weights(d, 1), weights(r, 1)], [weights(r, 1), weights(d, 1)]] as const,
    };
  });
  const encodeStep = (i: number): GPUCommandBuffer => {
    const encoder = device.createCommandEncoder();
    const { tokens, embeds, hidden } = encodeAdaptedEmbeddings(device, encoder, pool, manifest,
      { features, imageIndices: batch.imageIndices, promptIds: batch.promptIds, promptLength: batch.promptLength, embeddingTable: table },
      adapters.map((a) => ({ modality: a.modality, r: a.r, Wdown: a.Wdown, Wup: a.Wup, p: config.dropout, key: dropoutKey(0, i, a.modality) })));
    const valid: Record<Modality, GPUBuffer> = {
      image: pool.get('image valid', tokens.image * 4), text: pool.get('text valid', tokens.text * 4),
    };
    for (const a of adapters) {
      const G = pool.get(`${a.modality} dL/dE`, tokens[a.modality] * d * 4);
      adalinkBackward(device, encoder, {
        E: embeds[a.modality], G, valid: valid[a.modality], H: hidden.get(a.modality)!, Wup: a.Wup, dWdown: a.dWdown, dWup: a.dWup,
        N: tokens[a.modality], d, r: a.r, p: config.dropout, key: dropoutKey(0, i, a.modality),
      });
    }
    gradNorm(device, encoder, {
      grads: adapters.flatMap((a) => [{ buffer: a.dWdown, count: d * a.r }, { buffer: a.dWup, count: a.r * d }]),
      loss, lossOffset: 0, clip: config.clipNorm, status,
    });
    for (const a of adapters) {
      for (const [w, grad, rows, cols, [row, col]] of [[a.Wdown, a.dWdown, d, a.r, a.moments[0]], [a.Wup, a.dWup, a.r, d, a.moments[1]]] as const) {
        adafactor(device, encoder, { param: w, grad, row, col, status, rows, cols, lr: 1e-3, step: i + 1, weightDecay: 0 });
      }
    }
    return encoder.finish();
  };
  const times: number[] = [];
  for (let g = -1; g < groups; g++) {
    const commands = Array.from({ length: perGroup }, (_, i) => encodeStep((g + 1) * perGroup + i));
    const started = performance.now();
    device.queue.submit(commands);
    await gpuIdle(device);
    if (g >= 0) times.push((performance.now() - started) / perGroup); // group −1 warms up
  }
  pool.destroy();
  return quantile(times.sort((a, b) => a - b), 0.5);
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      model: { type: 'string', default: 'public/models/pali-scenes-default' },
      data: { type: 'string', default: 'public/demo/relational-captions.zip' },
      batch: { type: 'string', default: '32' }, warmup: { type: 'string', default: '10' }, steps: { type: 'string', default: '60' },
      vjp: { type: 'string', default: 'recorded' },
      // Examples per vjp run (TrainerOptions.vjpBatch): the whole batch unless given.
      'vjp-batch': { type: 'string' },
      // Release the frozen ViT's session once the features are cached (training does not use it; the CLI trainer
      // does the same): its weights and ORT's buffers leave the GPU before the peak memory is taken.
      'release-vision': { type: 'boolean', default: false },
      // ORT's cache of freed buffers (src/engine/onnxRuntime.ts OrtBufferCache): memory held between runs.
      'ort-cache': { type: 'string', default: 'bucket' },
      // The first N images of the split only (the feature cache holds N · image tokens · d floats on the GPU).
      examples: { type: 'string' },
      out: { type: 'string', default: 'bench/results/train-step-engine.json' },
    },
  });
  console.log(`command: ${process.argv.slice(1).join(' ')}`);
  const ortCache = args['ort-cache'] as OrtBufferCache;
  if (!ORT_BUFFER_CACHES.includes(ortCache)) throw new Error(`--ort-cache ${ortCache}: expected one of ${ORT_BUFFER_CACHES.join(', ')}`);
  setOrtBufferCache(ortCache);
  const gpu = await announceGpu();
  trackGpuMemory(); // after Node's WebGPU globals exist, before the package creates its device
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node ${process.version}`);
  const pkg = await loadModelPackage(folderSource(args.model!));
  useDevice(pkg.device);
  const batchSize = Number(args.batch);
  const warmup = Number(args.warmup);
  const measured = Number(args.steps);

  const split = await readSplit(args.data!, 'train');
  const dataset = args.examples ? { ...split, images: split.images.slice(0, Number(args.examples)), examples: split.examples.filter((e) => e.imageIndex < Number(args.examples)) } : split;
  let started = performance.now();
  const { features, train } = await prepareExamples(pkg, dataset, 'train');
  await gpuIdle(pkg.device);
  const cacheSeconds = (performance.now() - started) / 1000;
  if (args['release-vision']) await pkg.vision.release();
  const examples = encodeExamples(pkg, train, features);
  const stepsPerEpoch = Math.ceil(examples.length / batchSize);

  const vjpReplay = args.vjp as VjpReplay;
  if (!['recorded', 'captured', 'plain'].includes(vjpReplay)) throw new Error(`--vjp ${vjpReplay}: expected recorded, captured or plain`);
  const vjpBatch = args['vjp-batch'] === undefined ? batchSize : Number(args['vjp-batch']);
  resetGpuPeak();
  const trainer = new Trainer(pkg, features, examples, withDefaults({ batchSize, steps: warmup + measured + stepsPerEpoch }), undefined, { vjpReplay, vjpBatch });
  const stamps: number[] = [];
  const losses: number[] = [];
  const onStep = ({ loss }: { loss: number }) => {
    stamps.push(performance.now());
    losses.push(loss);
  };
  await trainer.run(warmup, { onStep });
  stamps.length = 0;
  losses.length = 0;
  const before = { ...trainer.hostMs };
  started = performance.now();
  await trainer.run(measured, { onStep });
  const measuredSeconds = (performance.now() - started) / 1000;
  const hostMsPerStep = Object.fromEntries(Object.entries(trainer.hostMs)
    .map(([phase, ms]) => [phase, (ms - before[phase as keyof typeof before]) / measured]));
  const intervals = stamps.slice(1).map((t, i) => t - stamps[i]).sort((a, b) => a - b);
  const stepMs = quantile(intervals, 0.5);
  const measuredLosses = { first: losses[0], last: losses[losses.length - 1], mean: losses.reduce((a, b) => a + b, 0) / losses.length };
  const peakBytes = gpuPeakBytes();

  started = performance.now();
  await trainer.run(stepsPerEpoch, { onStep });
  const epochSeconds = (performance.now() - started) / 1000;
  const vjpSteps = { ...trainer.vjp.counts };
  await trainer.destroy();

  const kernelMs = await adalinkKernelMs(pkg, features.buffer, examples.slice(0, batchSize));
  const result = {
    command: `npm run bench:train -- ${process.argv.slice(2).join(' ')}`.trim(),
    gpu, node: process.version, cpus: cpus().length, model: pkg.manifest.id, data: args.data, examples: examples.length, batchSize,
    cacheFeatures: { images: dataset.images.length, seconds: cacheSeconds, imagesPerSecond: dataset.images.length / cacheSeconds },
    trainStep: {
      warmup, measured, medianMs: stepMs, p25Ms: quantile(intervals, 0.25), p75Ms: quantile(intervals, 0.75),
      meanMs: (measuredSeconds * 1000) / measured, examplesPerSecond: (batchSize * 1000) / stepMs,
      hostMsPerStep, losses: measuredLosses,
    },
    vjp: { replay: trainer.vjp.replay, examplesPerRun: vjpBatch, runs: vjpSteps },
    visionReleased: args['release-vision'], ortBufferCache: ortCache,
    epoch: { steps: stepsPerEpoch, seconds: epochSeconds },
    peakGpuBytes: peakBytes,
    adalinkKernels: { msPerStep: kernelMs, shareOfStep: kernelMs / stepMs },
  };
  console.log(JSON.stringify(result, null, 1));
  mkdirSync(dirname(args.out!), { recursive: true });
  writeFileSync(args.out!, `${JSON.stringify(result, null, 1)}\n`);
}

runCli(main);
