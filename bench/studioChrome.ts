/**
 * The studio itself in headless Chromium, trained through its UI and timed per step (issue 16: the studio in
 * Chrome beside the engine in Node, bench/trainStep.ts, and PyTorch, in bench:gpu --chrome):
 *
 *   npm run bench:chrome -- [--batch 8] [--warmup 2] [--steps 10] [--examples 64 (training images; 0 = all)]
 *                           [--validation 1] [--chromium /path/to/chrome] [--flag=--some-switch ...] [--timeout-min 60]
 *                           [--out bench/results/chrome-swiftshader/studio-chrome.json]
 *
 * It builds the studio and serves it as the e2e tests do (vite build + vite preview, e2e/support/studio.ts), starts
 * the e2e tests' Chromium with their flags (e2e/support/chromium.ts: WebGPU over SwiftShader where there is no GPU),
 * and does what a person would: Model → "Load the default model", Dataset → "Try the demo dataset" (its own train
 * and validation splits; the first `--examples` training images and `--validation` validation images), Train →
 * batch size, length `warmup + steps` steps, validation and checkpoints only at the start and the end (so that no
 * measured step waits for them), "Start training"; then it waits for the run to end.
 *
 * The page marks every step report it receives (`performance.mark('adalink:step')`, src/ui/engineBridge.ts); it
 * prints and writes as JSON:
 *  - train step: median and quartiles of the intervals between consecutive step marks after `warmup` steps (the
 *    same statistic as bench:train's: the page's view of the worker's steps, ≤ 2 in flight), examples/s;
 *  - from "Start training" to the first step report (caching image features, the first validation and checkpoint,
 *    compiling the shaders), and the model's load;
 *  - the page's main thread while it trains: its long tasks (over 50 ms, PerformanceObserver 'longtask'), the
 *    longest, and the long animation frames with the scripts that ran in them (a person's bar: none over 50 ms);
 *  - the most GPU memory the Train panel showed during the run (the worker's 'memory' events: buffers alive, the
 *    engine's and ONNX Runtime's; the panel shows MiB to one decimal, and at most every 250 ms);
 *  - the machine: CPU model and count, Chromium's version, the WebGPU adapter the page gets (adapter.info).
 *
 * `--chromium` and `--flag` (repeatable, `--flag=--x=y`) are for a machine with a GPU: another Chromium, and
 * switches added to the e2e ones; a flag whose name is one of those replaces it, and with nothing after its `=`
 * removes it (`--flag=--use-webgpu-adapter=` to leave SwiftShader).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium, type Page } from '@playwright/test';
import { CHROMIUM, CHROMIUM_ARGS } from '../e2e/support/chromium.ts';
import { longTasks, openStudio, recordLongTasks, setNumber, startProductionServer, tab } from '../e2e/support/studio.ts';

const MINUTE = 60_000;
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

/** The e2e switches with `extra` on top: one of the same name replaces it, one with an empty value removes it. */
function chromiumArgs(extra: string[]): string[] {
  const name = (flag: string) => flag.split('=')[0];
  const replaced = new Set(extra.map(name));
  return [...CHROMIUM_ARGS.filter((f) => !replaced.has(name(f))), ...extra.filter((f) => !f.endsWith('='))];
}

/** The page's WebGPU adapter as announceGpu (src/cli/runCli.ts) names Node's: vendor, architecture, description. */
async function pageAdapter(page: Page): Promise<{ name: string; info: Record<string, string> | null }> {
  const info = await page.evaluate(async () => {
    const adapter = await navigator.gpu?.requestAdapter();
    if (!adapter) return null;
    const { vendor, architecture, device, description } = adapter.info;
    return { vendor, architecture, device, description };
  });
  const name = info ? `${info.vendor} ${info.architecture} ${info.description}`.replace(/\s+/g, ' ').trim() : 'no WebGPU adapter';
  return { name, info };
}

/**
 * Records every text the Train panel's "GPU memory" shows from now on (a MutationObserver in the page: nothing
 * polls). Read with `shownGpuMemory`.
 */
