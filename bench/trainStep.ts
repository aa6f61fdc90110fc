/**
 * The engine's train step on a real GPU (issue 5), in Node over Dawn — the numbers docs/BENCHMARKS.md
 * sets against PyTorch eager on the same GPU (tools/bench_train_step.py):
 *
 *   npm run bench:train -- [--model public/models/pali-scenes-default] [--data public/demo/relational-captions.zip]
 *                          [--batch 32] [--warmup 10] [--steps 60] [--vjp recorded|captured|plain] [--vjp-batch N] [--examples N]
 *                          [--release-vision] [--ort-cache bucket|lazyRelease|simple] [--open-vjp] [--caption-first N] [--memory-only]
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
 *    the trainer's creation to the end of the measured steps (as PyTorch's max_memory_allocated), and what was
 *    alive at that moment and at the end, by kind (src/engine/gpuMemory.ts: each session's weights, ORT's run
 *    intermediates, its cache of freed buffers, the captured graphs', the recording's, the engine's own), printed
 *    last as a table;
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
import { loadModelPackage, releaseGeneration, type ModelPackage } from '../src/engine/modelPackage.ts';
import { CaptionGenerator } from '../src/engine/generate.ts';
import type { VjpReplay } from '../src/engine/frozenVjp.ts';
import { encodeExamples, Trainer } from '../src/engine/trainer.ts';
import type { EncodedExample } from '../src/engine/batch.ts';
import { adafactor } from '../src/kernels/adafactor.ts';
import { adalinkBackward } from '../src/kernels/adalinkBackward.ts';
import { gradNorm, STEP_STATUS_BYTES } from '../src/kernels/gradNorm.ts';
import { dropoutKey, initialWdown } from '../src/kernels/random.ts';
import { gpuBytesByKind, gpuPeakBytes, gpuPeakBytesByKind, memoryKindOf, memoryScopesOverlapped, resetGpuPeak, trackGpuMemory } from '../src/engine/gpuMemory.ts';
import { replayLifetimes } from '../src/engine/commandRecorder.ts';
import { ORT_BUFFER_CACHES, setOrtBufferCache, type OrtBufferCache } from '../src/engine/onnxRuntime.ts';

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

/**
 * GPU memory by kind (src/engine/gpuMemory.ts) at the peak and at the end of the measured steps, in MB, largest
 * at the peak first; then the same summed over each kind's family (the words before its colon).
 */
