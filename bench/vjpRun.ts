/**
 * One vjp graph alone on a real GPU: how long onnxruntime-web's WebGPU provider takes per run, for a graph
 * file and one input shape — to see where the engine's step goes (docs/BENCHMARKS.md) and what a graph
 * variant (static shapes, fewer CPU nodes, graph capture) buys:
 *
 *   npm run bench:vjp -- --graph public/models/pali-scenes-default/vjp.onnx --batch 32 --prompt 16 --target 32 [--capture]
 *   npm run bench:vjp -- --graph vjp_static.onnx --gpu-inputs --capture --recorded …   (tools/export_vjp_static.py)
 *
 * Inputs are GPU buffers (as the engine passes them) except the int64 mask and ids, which ORT takes from the
 * CPU; outputs stay on the GPU. Prints the CPU/GPU node placement ORT reports and the median run time of
 * `--runs` runs after `--warmup`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-web/webgpu';
import { folderSource } from '../src/cli/fileSource.ts';
import { announceGpu, runCli, useDevice } from '../src/cli/runCli.ts';
import { readFloats } from '../src/engine/gpuBuffers.ts';
import { encodeRecorded, recordCommands } from '../src/engine/commandRecorder.ts';
import { holdForGraphCapture } from '../src/engine/graphCapture.ts';
import { loadModelPackage } from '../src/engine/modelPackage.ts';
import { SHARED_WEIGHTS_FILE } from '../src/formats/sharedWeights.ts';

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      graph: { type: 'string', default: 'public/models/pali-scenes-default/vjp.onnx' },
      batch: { type: 'string', default: '32' }, prompt: { type: 'string', default: '16' }, target: { type: 'string', default: '32' },
      'image-tokens': { type: 'string', default: '64' }, 'd-model': { type: 'string', default: '256' }, vocab: { type: 'string', default: '447' },
      warmup: { type: 'string', default: '5' }, runs: { type: 'string', default: '50' }, capture: { type: 'boolean', default: false },
      placement: { type: 'boolean', default: false }, threads: { type: 'string' },
      'alternate-target': { type: 'string' }, 'pending-readback': { type: 'boolean', default: false },
      package: { type: 'string' }, 'like-trainer': { type: 'boolean', default: false },
      without: { type: 'string', default: '' }, 'gpu-inputs': { type: 'boolean', default: false },
      recorded: { type: 'boolean', default: false }, 'free-dims': { type: 'boolean', default: false },
    },
  });
  console.log(`command: npm run bench:vjp -- ${process.argv.slice(2).join(' ')}`);
  await announceGpu();
  const [B, Nt, Nd, Ni, d, V] = [args.batch, args.prompt, args.target, args['image-tokens'], args['d-model'], args.vocab].map(Number);
  if (args.placement) ort.env.logLevel = 'verbose';
  // The engine runs ORT's wasm on one thread (src/engine/onnxRuntime.ts); ORT's own default is several.
  if (args.threads) ort.env.wasm.numThreads = Number(args.threads);
  // --package: the vjp session as the engine opens it, next to the package's other sessions (vision, generation).
  const session = args.package
    ? await (await loadModelPackage(folderSource(args.package))).vjp()
    : await ort.InferenceSession.create(new Uint8Array(readFileSync(args.graph!)), {
      executionProviders: ['webgpu'], graphOptimizationLevel: 'all', preferredOutputLocation: 'gpu-buffer',
      // --free-dims: a graph with symbolic batch / prompt_len / target_len, fixed for this session (static shapes without a file per shape).
      ...(args['free-dims'] ? { freeDimensionOverrides: { batch: B, prompt_len: Nt, target_len: Nd } } : {}),
      enableGraphCapture: args.capture, ...(args.placement ? { logSeverityLevel: 0, logVerbosityLevel: 0 } : { logSeverityLevel: 3 }),
      // A package whose graphs share one weights file (src/formats/sharedWeights.ts): weights.bin beside the graph.
      ...(existsSync(join(dirname(args.graph!), SHARED_WEIGHTS_FILE))
        ? { externalData: [{ path: SHARED_WEIGHTS_FILE, data: new Uint8Array(readFileSync(join(dirname(args.graph!), SHARED_WEIGHTS_FILE))) }] } : {}),
    });
  const device = (await ort.env.webgpu.device) as GPUDevice;
  useDevice(device);
  const floats = (n: number, scale: number): Float32Array<ArrayBuffer> => Float32Array.from({ length: n }, (_, i) => scale * Math.sin(i * 0.7));
  const gpuTensor = (data: Float32Array<ArrayBuffer>, dims: number[]) => {
    const buffer = device.createBuffer({ size: data.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(buffer, 0, data);
    return ort.Tensor.fromGpuBuffer(buffer, { dataType: 'float32', dims });
  };
  const ids = (n: number, value: (i: number) => number) => BigInt64Array.from({ length: n }, (_, i) => BigInt(value(i)));
  const gpuInts = (data: Int32Array<ArrayBuffer>, dims: number[]) => {
    const buffer = device.createBuffer({ size: data.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(buffer, 0, data);
    return ort.Tensor.fromGpuBuffer(buffer, { dataType: 'int32', dims });
  };
  const ints = (n: number, value: (i: number) => number) => Int32Array.from({ length: n }, (_, i) => value(i));
  // --gpu-inputs: a graph exported with a float text mask and int32 ids and labels (tools/export_vjp_static.py), every input a GPU buffer.
  const feedsFor = (Nd: number): Record<string, ort.Tensor> => args['gpu-inputs'] ? {
    image_embeds: gpuTensor(floats(B * Ni * d, 0.5), [B, Ni, d]),
    text_embeds: gpuTensor(floats(B * Nt * d, 0.5), [B, Nt, d]),
    text_mask: gpuTensor(Float32Array.from({ length: B * Nt }, (_, i) => (i % Nt < 3 ? 1 : 0)), [B, Nt]),
    decoder_input_ids: gpuInts(ints(B * Nd, (i) => 4 + (i % (V - 4))), [B, Nd]),
    labels: gpuInts(ints(B * Nd, (i) => (i % Nd < 12 ? 4 + ((i * 7) % (V - 4)) : -100)), [B, Nd]),
  } : ({
    image_embeds: gpuTensor(floats(B * Ni * d, 0.5), [B, Ni, d]),
    text_embeds: gpuTensor(floats(B * Nt * d, 0.5), [B, Nt, d]),
    text_mask: new ort.Tensor('int64', ids(B * Nt, (i) => (i % Nt < 3 ? 1 : 0)), [B, Nt]),
    decoder_input_ids: new ort.Tensor('int64', ids(B * Nd, (i) => 4 + (i % (V - 4))), [B, Nd]),
    labels: new ort.Tensor('int64', ids(B * Nd, (i) => (i % Nd < 12 ? 4 + ((i * 7) % (V - 4)) : -100)), [B, Nd]),
  });
  // --alternate-target: every other run has this target length, as batches of varied captions do.
  const shapes = [feedsFor(Nd), ...(args['alternate-target'] ? [feedsFor(Number(args['alternate-target']))] : [])];
  const feeds = shapes[0];
  // Graph capture replays recorded GPU work: every input and output must be a GPU buffer of ours, the same each run.
  const fetches: Record<string, ort.Tensor> | undefined = args.capture ? {
    loss: gpuTensor(new Float32Array(4), []),
    grad_image_embeds: gpuTensor(new Float32Array(B * Ni * d), [B, Ni, d]),
    grad_text_embeds: gpuTensor(new Float32Array(B * Nt * d), [B, Nt, d]),
  } : undefined;
  const run = (inputs: Record<string, ort.Tensor>) => (fetches ? session.run(inputs, fetches) : session.run(inputs));
  if (args.capture) {
    // The replay binds the buffers of the capturing run: keep them registered with ORT (src/engine/graphCapture.ts).
    await holdForGraphCapture([...Object.values(feeds), ...Object.values(fetches!)].map((t) => t.gpuBuffer as GPUBuffer));
    // ORT refuses capture when an input is not a GPU buffer or a node runs on the CPU.
    try {
      await run(feeds);
    } catch (e) {
      console.log(`graph capture refused: ${(e as Error).message}`);
      return;
    }
  }
  if (args.recorded) {
    await recordedReplay(device, feeds, fetches!, run, Number(args.warmup), Number(args.runs), B * Ni * d);
    return;
  }
  if (args['like-trainer']) {
    await likeTrainer(device, session, shapes[0], Number(args.warmup), Number(args.runs), new Set(args.without!.split(',')));
    return;
  }
  const times: number[] = [];
  // Until `run` returns (ORT has encoded and submitted the work), and until the loss is read back (the GPU is done).
  const runTimes: number[] = [];
  const warmup = Number(args.warmup);
  for (let i = 0; i < warmup + Number(args.runs); i++) {
    const started = performance.now();
    // --pending-readback: a map of our own in flight during the run, as the trainer's loss read-back is.
    let pending: Promise<void> | undefined;
    if (args['pending-readback']) {
      const readback = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      pending = readback.mapAsync(GPUMapMode.READ).then(() => readback.destroy());
    }
    const outputs = await run(shapes[i % shapes.length]);
    if (i >= warmup) runTimes.push(performance.now() - started);
    await pending;
    // Our output buffers are read by us: Tensor.getData would move the tensor to the CPU, and the next run needs it on the GPU.
    const loss = fetches ? await readFloats(device, fetches.loss.gpuBuffer as GPUBuffer, 1) : await outputs.loss.getData();
    if (i >= warmup) times.push(performance.now() - started);
    if (i === 0 || (fetches && i === warmup + Number(args.runs) - 1)) {
      // With capture, the last replay's loss and gradient sum are printed too: they must equal the first run's.
      const grad = fetches ? await readFloats(device, fetches.grad_text_embeds.gpuBuffer as GPUBuffer, B * Nt * d) : undefined;
      console.log(`run ${i}: loss ${(loss as Float32Array)[0]}${grad ? `, sum of grad_text_embeds ${grad.reduce((a, b) => a + b, 0)}` : ''}`);
    }
    if (!fetches) for (const output of Object.values(outputs)) output.dispose();
  }
  const q = (p: number, of = times) => quantile(of, p);
  console.log(`vjp run (B ${B}, Nt ${Nt}, Nd ${Nd}${args['alternate-target'] ? ` and ${args['alternate-target']}` : ''}${args.capture ? ', graph capture' : ''}${args['pending-readback'] ? ', a read-back pending' : ''}): median ${q(0.5)} ms, p25 ${q(0.25)}, p75 ${q(0.75)} over ${times.length} runs; run() returned after a median ${q(0.5, runTimes)} ms`);
}

/**
 * --like-trainer: the vjp run the way Trainer.submitStep makes it — inputs rewritten by our own GPU work just
 * before, fresh fromGpuBuffer tensors each run, the loss copied into a buffer of ours and read back two runs
 * later, outputs disposed after — timing `run` alone and the whole loop. `--without write,fresh,pipeline,copy` leaves
 * out the input rewrite, the fresh tensors (the same ones every run), the pipelining (each read-back awaited
 * at once), or our copy of the loss (ORT's getData instead), to find which one costs.
 */
