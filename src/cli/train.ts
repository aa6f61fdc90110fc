/**
 * Headless trainer over the same engine as the studio, on Node's WebGPU (Dawn):
 *
 *   npm run train -- --model public/models/tiny-pali-test --data e2e/fixtures/tiny-captions --out adapter.safetensors
 *
 * Options (defaults are the paper's, see src/engine/config.ts): --steps --batch-size --lr --optimizer
 * adafactor|adamw --warmup --schedule inverse_sqrt|constant --weight-decay --clip --dropout --seed
 * --modalities image,text --rank-image --rank-text --rank (both), --state <file> (save the training state
 * there, and resume from it when it exists; a resumed run keeps its saved settings, --steps aside).
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { readImageFolder } from '../data/imagefolder.ts';
import { DEFAULT_CONFIG, withDefaults, type Modality, type TrainConfig } from '../engine/config.ts';
import { AdaLinkError } from '../engine/errors.ts';
import { cacheImageFeatures } from '../engine/featureCache.ts';
import { loadModelPackage } from '../engine/modelPackage.ts';
import { decodeTrainingState, encodeTrainingState } from '../engine/state.ts';
import { encodeExamples, Trainer } from '../engine/trainer.ts';
import { writeAdapterFile } from '../formats/adapterFile.ts';
import { folderSource } from './fileSource.ts';
import { checkNodeAdapter } from './nodeGpu.ts';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string' }, data: { type: 'string' }, out: { type: 'string', default: 'adapter.safetensors' },
    steps: { type: 'string' }, 'batch-size': { type: 'string' }, lr: { type: 'string' }, optimizer: { type: 'string' },
    warmup: { type: 'string' }, schedule: { type: 'string' }, 'weight-decay': { type: 'string' }, clip: { type: 'string' },
    dropout: { type: 'string' }, seed: { type: 'string' }, modalities: { type: 'string' },
    rank: { type: 'string' }, 'rank-image': { type: 'string' }, 'rank-text': { type: 'string' },
    state: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  },
});

function configFromArgs(): TrainConfig {
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const partial: Partial<TrainConfig> = {};
  const set = <K extends keyof TrainConfig>(key: K, value: TrainConfig[K] | undefined) => {
    if (value !== undefined) partial[key] = value;
  };
  set('steps', num(args.steps));
  set('batchSize', num(args['batch-size']));
  set('learningRate', num(args.lr));
  set('optimizer', args.optimizer as TrainConfig['optimizer'] | undefined);
  set('warmupSteps', num(args.warmup));
  set('schedule', args.schedule as TrainConfig['schedule'] | undefined);
  set('weightDecay', num(args['weight-decay']));
  set('clipNorm', num(args.clip));
  set('dropout', num(args.dropout));
  set('seed', num(args.seed));
  set('modalities', args.modalities?.split(',') as Modality[] | undefined);
  const both = num(args.rank);
  partial.rank = {
    image: num(args['rank-image']) ?? both ?? DEFAULT_CONFIG.rank.image,
    text: num(args['rank-text']) ?? both ?? DEFAULT_CONFIG.rank.text,
  };
  return withDefaults(partial);
}

/** The device in use, so that the process can wait for the GPU before it exits. */
let device: GPUDevice | undefined;

/** Waits for all submitted GPU work: exiting while Dawn still runs some crashes the process. */
async function drainGpu(): Promise<void> {
  if (!device) return;
  const probe = device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  await probe.mapAsync(GPUMapMode.READ);
  probe.destroy();
  device.destroy();
}

async function main(): Promise<void> {
  if (args.help || !args.model || !args.data) {
    console.log('usage: npm run train -- --model <package folder> --data <imagefolder> [--out adapter.safetensors] [--steps N] …');
    console.log('see the header of src/cli/train.ts for every option');
    process.exitCode = args.help ? 0 : 2;
    return;
  }
  const adapterInfo = await checkNodeAdapter();
  console.log(`GPU: ${adapterInfo.vendor} ${adapterInfo.architecture} ${adapterInfo.description}`.trim());

  const pkg = await loadModelPackage(folderSource(args.model));
  device = pkg.device;
  console.log(`model: ${pkg.manifest.name} (d_model ${pkg.manifest.d_model}, ${pkg.manifest.image.tokens} image tokens)`);
  const dataset = await readImageFolder(folderSource(args.data));

  const bar = new cliProgress.SingleBar({ format: ' {phase} [{bar}] {value}/{total} {extra}', hideCursor: true }, cliProgress.Presets.shades_classic);
  bar.start(dataset.images.length, 0, { phase: 'caching image features', extra: '' });
  const features = await cacheImageFeatures(pkg, dataset, (done) => bar.update(done));
  bar.stop();
  for (const row of [...dataset.skipped, ...features.skipped]) console.log(`skipped ${row.where}: ${row.reason}`);
  const examples = encodeExamples(pkg, dataset.examples, features);
  console.log(`${examples.length} examples from ${features.ok.filter(Boolean).length} images`);

  const saved = args.state && existsSync(args.state) ? decodeTrainingState(new Uint8Array(await readFile(args.state)), args.state) : undefined;
  // A resumed run keeps its saved settings (anything else would change its numbers); only --steps,
  // the point to train to, may move on.
  const config = saved ? { ...saved.config, steps: args.steps === undefined ? saved.config.steps : Number(args.steps) } : configFromArgs();
  const trainer = new Trainer(pkg, features, examples, config, saved);
  if (saved) console.log(`resuming from step ${saved.step} (${args.state})`);

  const started = performance.now();
  let lastLoss = NaN;
  bar.start(config.steps, trainer.step, { phase: 'training', extra: '' });
  // Without a terminal the bar stays silent: print a line every 5% instead.
  const every = process.stdout.isTTY ? Infinity : Math.max(1, Math.round(config.steps / 20));
  let failure: unknown;
  try {
    await trainer.run(config.steps - trainer.step, {
      onStep: ({ step, loss, learningRate }) => {
        lastLoss = loss;
        const rate = (step + 1 - (saved?.step ?? 0)) / ((performance.now() - started) / 1000);
        const extra = `loss ${loss.toFixed(4)}  lr ${learningRate.toExponential(2)}  ${rate.toFixed(1)} steps/s`;
        bar.update(step + 1, { extra });
        if ((step + 1) % every === 0) console.log(`step ${step + 1}/${config.steps}  ${extra}`);
      },
    });
  } catch (e) {
    failure = e;
  }
  bar.stop();
  const state = await trainer.exportState();
  if (args.state) await writeFile(args.state, encodeTrainingState(state));
  await writeFile(args.out, writeAdapterFile(state, pkg.manifest));
  console.log(`adapter after ${state.step} steps (last loss ${lastLoss.toFixed(4)}) written to ${args.out}`);
  if (failure) throw failure;
}

main()
  .then(() => process.exitCode ?? 0, (e: unknown) => {
    console.error(e instanceof AdaLinkError ? `error: ${e.message}` : e);
    return 1;
  })
  .then(async (code) => {
    await drainGpu();
    if (process.env.ADALINK_DEBUG_EXIT) console.error('drained; exiting');
    process.exit(code);
  });
