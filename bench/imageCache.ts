/**
 * Caching image features from camera photos (issue 12), in Node over Dawn — the figure docs/BENCHMARKS.md sets
 * against PyTorch + PIL doing the same on the same machine (tools/bench_image_cache.py):
 *
 *   npm run bench:images -- --data <imagefolder of photos> [--model public/models/pali-scenes-default]
 *                           [--limit N] [--out bench/results/image-cache-engine.json]
 *
 * The photos are what tools/make_photo_folder.py writes (1 000 JPEGs of 4000×3000 by default). One run of the
 * engine's feature cache (src/engine/featureCache.ts) over all of them: decode (sharp, on libvips' threads, with
 * the EXIF orientation), resize as Pillow does with the manifest's filter (src/data/resample.ts), normalise, the
 * frozen vision graph on the GPU, features checked finite and kept on the GPU. A first run over `--warm-up`
 * images opens the graph and compiles its shaders; it is not timed. Also timed alone, to show where the time
 * goes: on the first 20 photos, decoding and the CPU resize (the Pillow port; the cache resizes on the GPU) per
 * image on one thread; on the first 200, decoding alone and decoding + the GPU resize, as many at once as the cache.
 *
 * On a bare GPU machine: node bench/gpu-runtime/build.mjs here, then (carry .devcarry)
 * `. .devcarry/setup.sh && $NODE --liftoff-only .devcarry/bench-images.mjs …`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { readSplit } from '../src/cli/datasetSplit.ts';
import { folderSource } from '../src/cli/fileSource.ts';
import { progress } from '../src/cli/progress.ts';
import { announceGpu, runCli, useDevice } from '../src/cli/runCli.ts';
import { decodeImage, resizedRgb } from '../src/data/images.ts';
import { inOrder } from '../src/data/inOrder.ts';
import { ImageResampler } from '../src/kernels/resampleImage.ts';
import { cacheImageFeatures, decodeAhead } from '../src/engine/featureCache.ts';
import { gpuIdle } from '../src/engine/gpuBuffers.ts';
import { loadModelPackage } from '../src/engine/modelPackage.ts';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'public/models/pali-scenes-default' },
    data: { type: 'string' },
    limit: { type: 'string' },
    'warm-up': { type: 'string', default: '16' },
    out: { type: 'string', default: 'bench/results/image-cache-engine.json' },
  },
});

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main(): Promise<void> {
  if (!args.data) throw new Error('--data <imagefolder of photos> is required (tools/make_photo_folder.py writes one)');
  const command = `npm run bench:images -- ${process.argv.slice(2).join(' ')}`.trim();
  console.log(`command: ${command}`);
  const cpu = `${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length}`;
  console.log(`CPU: ${cpu}; libvips threads ${sharp.concurrency()}, libuv pool ${process.env.UV_THREADPOOL_SIZE ?? 4}`);
  const gpu = await announceGpu();
  const pkg = await loadModelPackage(folderSource(args.model!));
  useDevice(pkg.device);
  const { size, resample } = pkg.manifest.image;
  console.log(`model: ${pkg.manifest.id} (image ${size}×${size}, ${resample})`);
  const full = await readSplit(args.data, 'train');
  const count = Math.min(full.images.length, args.limit ? Number(args.limit) : Infinity);
  const dataset = { ...full, images: full.images.slice(0, count) };

  // Where one image's time goes, on one thread: decoding alone, then resizing alone.
  const probe = dataset.images.slice(0, 20);
  const decodeMs: number[] = [];
  const resizeMs: number[] = [];
  let megapixels = 0;
  for (const name of probe) {
    const bytes = await dataset.source.read(name);
    let t = performance.now();
    const image = await decodeImage(bytes, name);
    decodeMs.push(performance.now() - t);
    megapixels = (image.width * image.height) / 1e6;
    t = performance.now();
    resizedRgb(image, pkg.manifest.image);
    resizeMs.push(performance.now() - t);
  }
  console.log(`one image, one thread: decode ${median(decodeMs).toFixed(1)} ms, resize ${median(resizeMs).toFixed(1)} ms (${megapixels.toFixed(1)} MP → ${size}², median of ${probe.length})`);

  // Where the cache's time goes, on every core: decoding alone, then decoding and the GPU resize alone.
  const stages = Math.min(count, 200);
  const ahead = decodeAhead();
  const decodeAt = async (i: number) => decodeImage(await dataset.source.read(dataset.images[i]), dataset.images[i]);
  let t = performance.now();
  for await (const image of inOrder(stages, ahead, decodeAt)) void image;
  const decodeOnly = stages / ((performance.now() - t) / 1000);
  const resampler = new ImageResampler(pkg.device, pkg.manifest.image);
  const pixels = pkg.device.createBuffer({ size: 8 * resampler.floatsPerImage * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  t = performance.now();
  let slot = 0;
  for await (const image of inOrder(stages, ahead, decodeAt)) {
    await resampler.resize(image, pixels, slot++ % 8);
  }
  await gpuIdle(pkg.device);
  const decodeAndResize = stages / ((performance.now() - t) / 1000);
  resampler.destroy();
  pixels.destroy();
  console.log(`${stages} images, ${ahead} decoding at once: decode only ${decodeOnly.toFixed(1)} images/s; decode + GPU resize ${decodeAndResize.toFixed(1)} images/s`);

  const warmUp = Math.min(Number(args['warm-up']), count);
  (await cacheImageFeatures(pkg, { ...dataset, images: dataset.images.slice(0, warmUp) })).buffer.destroy();
  await gpuIdle(pkg.device);

  const bar = progress('caching image features', count);
  const started = performance.now();
  const cache = await cacheImageFeatures(pkg, dataset, (done) => bar.update(done, `${(done / ((performance.now() - started) / 1000)).toFixed(1)} images/s`));
  await gpuIdle(pkg.device);
  const seconds = (performance.now() - started) / 1000;
  bar.stop();
  const cached = cache.ok.filter(Boolean).length;
  console.log(`cached ${cached} of ${count} images in ${seconds.toFixed(1)} s: ${(count / seconds).toFixed(1)} images/s`);
  for (const row of cache.skipped) console.log(`skipped ${row.where}: ${row.reason}`);
  cache.buffer.destroy();

  const result = {
    command, cpu, gpu, model: pkg.manifest.id, imageSize: size, resample, images: count, cached, megapixels,
    seconds, imagesPerSecond: count / seconds,
    oneThread: { decodeMs: median(decodeMs), resizeMs: median(resizeMs), images: probe.length },
    stages: { images: stages, decodingAtOnce: ahead, decodeOnlyPerSecond: decodeOnly, decodeAndGpuResizePerSecond: decodeAndResize },
    libvipsThreads: sharp.concurrency(),
  };
  mkdirSync(dirname(args.out!), { recursive: true });
  writeFileSync(args.out!, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`written ${args.out}`);
}

runCli(main);
