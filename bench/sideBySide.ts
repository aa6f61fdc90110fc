/**
 * The engine against PyTorch eager on one GPU, in one run (issue 5): the table of docs/BENCHMARKS.md.
 *
 *   npm run bench:gpu -- [--out bench/results/side-by-side] [--python python3] [--batch 32] [--warmup 10] [--steps 60]
 *                        [--examples N] [--no-default] [--florence /tmp/florence-2-base-size]
 *                        [--florence-runs recorded:8,recorded:2,plain:4] [--ort-cache bucket|lazyRelease|simple]
 *                        [--chrome [--chromium /path/to/chrome] [--chrome-flag=--x=y ...]]
 *
 * One after another, each in a process of its own (so that each starts with an empty GPU and its peak memory
 * is its own):
 *  1. the engine's train step on the default model at batch 32 (bench/trainStep.ts, Node over Dawn);
 *  2. PyTorch eager on the same GPU, same package, same data, same batches (tools/bench_train_step.py; the
 *     default model's checkpoint is rebuilt from the package where it is missing), in float32 and again with the
 *     forward under bfloat16 autocast (--bf16-autocast);
 *  2b. with --chrome: the studio itself in headless Chromium, trained through its UI on the same model, batch,
 *     steps and number of training images (bench/studioChrome.ts; --chromium and --chrome-flag go to its
 *     --chromium and --flag), a column "studio in Chrome" of the default model's table (a table of its own beside
 *     the engine's when PyTorch did not run);
 *  3. with --florence: a model of Florence-2-base's size (577 image tokens, d 768, 6 + 6 layers; made by
 *     tools/make_florence_base_size.py into that folder first if it holds no package) at batch 8 on 64 images,
 *     the engine once per --florence-runs entry (how the vjp runs : examples per vjp run — fewer, less memory;
 *     the ViT's session released once the features are cached, as the CLI trainer does), and PyTorch, both ways.
 * It prints the command, the machine and each program's output, and writes every program's JSON, all of
 * them in `<out>/side-by-side.json`, and the tables in `<out>/side-by-side.md`. `--tables-only` writes the tables
 * again from the JSON files already in `<out>`, running nothing.
 *
 * On a bare GPU machine: `node bench/gpu-runtime/build.mjs` here, then (carry .devcarry)
 * `. .devcarry/setup.sh && $NODE .devcarry/bench-gpu.mjs …` from the repository root.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    out: { type: 'string', default: 'bench/results/side-by-side' },
    python: { type: 'string', default: 'python3' },
    florence: { type: 'string' },
    'florence-runs': { type: 'string', default: 'recorded:8,recorded:2,plain:4' },
    'no-default': { type: 'boolean', default: false },
    // ORT's cache of freed buffers in every engine run (bench/trainStep.ts --ort-cache).
    'ort-cache': { type: 'string', default: 'bucket' },
    // The default model's runs (a smaller run, e.g. on SwiftShader, only to try the runner).
    batch: { type: 'string', default: '32' }, warmup: { type: 'string', default: '10' }, steps: { type: 'string', default: '60' },
    examples: { type: 'string' },
    'tables-only': { type: 'boolean', default: false },
    // The studio in Chrome beside them (bench/studioChrome.ts), with its browser and extra switches.
    chrome: { type: 'boolean', default: false },
    chromium: { type: 'string' },
    'chrome-flag': { type: 'string', multiple: true, default: [] },
  },
});

/** What bench/trainStep.ts and tools/bench_train_step.py write (the fields read here). */
interface StepResult {
  command: string;
  gpu: string;
  examples: number;
  batchSize: number;
  cacheFeatures: { images: number; seconds: number };
  trainStep: { warmup: number; measured: number; medianMs: number; p25Ms: number; p75Ms: number; examplesPerSecond: number; losses?: { first: number; last: number; mean: number } };
  epoch: { steps: number; seconds: number; secondsRecomputingVit?: number };
  peakGpuBytes: number | null;
  /** At the peak, bytes per kind of buffer (bench/trainStep.ts; src/engine/gpuMemory.ts). */
  peakGpuBytesByKind?: Record<string, number>;
  adalinkKernels?: { msPerStep: number; shareOfStep: number };
  vjp?: { replay: string; examplesPerRun: number };
  /** PyTorch's: 'fp32' or 'bf16 autocast' (tools/bench_train_step.py --bf16-autocast). */
  precision?: string;
}