async function likeTrainer(device: GPUDevice, session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, warmup: number, runs: number,
  without: Set<string>): Promise<void> {
  const imageBuffer = feeds.image_embeds.gpuBuffer as GPUBuffer;
  const textBuffer = feeds.text_embeds.gpuBuffer as GPUBuffer;
  const source = device.createBuffer({ size: imageBuffer.size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  const lossCopy = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  const inFlight: Array<Promise<void>> = [];
  const runTimes: number[] = [];
  const started: number[] = [];
  for (let i = 0; i < warmup + runs; i++) {
    started.push(performance.now());
    if (!without.has('write')) {
      const before = device.createCommandEncoder();
      before.copyBufferToBuffer(source, 0, imageBuffer, 0, imageBuffer.size);
      before.copyBufferToBuffer(source, 0, textBuffer, 0, textBuffer.size);
      device.queue.submit([before.finish()]);
    }
    const fresh = without.has('fresh') ? feeds : {
      ...feeds,
      image_embeds: ort.Tensor.fromGpuBuffer(imageBuffer, { dataType: 'float32', dims: feeds.image_embeds.dims }),
      text_embeds: ort.Tensor.fromGpuBuffer(textBuffer, { dataType: 'float32', dims: feeds.text_embeds.dims }),
    };
    const t = performance.now();
    const outputs = await session.run(fresh);
    if (i >= warmup) runTimes.push(performance.now() - t);
    if (without.has('copy')) {
      // ORT reads the loss back itself, as the plain loop does.
      inFlight.push(outputs.loss.getData().then(() => undefined));
      await inFlight.at(-1);
      for (const output of Object.values(outputs)) output.dispose();
    } else {
      const after = device.createCommandEncoder();
      after.copyBufferToBuffer(outputs.loss.gpuBuffer as GPUBuffer, 0, lossCopy, 0, 4);
      const readback = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      after.copyBufferToBuffer(lossCopy, 0, readback, 0, 16);
      device.queue.submit([after.finish()]);
      for (const output of Object.values(outputs)) output.dispose();
      inFlight.push(readback.mapAsync(GPUMapMode.READ).then(() => readback.destroy()));
    }
    if (inFlight.length >= (without.has('pipeline') ? 1 : 2)) await inFlight.shift();
  }
  await Promise.all(inFlight);
  const loop = started.slice(warmup + 1).map((t, i) => t - started[warmup + i]).sort((a, b) => a - b);
  runTimes.sort((a, b) => a - b);
  console.log(`like the trainer${without.size > 1 || [...without][0] ? ` without ${[...without].join(', ')}` : ''}: run() median ${runTimes[runTimes.length >> 1].toFixed(2)} ms, loop interval median ${loop[loop.length >> 1].toFixed(2)} ms over ${runs} runs`);
}

runCli(main);

/** The p-quantile of the timings, in ms with two decimals (the lower of two middles, as the runs are few). */
function quantile(xs: number[], p: number): string {
  return [...xs].sort((a, b) => a - b)[Math.floor(p * (xs.length - 1))].toFixed(2);
}

/**
 * --recorded (with --capture): ORT's replay recorded once (src/engine/commandRecorder.ts) and issued by us in
 * one command buffer. Checked first: with the image embeddings scaled, ORT's run and our replay give the same
 * loss, and with them restored, our replay gives the first run's loss again (it reads the buffers' contents).
 */
async function recordedReplay(
  device: GPUDevice, feeds: Record<string, ort.Tensor>, fetches: Record<string, ort.Tensor>,
  run: (inputs: Record<string, ort.Tensor>) => Promise<unknown>, warmup: number, runs: number, imageFloats: number,
): Promise<void> {
  const lossBuffer = fetches.loss.gpuBuffer as GPUBuffer;
  const image = feeds.image_embeds.gpuBuffer as GPUBuffer;
  const original = new Float32Array(await readFloats(device, image, imageFloats));
  const readLoss = async () => (await readFloats(device, lossBuffer, 1))[0];
  await run(feeds); // the first replay: ORT's own
  const { recorded } = await recordCommands(device, () => run(feeds));
  console.log(`recorded ${recorded.dispatches} dispatches, ${recorded.transfers} copies or clears between them (ORT submitted ${recorded.submits} command buffers; ${recorded.uniformBuffers.length} distinct uniform values)`);
  const kinds = new Map<string, number>();
  for (const c of recorded.commands) {
    const key = c.kind === 'copy' ? `copy usage ${c.source.usage} → ${c.destination.usage}` : c.kind === 'clear' ? `clear usage ${c.buffer.usage}` : 'pass';
    kinds.set(key, (kinds.get(key) ?? 0) + 1);
  }
  console.log(`kept alive for the replay: ${recorded.keptAlive.length} buffers (${recorded.keptAlive.map((b) => `${b.size}/${b.usage}`).slice(0, 8).join(', ')})`);
  console.log(`commands: ${[...kinds].map(([k, n]) => `${n} × ${k}`).join(', ')}`);
  const replay = () => {
    const encoder = device.createCommandEncoder({ label: 'recorded vjp' });
    encodeRecorded(encoder, recorded);
    device.queue.submit([encoder.finish()]);
  };
  const first = await readLoss();
  device.queue.writeBuffer(image, 0, original.map((x) => 0.9 * x));
  await run(feeds);
  const ortScaled = await readLoss();
  device.queue.writeBuffer(image, 0, original);
  replay();
  const oursRestored = await readLoss();
  device.queue.writeBuffer(image, 0, original.map((x) => 0.9 * x));
  replay();
  const oursScaled = await readLoss();
  device.queue.writeBuffer(image, 0, original);
  console.log(`loss: ORT ${first}, ORT scaled ${ortScaled}; recorded replay ${oursRestored}, scaled ${oursScaled} — ${oursRestored === first && oursScaled === ortScaled ? 'equal' : 'NOT EQUAL'}`);
  const times: number[] = [];
  const hostTimes: number[] = [];
  for (let i = 0; i < warmup + runs; i++) {
    const started = performance.now();
    replay();
    const submitted = performance.now();
    await readLoss();
    if (i >= warmup) {
      times.push(performance.now() - started);
      hostTimes.push(submitted - started);
    }
  }
  console.log(`vjp recorded replay: median ${quantile(times, 0.5)} ms, p25 ${quantile(times, 0.25)}, p75 ${quantile(times, 0.75)} over ${times.length} runs; encoding and submitting took a median ${quantile(hostTimes, 0.5)} ms`);
}
