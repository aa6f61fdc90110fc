/**
 * Headless trainer over the same engine as the studio, on Node's WebGPU (Dawn):
 *
 *   npm run train -- --model public/models/tiny-pali-test --data e2e/fixtures/tiny-captions --out adapter.safetensors
 *
 * Options (defaults are the paper's, see src/config.ts): --steps --batch-size --lr --optimizer
 * adafactor|adamw --warmup --schedule inverse_sqrt|constant --weight-decay --clip --dropout --seed
 * --modalities image,text --rank-image --rank-text --rank (both), --state <file> (save the training state
 * there every --checkpoint-every steps (default 50; 0: only at the end), and resume from it when it exists;
 * a resumed run keeps its saved settings, --steps aside), --split (the dataset split to train on; default
 * train), --task (only the examples of this task, a dataset's `task` column: one adapter per task; the adapter
 * file's metadata names it, and the studio files it under that task when imported). A checkpoint is written to <file>.partial and then renamed over <file>: a process killed while
 * writing leaves the previous checkpoint whole. --data is a folder or a .zip (imagefolder, COCO
 * captions JSON or CSV: src/data/dataset.ts). --vjp-batch N runs the frozen model's gradient graph on parts of
 * N examples of each batch (less GPU memory, same updates: docs/ENGINE.md §4); a divisor of the batch size.
 */
import { existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { DEFAULT_CONFIG, validateConfig, withDefaults, type Modality, type TrainConfig } from '../config.ts';
import { ConfigError } from '../errors.ts';
import { loadModelPackage } from '../engine/modelPackage.ts';
import { decodeTrainingState, encodeTrainingState } from '../formats/trainingState.ts';
import { runSchedule } from '../engine/runSchedule.ts';
import { encodeExamples, Trainer } from '../engine/trainer.ts';
import { writeAdapterFile } from '../formats/adapterFile.ts';
import { prepareExamples, readSplit } from './datasetSplit.ts';
import { folderSource } from './fileSource.ts';
import { progress } from './progress.ts';
import { announceGpu, runCli, useDevice } from './runCli.ts';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string' }, data: { type: 'string' }, out: { type: 'string', default: 'adapter.safetensors' },
    steps: { type: 'string' }, 'batch-size': { type: 'string' }, lr: { type: 'string' }, optimizer: { type: 'string' },
    warmup: { type: 'string' }, schedule: { type: 'string' }, 'weight-decay': { type: 'string' }, clip: { type: 'string' },
    dropout: { type: 'string' }, seed: { type: 'string' }, modalities: { type: 'string' },
    rank: { type: 'string' }, 'rank-image': { type: 'string' }, 'rank-text': { type: 'string' },
    'vjp-batch': { type: 'string' }, state: { type: 'string' }, 'checkpoint-every': { type: 'string', default: '50' }, split: { type: 'string', default: 'train' },
    task: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
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

/** The trainer's state written over `path` in one rename: never half a file there. */
async function writeState(path: string, trainer: Trainer): Promise<void> {
  await writeFile(`${path}.partial`, encodeTrainingState(await trainer.exportState()));
  await rename(`${path}.partial`, path);
}

async function main(): Promise<void> {
  if (args.help || !args.model || !args.data) {
    console.log('usage: npm run train -- --model <package folder> --data <imagefolder> [--out adapter.safetensors] [--steps N] …');
    console.log('see the header of src/cli/train.ts for every option');
    process.exitCode = args.help ? 0 : 2;
    return;
  }
  const saved = args.state && existsSync(args.state) ? decodeTrainingState(new Uint8Array(await readFile(args.state)), args.state) : undefined;
  // A resumed run keeps its saved settings (anything else would change its numbers); only --steps,
  // the point to train to, may move on. The settings are checked against the model as soon as it is read, before
  // the slow part (caching the features), so that a bad flag is reported at once.
  const config = saved ? { ...saved.config, steps: args.steps === undefined ? saved.config.steps : Number(args.steps) } : configFromArgs();
  await announceGpu();
  const pkg = await loadModelPackage(folderSource(args.model));
  useDevice(pkg.device);
  validateConfig(config, pkg.manifest.d_model);
  console.log(`model: ${pkg.manifest.name} (d_model ${pkg.manifest.d_model}, ${pkg.manifest.image.tokens} image tokens)`);
  const dataset = await readSplit(args.data, args.split!, args.task);
  const { features, train } = await prepareExamples(pkg, dataset, 'train');
  // Training reads the cached features only: the ViT's weights and buffers leave the GPU.
  await pkg.vision.release();
  const examples = encodeExamples(pkg, train, features);
  console.log(`${examples.length} examples from ${features.ok.filter(Boolean).length} images`);

  const vjpBatch = args['vjp-batch'] === undefined ? undefined : Number(args['vjp-batch']);
  const trainer = new Trainer(pkg, features, examples, config, saved, { vjpBatch });
  if (saved) console.log(`resuming from step ${saved.step} (${args.state})`);

  const started = performance.now();
  let lastLoss = NaN;
  const bar = progress('training', config.steps, trainer.step);
  const checkpointEvery = args.state ? Number(args['checkpoint-every']) : 0;
  if (!Number.isSafeInteger(checkpointEvery) || checkpointEvery < 0) {
    throw new ConfigError(`--checkpoint-every ${args['checkpoint-every']} is not a whole number of steps`, '--checkpoint-every', 'Give 0 (only at the end) or a number of steps, e.g. 50.');
  }
  let failure: unknown;
  try {
    await runSchedule(trainer, {
      totalSteps: config.steps,
      validateEvery: 0,
      checkpointEvery,
      onStep: ({ step, loss, learningRate }) => {
        lastLoss = loss;
        const rate = (step + 1 - (saved?.step ?? 0)) / ((performance.now() - started) / 1000);
        bar.update(step + 1, `loss ${loss.toFixed(4)}  lr ${learningRate.toExponential(2)}  ${rate.toFixed(1)} steps/s`);
      },
      // The last step's state is written below, with the adapter, whatever happened.
      checkpoint: async (step) => {
        if (args.state && step < config.steps) await writeState(args.state, trainer);
      },
    });
  } catch (e) {
    failure = e;
  }
  bar.stop();
  const state = await trainer.exportState();
  if (args.state) await writeState(args.state, trainer);
  await writeFile(args.out, writeAdapterFile(state, pkg.manifest, args.task === undefined ? {} : { task: args.task }));
  console.log(`adapter after ${state.step} steps (last loss ${lastLoss.toFixed(4)}) written to ${args.out}`);
  if (failure) throw failure;
}

runCli(main);