interface Run {
  name: string;
  argv: string[];
  json: string;
  result?: StepResult;
  error?: string;
}

const here = dirname(fileURLToPath(import.meta.url));
/** The engine's benchmark: the bundle beside this one on a GPU machine (bench/gpu-runtime), else the source. */
const engine = existsSync(join(here, 'bench-train.mjs'))
  ? [process.execPath, '--liftoff-only', join(here, 'bench-train.mjs')]
  : [process.execPath, '--liftoff-only', '--import', 'tsx', '--import', './src/cli/rawImports.mjs', 'bench/trainStep.ts'];
/** The studio in Chromium (bench/studioChrome.ts): from the source, as it builds the studio with Vite. */
const studioInChrome = [process.execPath, '--import', 'tsx', 'bench/studioChrome.ts'];

function execute(argv: string[]): number {
  console.log(`\n$ ${argv.join(' ')}`);
  const child = spawnSync(argv[0], argv.slice(1), { stdio: 'inherit', env: { ...process.env, PYTHONUNBUFFERED: '1' } });
  return child.status ?? 1;
}

function measure(run: Run): Run {
  const status = args['tables-only'] ? 0 : execute(run.argv);
  if (status !== 0 || !existsSync(run.json)) return { ...run, error: existsSync(run.json) ? `exit status ${status}` : `no ${run.json}` };
  return { ...run, result: JSON.parse(readFileSync(run.json, 'utf8')) as StepResult };
}

function machine(): string {
  const smi = spawnSync('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'], { encoding: 'utf8' });
  const gpu = smi.status === 0 ? smi.stdout.trim() : 'no nvidia-smi';
  return `${gpu}; ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}; Node ${process.version}`;
}

// ---- the tables -------------------------------------------------------------------------------------------

const ms = (x: number) => `${x.toFixed(1)} ms`;
const seconds = (x: number) => `${x.toFixed(2)} s`;
const bytes = (x: number | null) => (x === null ? '—' : `${(x / 1e6).toFixed(0)} MB`);
const ratio = (a: number, b: number) => (a / b).toFixed(2);
/** Examples per second: whole numbers on a GPU, two decimals where a step takes seconds (SwiftShader). */
const rate = (r: { trainStep: { examplesPerSecond: number } }) => r.trainStep.examplesPerSecond.toFixed(r.trainStep.examplesPerSecond >= 10 ? 0 : 2);

function stepCell(r: Pick<StepResult, 'trainStep'>): string {
  const t = r.trainStep;
  return `${ms(t.medianMs)} (p25 ${t.p25Ms.toFixed(1)}, p75 ${t.p75Ms.toFixed(1)})`;
}

