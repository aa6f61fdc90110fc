/**
 * Headless Chromium with real WebGPU (SwiftShader on machines without a GPU, docs/TESTING.md) against the
 * studio served by Vite on localhost — WebGPU needs a secure context.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { chromium, type Browser, type Page } from '@playwright/test';
import { createServer, type ViteDevServer } from 'vite';
import { CHROMIUM, CHROMIUM_ARGS } from './chromium.ts';
import { recordRequests } from './requests.ts';

/**
 * How long a file's beforeAll may take (each calls test.setTimeout(HOOK_TIMEOUT) first): Playwright gives a
 * hook the test timeout (playwright.config.ts, 180 s), and starting the servers — a production build on two
 * cores — and Chromium, then loading a model, may take longer.
 */
export const HOOK_TIMEOUT = 300_000;

export async function startServer(): Promise<{ url: string; server: ViteDevServer }> {
  // No file watching or hot reload: an edit elsewhere in the tree must not reload a page mid-test.
  const server = await createServer({
    configFile: 'vite.config.ts', logLevel: 'error',
    server: { port: 0, strictPort: false, hmr: false, watch: null },
  });
  await server.listen();
  const address = server.httpServer!.address();
  if (!address || typeof address === 'string') throw new Error('vite did not listen on a TCP port');
  return { url: `http://127.0.0.1:${address.port}`, server };
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/**
 * Opens a page and forwards its console errors and crashes to the test output; its requests (and its
 * workers') are recorded for expectOnlyOwnOrigin (e2e/support/requests.ts).
 */
export async function openPage(browser: Browser, url: string): Promise<Page> {
  const page = await browser.newPage();
  recordRequests(page, url);
  page.on('console', (m) => {
    if (m.type() === 'error') console.error(`[page] ${m.text()}`);
  });
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  await page.goto(url);
  return page;
}

/** The ids of `pid`'s child processes (Linux /proc). */
function childProcesses(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ')'.
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) children.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return children;
}

/** `pid`'s children, their children, and so on (Chromium starts its GPU process from a zygote). */
function descendants(pid: number): number[] {
  return childProcesses(pid).flatMap((child) => [child, ...descendants(child)]);
}

/** The command line as one string: Chromium rewrites its processes' titles, so the NULs between arguments may be spaces. */
function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** Every thread's nice value in `pid`, by thread id. */
function threadNices(pid: number): Map<number, number> {
  const nices = new Map<number, number>();
  let tids: number[];
  try {
    tids = readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    return nices; // The process has ended.
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      nices.set(tid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
    } catch {
      // The thread ended while we looked.
    }
  }
  return nices;
}

/**
 * Runs the GPU process of the Chromium this test process launched (the process under it with
 * --type=gpu-process) at nice 19 until the returned function is called, which puts every thread back.
 *
 * Why: with SwiftShader, WebGPU runs on the CPU, in Chromium's GPU process — on two cores its threads
 * (shader compilation on Dawn's worker threads, then the "GPU" itself) take every cycle they can get, and
 * Chromium runs the GPU process's main threads at raised priority (nice -8). A main-thread task of the
 * page then measures mostly how long the page's thread waited for a CPU, not the page. On a real GPU that
 * work is not on the CPU at all; at nice 19 the software GPU takes only the cycles the page leaves, which
 * is what a GPU would leave it. Nothing else changes: the page, the worker and the WebGPU work are all the
 * same, and every task is still counted.
 *
 * Linux sets priorities per thread (setpriority on a process id reaches only that one thread), and the GPU
 * process starts threads as it goes (its thread pool grows when Dawn compiles shaders), not always from a
 * thread already lowered: so its threads are looked at again every 100 ms and new ones lowered too.
 */
export function lowerGpuProcessPriority(): () => void {
  const gpu = descendants(process.pid).filter((pid) => / --type=gpu-process( |$)/.test(commandLine(pid)));
  if (gpu.length === 0) throw new Error('no Chromium GPU process found under this test process');
  const before = new Map(gpu.map((pid) => [pid, new Map<number, number>()]));
  const renice = (nice: number, tids: number[]) => {
    if (tids.length > 0) execFileSync('renice', ['-n', String(nice), '-p', ...tids.map(String)], { stdio: 'ignore' });
  };
  const lowerNewThreads = () => {
    for (const [pid, original] of before) {
      const fresh = [...threadNices(pid)].filter(([tid, nice]) => !original.has(tid) && nice !== 19);
      for (const [tid, nice] of fresh) original.set(tid, nice);
      try {
        renice(19, fresh.map(([tid]) => tid));
      } catch {
        // A thread ended between the listing and renice; the next look catches the rest.
      }
    }
  };
  lowerNewThreads();
  const watcher = setInterval(lowerNewThreads, 100);
  return () => {
    clearInterval(watcher);
    for (const [pid, nices] of before) {
      const alive = threadNices(pid);
      for (const [tid, nice] of nices) {
        try {
          if (alive.has(tid)) renice(nice, [tid]);
        } catch {
          // Raising a priority back needs CAP_SYS_NICE; without it the GPU process stays low, which only slows it.
        }
      }
    }
  };
}
