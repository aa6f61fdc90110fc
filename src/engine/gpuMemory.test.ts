/**
 * GPU memory by kind (gpuMemory.ts), on real WebGPU in Node over Dawn: scopes tag the buffers made inside them,
 * ONNX Runtime's sessions tag their weights, runs and cache; and what the accounting showed could go (issue 16,
 * item 2) stays gone: a trainer whose every vjp shape is captured never opens the package's any-shape vjp session.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { installNodeWebGpu } from '../cli/nodeGpu.ts';
import { encodeOnnxModel, readOnnxModel } from '../formats/onnx.ts';
import { writeOnnxModel } from '../formats/onnxWriter.ts';
import { gpuBytesByKind, gpuPeakBytes, gpuPeakBytesByKind, resetGpuPeak, setMemoryKind, trackGpuMemory, withMemoryKind } from './gpuMemory.ts';
import { createSession, hostTensor, ortDevice } from './onnxRuntime.ts';
import { readFloats } from './gpuBuffers.ts';
import { cacheImageFeatures } from './featureCache.ts';
import { folderSource } from '../cli/fileSource.ts';
import { loadModelPackage, releaseGeneration, releaseModelPackage } from './modelPackage.ts';
import { generateCaptions } from './generate.ts';
import { fixtureConfig, loadTiny, readFixture, readGreedyFixture, type TinySetup } from './testing/tinySetup.ts';
import { Trainer } from './trainer.ts';

let tiny: TinySetup;
beforeAll(async () => {
  installNodeWebGpu();
  trackGpuMemory({ byKind: true }); // before the first device and buffer
  tiny = await loadTiny();
});

const MB = 1 << 20;
const bytesOf = (kind: string) => gpuBytesByKind()[kind] ?? 0;
const bytesLike = (pattern: RegExp) => Object.entries(gpuBytesByKind()).filter(([k]) => pattern.test(k)).reduce((n, [, b]) => n + b, 0);

describe('kinds of GPU memory', () => {
  it('a scope tags what is created inside it, sync or async, the innermost winning; a tag moves; destroy counts down', async () => {
    const device = tiny.pkg.device;
    const make = (size: number) => device.createBuffer({ size, usage: GPUBufferUsage.STORAGE });
    const outer: GPUBuffer[] = [];
    const [a, b] = await withMemoryKind('test: outer', async () => {
      const first = make(MB);
      await new Promise((resolve) => setTimeout(resolve, 1));
      const inner = withMemoryKind('test: inner', () => make(2 * MB));
      return [first, inner];
    }, outer);
    const unscoped = device.createBuffer({ label: 'test buffer 12', size: MB, usage: GPUBufferUsage.STORAGE });
    expect([bytesOf('test: outer'), bytesOf('test: inner'), bytesOf('engine: test buffer #')]).toEqual([MB, 2 * MB, MB]);
    expect(outer).toEqual([a]);
    resetGpuPeak();
    const peak = gpuPeakBytes();
    setMemoryKind([a, b], 'test: moved');
    expect([bytesOf('test: outer'), bytesOf('test: moved')]).toEqual([0, 3 * MB]);
    a.destroy();
    const c = make(4 * MB); // a new peak, as it is now
    expect(gpuPeakBytes()).toBe(peak + 3 * MB);
    expect(gpuPeakBytesByKind()['test: moved']).toBe(2 * MB);
    for (const buffer of [b, c, unscoped]) buffer.destroy();
    expect(bytesLike(/^test|test buffer/)).toBe(0);
  });

  it('an ORT session: weights at creation, its run\'s buffers back in ORT\'s cache after the run and taken from it by the next', async () => {
    const N = 64 * 1024;
    // y = (x + w) · w: one weight of N floats, one intermediate of N floats.
    const model = readOnnxModel(writeOnnxModel({
      nodes: [{ op: 'Add', inputs: ['x', 'w'], outputs: ['t'] }, { op: 'Mul', inputs: ['t', 'w'], outputs: ['y'] }],
      inputs: [{ name: 'x', dims: [N] }],
      outputs: [{ name: 'y', dims: [N] }],
    }));
    model.graph.initializers.push({ name: 'w', dataType: 'float32', dims: [N], values: new Float32Array(N).fill(0.5) });
    const graph = encodeOnnxModel(model);
    const session = await createSession(graph, 'memory probe.onnx', { inputs: ['x'], outputs: ['y'] }, { label: 'probe' });
    expect(bytesOf('ort weights: probe')).toBeGreaterThanOrEqual(N * 4);
    await ortDevice();
    const x = hostTensor('float32', new Float32Array(N).fill(1), [N]);
    const { y } = await session.run({ x });
    expect((y.data as Float32Array)[7]).toBe(0.75);
    const cached = bytesOf('ort cache: probe');
    // The intermediate and the output's buffer (ORT freed both after the run, and keeps them).
    expect(cached).toBeGreaterThanOrEqual(2 * N * 4);
    let during = 0;
    // The second run takes the same buffers from the cache (no new ones) and gives them back.
    const run = session.run.bind(session);
    await withMemoryKind('test: watcher', async () => {
      const pending = run({ x });
      during = bytesOf('ort cache: probe');
      await pending;
    });
    expect(bytesOf('ort cache: probe')).toBe(cached);
    expect(during).toBeLessThanOrEqual(cached);
    await session.release();
    // Released, the weights are ORT's cache too (not destroyed): nothing tagged as the session's weights is left.
    expect(bytesOf('ort weights: probe')).toBe(0);
  });
});

describe('what the accounting showed could go', () => {
  it('a vjp session holds one float32 copy of each weight (the default package: its graph read W and Wᵀ, 2× before weightsOnce)', async () => {
    const pkg = await loadModelPackage(folderSource('public/models/pali-scenes-default'));
    try {
      const asExported = readOnnxModel(await pkg.source.read(pkg.manifest.files.vjp.path));
      const float32Bytes = asExported.graph.initializers.filter((t) => t.dataType.startsWith('float')).reduce((n, t) => n + t.dims.reduce((a, b) => a * b, 1) * 4, 0);
      const open = async (bytes: Uint8Array, label: string) => {
        const session = await createSession(bytes, 'vjp.onnx', { inputs: [], outputs: [] }, { externalData: pkg.externalData, label });
        const held = bytesOf(`ort weights: ${label}`);
        await session.release();
        return held;
      };
      const [before, now] = [await open(encodeOnnxModel(asExported), 'vjp as exported'), await open(await pkg.vjpGraph({ batch: 2, promptTokens: 3, targetTokens: 4 }), 'vjp as the engine opens it')];
      expect(before).toBeGreaterThan(1.9 * float32Bytes); // 44.8 MB for 22.9 MB of weights
      expect(now).toBeLessThan(1.02 * float32Bytes); // 23.05 MB
    } finally {
      await releaseModelPackage(pkg);
    }
  });

  it('a recorded trainer never opens the package\'s any-shape vjp session nor its generation graphs; a plain one opens the vjp\'s when it first runs', async () => {
    const config = { ...fixtureConfig(readFixture('adamw')), steps: 3 };
    const weights = () => bytesOf('ort weights: vjp any shape');
    const generation = () => bytesLike(/^ort weights: (encoder|decoder_init|decoder_step)$/);
    expect([weights(), generation()]).toEqual([0, 0]);
    const recorded = new Trainer(tiny.pkg, tiny.features, tiny.examples, config, undefined, { vjpReplay: 'recorded' });
    await recorded.run(3);
    expect(recorded.vjp.counts.plain).toBe(0);
    expect(bytesLike(/^ort weights: vjp .* captured$/)).toBeGreaterThan(0);
    expect([weights(), generation()]).toEqual([0, 0]);
    await recorded.destroy();
    const plain = new Trainer(tiny.pkg, tiny.features, tiny.examples, config, undefined, { vjpReplay: 'plain' });
    await plain.run(1);
    expect(weights()).toBeGreaterThan(0);
    await plain.destroy();
  });

  it('the generation graphs open on their first run, and give the captions they gave when opened at load', async () => {
    const examples = readGreedyFixture().examples.slice(0, 2);
    const captions = await generateCaptions(tiny.pkg, {
      features: tiny.features,
      imageIndices: examples.map((e) => tiny.dataset.images.indexOf(e.file_name)),
      promptIds: examples.map((e) => e.prompt_ids),
    });
    expect(captions.map((c) => c.ids)).toEqual(examples.map((e) => e.base.ids));
    expect(bytesLike(/^ort weights: (encoder|decoder_init|decoder_step)$/)).toBeGreaterThan(0);
  });

  it('the generation graphs, released as a training run starts, leave nothing on the GPU: on ORT\'s second context, not in the main one\'s cache', async () => {
    const generation = /^ort (weights|cache|run): (encoder|decoder_init|decoder_step)$/;
    const examples = readGreedyFixture().examples.slice(0, 2);
    const caption = () => generateCaptions(tiny.pkg, {
      features: tiny.features,
      imageIndices: examples.map((e) => tiny.dataset.images.indexOf(e.file_name)),
      promptIds: examples.map((e) => e.prompt_ids),
    });
    const ids = (await caption()).map((c) => c.ids);
    // Each run's buffers are destroyed at its end: at most a last run's outputs and inputs are left in a cache.
    expect(bytesLike(/^ort cache: (encoder|decoder_init|decoder_step)$/)).toBeLessThan(bytesLike(/^ort weights: (encoder|decoder_init|decoder_step)$/));
    // The worker releases the ViT and the generation graphs together (engineWorker.ts onlyTrainingOnTheGpu): the
    // context goes with its weights. On the main context they went into ORT's cache of freed buffers instead (the
    // default model after captioning 16 images: 64 MB, 40 MB of which the training never took back).
    await Promise.all([tiny.pkg.vision.release(), releaseGeneration(tiny.pkg)]);
    expect(bytesLike(generation)).toBe(0);
    // They open again, and give the same captions.
    expect((await caption()).map((c) => c.ids)).toEqual(ids);
    await releaseGeneration(tiny.pkg);
    expect(bytesLike(generation)).toBe(0);
  });

  it('the vision graph, released once features are cached, leaves nothing on the GPU and opens again when an image needs features', async () => {
    const images = { label: tiny.dataset.label, source: tiny.dataset.source, images: tiny.dataset.images.slice(0, 2) };
    const before = await cacheImageFeatures(tiny.pkg, images);
    const want = await readFloats(tiny.pkg.device, before.buffer, 2 * before.floatsPerImage);
    before.buffer.destroy();
    await tiny.pkg.vision.release();
    expect(bytesLike(/^ort (weights|cache|run): vision$/)).toBe(0);
    const again = await cacheImageFeatures(tiny.pkg, images);
    expect(await readFloats(tiny.pkg.device, again.buffer, 2 * again.floatsPerImage)).toEqual(want);
    expect(bytesOf('ort weights: vision')).toBeGreaterThan(0);
    again.buffer.destroy();
  });

  it('a session on ORT\'s second context (the vision graph\'s) keeps none of its run\'s intermediates, and nothing once it is the last released; the device lives on', async () => {
    const N = 16 * 1024;
    // y = Σ_rows (x + w) · w, w [4, N]: two intermediates of 4N floats, the input and the output of N.
    const model = readOnnxModel(writeOnnxModel({
      nodes: [{ op: 'Add', inputs: ['x', 'w'], outputs: ['t1'] }, { op: 'Mul', inputs: ['t1', 'w'], outputs: ['t2'] }, { op: 'ReduceSum', inputs: ['t2', 'axes'], outputs: ['y'] }],
      inputs: [{ name: 'x', dims: [N] }],
      outputs: [{ name: 'y', dims: [1, N] }],
    }));
    model.graph.initializers.push({ name: 'w', dataType: 'float32', dims: [4, N], values: new Float32Array(4 * N).fill(0.5) },
      { name: 'axes', dataType: 'int64', dims: [1], values: BigInt64Array.of(0n) });
    const graph = encodeOnnxModel(model);
    const x = hostTensor('float32', new Float32Array(N).fill(1), [N]);
    const sumOfRows = async (session: Awaited<ReturnType<typeof createSession>>) => ((await session.run({ x })).y.data as Float32Array)[7];

    const shared = await createSession(graph, 'shared context.onnx', { inputs: ['x'], outputs: ['y'] }, { label: 'shared' });
    expect(await sumOfRows(shared)).toBe(3);
    expect(bytesOf('ort cache: shared')).toBeGreaterThanOrEqual(2 * 4 * N * 4); // the shared context keeps the intermediates
    await shared.release();

    await tiny.pkg.vision.release();
    const own = await createSession(graph, 'own context.onnx', { inputs: ['x'], outputs: ['y'] }, { label: 'own', releaseEachRun: true });
    expect(bytesOf('ort weights: own')).toBeGreaterThanOrEqual(4 * N * 4);
    for (let run = 0; run < 2; run++) {
      expect(await sumOfRows(own)).toBe(3);
      // At most the last run's input and output (and a few small buffers), which ORT frees after the run's end and destroys at the next's.
      expect(bytesOf('ort cache: own')).toBeLessThanOrEqual(2 * N * 4 + 1024);
    }
    // Released as the context's last session (the tiny package's vision session, on it too, was released first,
    // as the CLI trainer releases it once the features are cached): the context goes, and everything it held.
    await own.release();
    expect([bytesOf('ort weights: own'), bytesOf('ort cache: own'), bytesLike(/^ort (weights|cache): vision$/)]).toEqual([0, 0, 0]);

    // The engine's device (the shared context's) still works: a buffer of it is written and read.
    const device = await ortDevice();
    expect(device).toBe(tiny.pkg.device);
    const probe = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(probe, 0, Float32Array.of(1, 2, 3, 4));
    expect(await readFloats(device, probe, 4)).toEqual(Float32Array.of(1, 2, 3, 4));
    probe.destroy();
  });
});