function defaultTable(engineRun: StepResult, torch: StepResult, bf16?: StepResult, chrome?: ChromeResult): string {
  const [e, p] = [engineRun, torch];
  /** The bf16 autocast column's cell, when that run is there. */
  const b = (cell: (r: StepResult) => string) => (bf16 ? ` ${cell(bf16)} |` : '');
  /** The studio in Chrome's cell, when that run is there: its step and examples/s, and the memory its panel showed. */
  const c = (cell: (r: ChromeResult) => string) => (chrome ? ` ${cell(chrome)} |` : '');
  const rows = [
    `| batch ${e.batchSize}, ${e.examples} examples | engine (WebGPU) | PyTorch eager (CUDA) | engine ÷ PyTorch |${bf16 ? ' PyTorch eager, bf16 autocast |' : ''}${chrome ? ' studio in Chrome (WebGPU) |' : ''}`,
    `|---|---:|---:|---:|${bf16 ? '---:|' : ''}${chrome ? '---:|' : ''}`,
    `| train step, median of ${e.trainStep.measured} after ${e.trainStep.warmup} warm-up | ${stepCell(e)} | ${stepCell(p)} | **${ratio(e.trainStep.medianMs, p.trainStep.medianMs)}** |${b(stepCell)}${c((r) => `${stepCell(r)}, ${ratio(r.trainStep.medianMs, e.trainStep.medianMs)}× the engine's`)}`,
    `| examples/s | ${rate(e)} | ${rate(p)} | ${ratio(e.trainStep.examplesPerSecond, p.trainStep.examplesPerSecond)} |${b(rate)}${c(rate)}`,
    `| one epoch, cached image features (${e.epoch.steps} steps) | ${seconds(e.epoch.seconds)} | ${seconds(p.epoch.seconds)} | ${ratio(e.epoch.seconds, p.epoch.seconds)} |${b((r) => seconds(r.epoch.seconds))}${c(() => '—')}`,
    `| engine's epoch (cached features) against PyTorch's epoch that recomputes the ViT each step | ${seconds(e.epoch.seconds)} | ${p.epoch.secondsRecomputingVit === undefined ? '—' : seconds(p.epoch.secondsRecomputingVit)} | ${p.epoch.secondsRecomputingVit === undefined ? '—' : ratio(e.epoch.seconds, p.epoch.secondsRecomputingVit)} |${b((r) => (r.epoch.secondsRecomputingVit === undefined ? '—' : seconds(r.epoch.secondsRecomputingVit)))}${c(() => '—')}`,
    `| caching image features, ${e.cacheFeatures.images} images | ${seconds(e.cacheFeatures.seconds)} (PNG decode + resize in JS, ViT in ORT) | ${seconds(p.cacheFeatures.seconds)} (ViT only, pixels decoded before) | — |${b((r) => seconds(r.cacheFeatures.seconds))}${c(firstStepCell)}`,
    `| peak GPU memory | ${bytes(e.peakGpuBytes)} (buffers alive, ORT's included) | ${bytes(p.peakGpuBytes)} (max_memory_allocated) | ${e.peakGpuBytes && p.peakGpuBytes ? ratio(e.peakGpuBytes, p.peakGpuBytes) : '—'} |${b((r) => bytes(r.peakGpuBytes))}${c(shownMemoryCell)}`,
    `| AdaLink kernels (gather, forward, backward, clip, Adafactor) | ${e.adalinkKernels ? `${ms(e.adalinkKernels.msPerStep)} = ${(100 * e.adalinkKernels.shareOfStep).toFixed(1)} % of the step` : '—'} | — | — |${b(() => '—')}${c(() => '—')}`,
    `| loss over the measured steps (first → last, mean) | ${losses(e)} | ${losses(p)} | — |${b(losses)}${c(() => '—')}`,
  ];
  return rows.join('\n');
}

/** What bench/studioChrome.ts writes besides a StepResult's fields (those read here). */
interface ChromeResult extends Pick<StepResult, 'command' | 'gpu' | 'examples' | 'batchSize' | 'trainStep' | 'peakGpuBytes'> {
  chromium: { version: string };
  secondsToFirstStep: number;
}

const firstStepCell = (r: ChromeResult) => `${seconds(r.secondsToFirstStep)} from Start training to the first step (caching included)`;
const shownMemoryCell = (r: ChromeResult) => `${bytes(r.peakGpuBytes)} (the most the Train panel showed)`;

/** The studio in Chrome against the engine in Node, on the same GPU, when PyTorch's run is not there. */
function chromeTable(e: StepResult, c: ChromeResult): string {
  return [
    `| batch ${e.batchSize}, ${e.examples} examples | engine in Node (WebGPU, Dawn) | studio in Chrome ${c.chromium.version} (WebGPU) | Chrome ÷ Node |`,
    '|---|---:|---:|---:|',
    `| train step, median of ${e.trainStep.measured} after ${e.trainStep.warmup} warm-up | ${stepCell(e)} | ${stepCell(c)} | **${ratio(c.trainStep.medianMs, e.trainStep.medianMs)}** |`,
    `| examples/s | ${rate(e)} | ${rate(c)} | ${ratio(c.trainStep.examplesPerSecond, e.trainStep.examplesPerSecond)} |`,
    `| caching image features, ${e.cacheFeatures.images} images | ${seconds(e.cacheFeatures.seconds)} | ${firstStepCell(c)} | — |`,
    `| peak GPU memory | ${bytes(e.peakGpuBytes)} (buffers alive, ORT's included) | ${shownMemoryCell(c)} | — |`,
  ].join('\n');
}

