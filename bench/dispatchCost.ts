/**
 * What one small compute dispatch costs the host — the floor under any graph of many small operators (the vjp
 * graph is ~950 of them), whoever issues them: ONNX Runtime, its graph-capture replay or us. In Node over Dawn,
 * and with --chrome also in a page of Chromium on the same adapter (issue 16, item 1: what Chrome adds to each
 * dispatch, its WebGPU calls crossing to the GPU process):
 *
 *   npm run bench:dispatch [-- --dispatches 1000 --repeat 20] [--chrome] [--out bench/results/dispatch.json]
 *
 * The variants are bench/dispatchVariants.ts's. It prints the median host time to encode and submit (per
 * dispatch), the median until the GPU is done, and — where the adapter has timestamps — the GPU time from the
 * first dispatch to the last, for Node and (with --chrome) Chromium, and the ratio Chromium ÷ Node.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runCli, useDevice } from '../src/cli/runCli.ts';
import { benchDevice } from './kernelTiming.ts';
import { measureDispatchCost, type DispatchCost } from './dispatchVariants.ts';

/** The same measurement in Chromium: e2e's Chromium and flags, the page served by Vite (bench/pages/dispatch.html). */
async function inChromium(count: number, repeat: number): Promise<{ adapter: string; version: string; results: DispatchCost[] }> {
  const { launchChromium, startServer } = await import('../e2e/support/browser.ts');
  const { server, url } = await startServer();
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
    await page.goto(`${url}/bench/pages/dispatch.html`);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready');
    const adapter = await page.evaluate(() => window.dispatchBench.adapter());
    const results = await page.evaluate(([c, r]) => window.dispatchBench.run(c, r), [count, repeat] as const);
    return { adapter, version: browser.version(), results };
  } finally {
    await browser.close();
    await server.close();
  }
}

const line = (r: DispatchCost) => `host ${r.hostMs.toFixed(2)} ms (${(1000 * r.hostMs / r.dispatches).toFixed(1)} µs each), `
  + `until done ${r.untilDoneMs.toFixed(2)} ms${r.gpuMs === null ? '' : `, GPU first→last ${r.gpuMs.toFixed(2)} ms`}`;

async function main(): Promise<void> {
  const { values: args } = parseArgs({ options: {
    dispatches: { type: 'string', default: '1000' }, repeat: { type: 'string', default: '20' },
    chrome: { type: 'boolean', default: false }, out: { type: 'string' },
  } });
  const command = `npm run bench:dispatch -- ${process.argv.slice(2).join(' ')}`;
  console.log(`command: ${command}`);
  const { device, machine } = await benchDevice();
  useDevice(device);
  console.log(`GPU: ${machine.gpu}; CPU: ${machine.cpus}; Node ${machine.node}`);
  const count = Number(args.dispatches);
  const repeat = Number(args.repeat);
  const node = await measureDispatchCost(device, count, repeat);
  const chrome = args.chrome ? await inChromium(count, repeat) : undefined;
  if (chrome) console.log(`Chromium ${chrome.version}, adapter: ${chrome.adapter}`);
  console.log(`${count} dispatches, medians of ${repeat} runs:`);
  node.forEach((r, i) => {
    console.log(`- ${r.variant}\n    Node:     ${line(r)}`);
    if (!chrome) return;
    const c = chrome.results[i];
    console.log(`    Chromium: ${line(c)}\n    Chromium ÷ Node: host ${(c.hostMs / r.hostMs).toFixed(2)}×, until done ${(c.untilDoneMs / r.untilDoneMs).toFixed(2)}×`);
  });
  if (args.out) writeFileSync(args.out, `${JSON.stringify({ command, machine, node, chrome }, null, 1)}\n`);
}

runCli(main);