function memoryTable(atPeak: Record<string, number>, atEnd: Record<string, number>): string {
  const mb = (bytes = 0) => (bytes / 1e6).toFixed(1).padStart(9);
  const families = (byKind: Record<string, number>) => {
    const sums: Record<string, number> = {};
    for (const [kind, bytes] of Object.entries(byKind)) sums[kind.split(':')[0]] = (sums[kind.split(':')[0]] ?? 0) + bytes;
    return sums;
  };
  const rows = (peak: Record<string, number>, end: Record<string, number>) => {
    const kinds = [...new Set([...Object.keys(peak), ...Object.keys(end)])].sort((a, b) => (peak[b] ?? 0) - (peak[a] ?? 0) || (end[b] ?? 0) - (end[a] ?? 0));
    const width = Math.max(...kinds.map((k) => k.length), 5);
    const total = (byKind: Record<string, number>) => Object.values(byKind).reduce((a, b) => a + b, 0);
    return [...kinds.map((k) => `  ${k.padEnd(width)} ${mb(peak[k])} ${mb(end[k])}`), `  ${'total'.padEnd(width)} ${mb(total(peak))} ${mb(total(end))}`];
  };
  return ['GPU memory by kind, MB   (at the peak | at the end of the measured steps)', ...rows(atPeak, atEnd),
    'by family', ...rows(families(atPeak), families(atEnd))].join('\n');
}

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
      // Caption the first N training images (greedy, batch 8) before training, then release the generation graphs,
      // as the studio does when a run starts after the playground or an evaluation: what captioning leaves behind.
      'caption-first': { type: 'string', default: '0' },
      // ORT's cache of freed buffers (src/engine/onnxRuntime.ts OrtBufferCache): memory held between runs.
      'ort-cache': { type: 'string', default: 'bucket' },
      // The first N images of the split only (the feature cache holds N · image tokens · d floats on the GPU).
      examples: { type: 'string' },
      // Open the package's any-shape vjp session before training, as the loader did before issue 16 (item 2)
      // whether or not a shape ran plain: its weights' share of the peak, measured.
      'open-vjp': { type: 'boolean', default: false },
      // Stop after the measured steps: no epoch, no timing of the AdaLink kernels alone (on SwiftShader, where
      // only the memory carries over to a GPU, they take longer than the rest).
      'memory-only': { type: 'boolean', default: false },
      out: { type: 'string', default: 'bench/results/train-step-engine.json' },
    },
  });
  console.log(`command: ${process.argv.slice(1).join(' ')}`);
  const ortCache = args['ort-cache'] as OrtBufferCache;
  if (!ORT_BUFFER_CACHES.includes(ortCache)) throw new Error(`--ort-cache ${ortCache}: expected one of ${ORT_BUFFER_CACHES.join(', ')}`);
  setOrtBufferCache(ortCache);
  const gpu = await announceGpu();
  trackGpuMemory({ byKind: true }); // after Node's WebGPU globals exist, before the package creates its device
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
  const captioned = Number(args['caption-first']);
  if (captioned > 0) {
    const generator = new CaptionGenerator(pkg);
    const first = train.slice(0, captioned);
    await generator.generate({ features, imageIndices: first.map((e) => e.imageIndex),
      promptIds: first.map((e) => pkg.text.promptIds(e.prompt ?? pkg.manifest.text.default_prompt)) }, [], { batchSize: 8 });
    generator.destroy();
    await releaseGeneration(pkg);
  }
  if (args['release-vision']) await pkg.vision.release();
  const examples = encodeExamples(pkg, train, features);
  const stepsPerEpoch = Math.ceil(examples.length / batchSize);

  const vjpReplay = args.vjp as VjpReplay;
  if (!['recorded', 'captured', 'plain'].includes(vjpReplay)) throw new Error(`--vjp ${vjpReplay}: expected recorded, captured or plain`);
  const vjpBatch = args['vjp-batch'] === undefined ? batchSize : Number(args['vjp-batch']);
  if (args['open-vjp']) await pkg.vjp();
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
  const peakByKind = gpuPeakBytesByKind();
  const endByKind = gpuBytesByKind();
  // The recorded vjp's intermediates (ORT's buffers of the captured run) if each lived only from its first use
  // in the replay to its last: what freeing activations once the backward has used them could leave.
  const intermediate = (b: GPUBuffer) => /^(ort captured graph|recording: kept alive)/.test(memoryKindOf(b) ?? '');
  const replayIntermediates = trainer.vjp.recordings.map((r) => replayLifetimes(r, intermediate));

  started = performance.now();
  if (!args['memory-only']) await trainer.run(stepsPerEpoch, { onStep });
  const epochSeconds = args['memory-only'] ? NaN : (performance.now() - started) / 1000;
  const vjpSteps = { ...trainer.vjp.counts };
  await trainer.destroy();

  const kernelMs = args['memory-only'] ? NaN : await adalinkKernelMs(pkg, features.buffer, examples.slice(0, batchSize));
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
    visionReleased: args['release-vision'], captionedFirst: captioned, ortBufferCache: ortCache, anyShapeVjpOpened: args['open-vjp'],
    epoch: { steps: stepsPerEpoch, seconds: epochSeconds },
    peakGpuBytes: peakBytes,
    // Bytes per kind of buffer (src/engine/gpuMemory.ts) at the moment of the peak and after the measured steps.
    peakGpuBytesByKind: peakByKind, endGpuBytesByKind: endByKind, memoryScopesOverlapped: memoryScopesOverlapped(),
    // Per recording: the bytes of ORT's intermediates it binds, and the most of them in use at once.
    replayIntermediates,
    adalinkKernels: { msPerStep: kernelMs, shareOfStep: kernelMs / stepMs },
  };
  console.log(JSON.stringify(result, null, 1));
  console.log(memoryTable(peakByKind, endByKind));
  for (const { bound, atOnce } of replayIntermediates) {
    console.log(`recorded vjp: its intermediates bind ${(bound / 1e6).toFixed(1)} MB; alive only from first to last use, at most ${(atOnce / 1e6).toFixed(1)} MB at once`);
  }
  if (result.memoryScopesOverlapped > 0) console.log(`(${result.memoryScopesOverlapped} memory scopes overlapped: some buffers may carry another scope's kind)`);
  mkdirSync(dirname(args.out!), { recursive: true });
  writeFileSync(args.out!, `${JSON.stringify(result, null, 1)}\n`);
}

runCli(main);