function losses(r: StepResult): string {
  const l = r.trainStep.losses;
  return l ? `${l.first.toFixed(3)} → ${l.last.toFixed(3)}, ${l.mean.toFixed(3)}` : '—';
}

/** The kinds of GPU memory (src/engine/gpuMemory.ts), by the words before their colon, as the table names them. */
const MEMORY_FAMILIES = [
  ['ort weights', 'ORT sessions\' weights'], ['ort captured graph', 'the captured vjp\'s intermediates'], ['ort run', 'an ORT run\'s intermediates'],
  ['ort cache', 'ORT\'s cache of freed buffers'], ['recording', 'the recording\'s own'], ['engine', 'the engine\'s (features, table, adapter, batch)'],
] as const;

function familyBytes(byKind: Record<string, number>, family: string): number {
  return Object.entries(byKind).filter(([kind]) => kind.split(':')[0] === family).reduce((n, [, b]) => n + b, 0);
}

function florenceTable(engines: StepResult[], torch: StepResult[]): string {
  const columns = [
    ...engines.map((e) => `engine, vjp ${e.vjp?.replay} on ${e.vjp?.examplesPerRun === e.batchSize ? 'the whole batch' : `parts of ${e.vjp?.examplesPerRun}`}`),
    ...torch.map((p) => (p.precision === 'bf16 autocast' ? 'PyTorch eager, bf16 autocast' : 'PyTorch eager')),
  ];
  const all = [...engines, ...torch];
  const first = all[0];
  const row = (label: string, cell: (r: StepResult) => string) => `| ${label} | ${all.map(cell).join(' | ')} |`;
  return [
    `| Florence-2-base size, batch ${first.batchSize}, ${first.examples} examples | ${columns.join(' | ')} |`,
    `|---|${all.map(() => '---:').join('|')}|`,
    row(`train step, median of ${first.trainStep.measured} after ${first.trainStep.warmup}`, stepCell),
    row('examples/s', (r) => r.trainStep.examplesPerSecond.toFixed(1)),
    row('**peak GPU memory**', (r) => `**${bytes(r.peakGpuBytes)}**`),
    ...MEMORY_FAMILIES.map(([family, label]) => row(`  of which ${label}`, (r) => (r.peakGpuBytesByKind ? bytes(familyBytes(r.peakGpuBytesByKind, family)) : '—'))),
    row(`one epoch, cached image features (${first.epoch.steps} steps)`, (r) => seconds(r.epoch.seconds)),
    row(`caching image features, ${first.cacheFeatures.images} images`, (r) => seconds(r.cacheFeatures.seconds)),
    row('AdaLink kernels, share of the step', (r) => (r.adalinkKernels ? `${(100 * r.adalinkKernels.shareOfStep).toFixed(1)} %` : '—')),
  ].join('\n');
}

// ---- the run ----------------------------------------------------------------------------------------------

