/**
 * Caption scores of a model package on a dataset split, frozen and with adapters, computed by the engine
 * on Node's WebGPU (Dawn) — the numbers the studio's Evaluate panel shows:
 *
 *   npm run evaluate -- --model public/models/pali-scenes-default --data public/demo/relational-captions.zip \
 *     --split validation --adapter adapter.safetensors
 *
 * Options: --adapter (repeatable; the frozen model is always scored first), --beams N (default 1: greedy),
 * --max-tokens N, --limit N (the first N images only), --out scores.json (scores and every caption).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { CaptionDataset } from '../data/dataset.ts';
import { loadModelPackage } from '../engine/modelPackage.ts';
import { readAdapterFile } from '../formats/adapterFile.ts';
import { prepareExamples, readSplit } from './datasetSplit.ts';
import { folderSource } from './fileSource.ts';
import { announceGpu, runCli, useDevice } from './runCli.ts';
import { scoreRuns, scoreTable } from './scoring.ts';

function firstImages(dataset: CaptionDataset, limit: number): CaptionDataset {
  const examples = dataset.examples.filter((e) => e.imageIndex < limit);
  return { ...dataset, images: dataset.images.slice(0, limit), examples };
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      model: { type: 'string' }, data: { type: 'string' }, split: { type: 'string', default: 'validation' }, task: { type: 'string' },
      adapter: { type: 'string', multiple: true, default: [] }, beams: { type: 'string' }, 'max-tokens': { type: 'string' },
      limit: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (args.help || !args.model || !args.data) {
    console.log('usage: npm run evaluate -- --model <package folder> --data <folder|zip> [--split validation] [--task T] [--adapter a.safetensors …] [--beams N] [--limit N] [--out scores.json]');
    process.exitCode = args.help ? 0 : 2;
    return;
  }
  await announceGpu();
  const pkg = await loadModelPackage(folderSource(args.model));
  useDevice(pkg.device);
  let dataset = await readSplit(args.data, args.split!, args.task);
  if (args.limit) dataset = firstImages(dataset, Number(args.limit));
  const adapters = await Promise.all(args.adapter!.map(async (path) => ({
    label: path, weights: readAdapterFile(new Uint8Array(await readFile(path)), pkg.manifest, path).weights,
  })));
  const runs = await scoreRuns(pkg, await prepareExamples(pkg, dataset, 'validation'), adapters, {
    numBeams: args.beams === undefined ? undefined : Number(args.beams),
    maxTokens: args['max-tokens'] === undefined ? undefined : Number(args['max-tokens']),
  });
  console.log(`\n${pkg.manifest.id} on ${args.data} (${args.split}: ${runs[0].evaluation.captions.length} image–prompt pairs)\n`);
  console.log(scoreTable(runs));
  if (args.out) {
    await writeFile(args.out, `${JSON.stringify({ model: pkg.manifest.id, data: args.data, split: args.split, runs }, null, 1)}\n`);
    console.log(`\nscores and captions written to ${args.out}`);
  }
}

runCli(main);