async function watchGpuMemory(page: Page): Promise<void> {
  await page.evaluate(() => {
    const dd = [...document.querySelectorAll('[data-testid="run-stats"] dt')].find((dt) => dt.textContent === 'GPU memory')?.nextElementSibling;
    const shown: string[] = [];
    (window as unknown as { benchGpuMemory: string[] }).benchGpuMemory = shown;
    // (No named function in here: tsx would wrap it in a helper the page does not have.)
    if (dd) new MutationObserver(() => shown.push(dd.textContent ?? '')).observe(dd, { childList: true, characterData: true, subtree: true });
  });
}

/** The most bytes among the texts the panel showed (formatBytes: powers of 1024), or null if it showed none. */
async function shownGpuMemory(page: Page): Promise<{ peakBytes: number | null; shown: string[] }> {
  const shown = await page.evaluate(() => (window as unknown as { benchGpuMemory?: string[] }).benchGpuMemory ?? []);
  const units: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 };
  const bytes = shown.map((text) => /^([\d.]+) (B|KB|MB|GB)$/.exec(text.trim())).filter((m) => m !== null).map((m) => Number(m[1]) * units[m[2]]);
  return { peakBytes: bytes.length ? Math.max(...bytes) : null, shown: [...new Set(shown)] };
}

interface StepMark { step: number; t: number }