function main(): number {
  const command = `npm run bench:gpu -- ${process.argv.slice(2).join(' ')}`.trim();
  const out = args.out!;
  mkdirSync(out, { recursive: true });
  const where = machine();
  console.log(`command: ${command}\nmachine: ${where}`);
  const python = args.python!;
  const ortCache = ['--ort-cache', args['ort-cache']!];
  const shared = ['--batch', args.batch!, '--warmup', args.warmup!, '--steps', args.steps!, ...(args.examples ? ['--examples', args.examples] : [])];
  const runs: Run[] = args['no-default'] ? [] : [
    { name: 'engine-default', argv: [...engine, ...shared, ...ortCache, '--out', join(out, 'engine-default.json')], json: join(out, 'engine-default.json') },
    { name: 'pytorch-default', argv: [python, 'tools/bench_train_step.py', ...shared, '--out', join(out, 'pytorch-default.json')], json: join(out, 'pytorch-default.json') },
    { name: 'pytorch-default-bf16', argv: [python, 'tools/bench_train_step.py', ...shared, '--bf16-autocast', '--out', join(out, 'pytorch-default-bf16.json')], json: join(out, 'pytorch-default-bf16.json') },
  ];
  if (args.chrome && !args['no-default']) {
    // The same model, batch, steps and training images as the engine's run, through the studio's UI.
    const json = join(out, 'studio-chrome.json');
    const browser = [...(args.chromium ? ['--chromium', args.chromium] : []), ...args['chrome-flag']!.map((f) => `--flag=${f}`)];
    runs.push({ name: 'studio-chrome-default', argv: [...studioInChrome, '--batch', args.batch!, '--warmup', args.warmup!, '--steps', args.steps!,
      '--examples', args.examples ?? '0', ...browser, '--out', json], json });
  }
  const florence = args.florence;
  if (florence) {
    // The same batches for the engine and PyTorch: the premise of the side-by-side.
    const shape = ['--batch', '8', '--examples', '64', '--warmup', '3', '--steps', '20'];
    for (const entry of args['florence-runs']!.split(',')) {
      const [replay, parts] = entry.split(':');
      const json = join(out, `engine-florence-${replay}${parts}.json`);
      runs.push({ name: `engine-florence-${replay}${parts}`, argv: [...engine, '--model', florence, ...shape, ...ortCache, '--vjp', replay, '--vjp-batch', parts, '--release-vision', '--out', json], json });
    }
    for (const [name, precision] of [['pytorch-florence', []], ['pytorch-florence-bf16', ['--bf16-autocast']]] as const) {
      const json = join(out, `${name}.json`);
      runs.push({ name, argv: [python, 'tools/bench_train_step.py', '--florence-base-size', '--package', florence, ...shape, ...precision, '--out', json], json });
    }
  }

  if (florence && !args['tables-only'] && !existsSync(join(florence, 'manifest.json'))) {
    const status = execute([python, 'tools/make_florence_base_size.py', '--out', florence]);
    if (status !== 0) throw new Error(`tools/make_florence_base_size.py failed (exit status ${status})`);
  }
  const done = runs.map(measure);
  const byName = new Map(done.map((r) => [r.name, r]));

  const sections = [`Command: \`${command}\`\n\nMachine: ${where}`];
  const [e, p] = [byName.get('engine-default')?.result, byName.get('pytorch-default')?.result];
  const bf16 = byName.get('pytorch-default-bf16')?.result;
  const chrome = byName.get('studio-chrome-default')?.result as ChromeResult | undefined;
  const chromeCommand = chrome ? `; \`${chrome.command}\` (Chrome ${chrome.chromium.version}, adapter ${chrome.gpu})` : '';
  if (e && p) sections.push(`Default model (\`${e.command}\`; \`${p.command}\`${bf16 ? `; \`${bf16.command}\`` : ''}${chromeCommand}):\n\n${defaultTable(e, p, bf16, chrome)}`);
  else if (e && chrome) sections.push(`Default model, the engine in Node and the studio in Chrome (\`${e.command}\`${chromeCommand}):\n\n${chromeTable(e, chrome)}`);
  const florenceEngines = done.filter((r) => r.name.startsWith('engine-florence') && r.result).map((r) => r.result!);
  const florenceTorch = ['pytorch-florence', 'pytorch-florence-bf16'].flatMap((name) => byName.get(name)?.result ?? []);
  if (florenceEngines.length) sections.push(`Florence-2-base size:\n\n${florenceTable(florenceEngines, florenceTorch)}`);
  const failed = done.filter((r) => r.error);
  if (failed.length) sections.push(`Failed: ${failed.map((r) => `${r.name} (${r.error})`).join(', ')}`);
  const markdown = `${sections.join('\n\n')}\n`;
  writeFileSync(join(out, 'side-by-side.md'), markdown);
  writeFileSync(join(out, 'side-by-side.json'), `${JSON.stringify({ command, machine: where, runs: done }, null, 1)}\n`);
  console.log(`\n${markdown}`);
  return failed.length ? 1 : 0;
}

process.exitCode = main();