async function stepMarks(page: Page): Promise<StepMark[]> {
  return page.evaluate(() => performance.getEntriesByName('adalink:step', 'mark')
    .map((m) => ({ step: ((m as PerformanceMark).detail as { step: number }).step, t: m.startTime })));
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      batch: { type: 'string', default: '8' }, warmup: { type: 'string', default: '2' }, steps: { type: 'string', default: '10' },
      examples: { type: 'string', default: '0' }, validation: { type: 'string', default: '1' },
      chromium: { type: 'string', default: CHROMIUM }, flag: { type: 'string', multiple: true, default: [] },
      'timeout-min': { type: 'string', default: '60' },
      out: { type: 'string', default: 'bench/results/chrome-swiftshader/studio-chrome.json' },
    },
  });
  const command = `npm run bench:chrome -- ${process.argv.slice(2).join(' ')}`.trim();
  const [batchSize, warmup, measured] = [Number(args.batch), Number(args.warmup), Number(args.steps)];
  const totalSteps = warmup + measured;
  const cpu = `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}`;
  const flags = chromiumArgs(args.flag!);
  console.log(`command: ${command}\nCPU: ${cpu}; Node ${process.version}\nChromium: ${args.chromium} ${flags.join(' ')}`);

  console.log('building the studio (vite build) and serving it (vite preview)…');
  const server = await startProductionServer();
  const browser = await chromium.launch({ executablePath: args.chromium, args: flags });
  try {
    const page = await openStudio(browser, server.url);
    const adapter = await pageAdapter(page);
    console.log(`machine: ${cpu}; Chromium ${browser.version()}; WebGPU adapter: ${adapter.name}`);

    let started = Date.now();
    await tab(page, 'Model');
    await page.getByRole('button', { name: 'Load the default model' }).click();
    await page.getByTestId('model-card').waitFor({ timeout: 10 * MINUTE });
    const modelSeconds = (Date.now() - started) / 1000;
    const model = (await page.getByTestId('model-card').innerText()).split('\n')[0];
    console.log(`model loaded in ${modelSeconds.toFixed(1)} s: ${model}`);

    await tab(page, 'Dataset');
    await page.getByRole('button', { name: 'Try the demo dataset' }).click();
    await page.getByTestId('dataset-summary').waitFor({ timeout: 5 * MINUTE });
    await setNumber(page, 'Training images to use (0 = all)', Number(args.examples));
    await setNumber(page, 'Validation images to use (0 = all)', Number(args.validation));
    const split = page.getByTestId('split-summary');
    await split.filter({ hasText: args.examples === '0' ? 'Training:' : `Training: ${args.examples} images` }).waitFor();
    const splitText = (await split.innerText()).trim();
    const examples = Number(/Training: \d+ images, (\d+) captions/.exec(splitText)?.[1]);
    console.log(`dataset: ${splitText}`);

    await tab(page, 'Train');
    await setNumber(page, 'Batch size', batchSize);
    await setNumber(page, 'Length', totalSteps);
    await page.getByLabel('Length unit').selectOption('steps');
    await page.getByText('More settings').click();
    // 0: validation at the start and the end only; checkpoints only at the start and the end.
    await setNumber(page, 'Validate every (steps)', 0);
    await setNumber(page, 'Checkpoint every (steps)', 0);
    await watchGpuMemory(page);
    await recordLongTasks(page);

    const t0 = await page.evaluate(() => performance.now());
    started = Date.now();
    await page.getByRole('button', { name: 'Start training' }).click();
    const deadline = started + Number(args['timeout-min']) * MINUTE;
    let status = '';
    for (let reported = -1; ; await page.waitForTimeout(2000)) {
      status = await page.getByTestId('run-status').innerText();
      const done = (await stepMarks(page)).length;
      if (done !== reported) console.log(`${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s  ${status}: ${done} of ${totalSteps} steps`);
      reported = done;
      if (/^(Saving|Evaluating|Done|Stopped)/.test(status)) break;
      if (Date.now() > deadline) throw new Error(`the run did not end within ${args['timeout-min']} minutes (${status}, ${done} steps)`);
    }
    const runSeconds = (Date.now() - started) / 1000;
    if (status === 'Stopped') throw new Error(`the run stopped: ${await page.getByRole('alert').first().innerText().catch(() => 'no message')}`);

    const marks = await stepMarks(page);
    if (marks.length !== totalSteps) throw new Error(`${marks.length} step marks for a run of ${totalSteps} steps`);
    const stamps = marks.slice(warmup).map((m) => m.t);
    const intervals = stamps.slice(1).map((t, i) => t - stamps[i]).sort((a, b) => a - b);
    const medianMs = quantile(intervals, 0.5);
    const memory = await shownGpuMemory(page);
    const recorded = await longTasks(page);
    const tasks = recorded.filter((t) => t.duration > 0).map((t) => Number(t.duration.toFixed(0)));
    const mainThread = {
      longTasks: tasks.length, longestTaskMs: tasks.length ? Math.max(...tasks) : 0, taskMs: tasks,
      longFrames: recorded.filter((t) => t.duration < 0).map((t) => `${(-t.duration).toFixed(0)} ms: ${t.scripts}`),
    };
    const trainLoss = (await page.getByTestId('train-loss').innerText()).trim();

    const result = {
      command, gpu: adapter.name, adapterInfo: adapter.info, chromium: { path: args.chromium, version: browser.version(), flags },
      cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version, model, data: 'public/demo/relational-captions.zip (the studio\'s "Try the demo dataset")',
      split: splitText, examples, batchSize,
      trainStep: {
        warmup, measured, intervals: intervals.length, medianMs, p25Ms: quantile(intervals, 0.25), p75Ms: quantile(intervals, 0.75),
        meanMs: (stamps.at(-1)! - stamps[0]) / intervals.length, examplesPerSecond: (batchSize * 1000) / medianMs,
      },
      // Start training → the first step report: features cached, the first validation and checkpoint, shaders compiled.
      secondsToFirstStep: (marks[0].t - t0) / 1000, runSeconds, modelLoadSeconds: modelSeconds,
      // The most the Train panel showed (its "GPU memory": buffers alive, the engine's and ONNX Runtime's).
      peakGpuBytes: memory.peakBytes, gpuMemoryShown: memory.shown,
      // The page's own thread while it trained (the worker trains): tasks over 50 ms and the frames they were in.
      mainThread,
      trainLoss, stepMarksMs: marks.map((m) => Number((m.t - t0).toFixed(1))),
    };
    console.log(JSON.stringify(result, null, 1));
    const t = result.trainStep;
    console.log(`studio in Chrome, batch ${batchSize}, ${examples} examples: step ${t.medianMs.toFixed(1)} ms (p25 ${t.p25Ms.toFixed(1)}, p75 ${t.p75Ms.toFixed(1)}) `
      + `over ${t.intervals} intervals after ${warmup} warm-up steps, ${t.examplesPerSecond.toFixed(2)} examples/s; `
      + `peak GPU memory shown ${memory.peakBytes === null ? '—' : `${(memory.peakBytes / 1e6).toFixed(0)} MB`}; `
      + `main thread: ${mainThread.longTasks} tasks over 50 ms while training${mainThread.longTasks ? ` (longest ${mainThread.longestTaskMs} ms)` : ''}`);
    mkdirSync(dirname(args.out!), { recursive: true });
    writeFileSync(args.out!, `${JSON.stringify(result, null, 1)}\n`);
  } finally {
    await browser.close();
    await server.close();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
