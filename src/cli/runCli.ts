/**
 * What every command-line program shares: its GPU (Node's WebGPU, Dawn), how it ends, and how it reports
 * an error. Dawn crashes a process that exits with GPU work still running, so `runCli` waits for the
 * device and destroys it before exiting; an AdaLinkError prints as its message (what, where, what to do).
 */
import { AdaLinkError } from '../errors.ts';
import { gpuIdle } from '../engine/gpuBuffers.ts';
import { installNodeImageDecoder } from './nodeImageDecoder.ts';
import { checkNodeAdapter } from './nodeGpu.ts';

let device: GPUDevice | undefined;

/** Names the device the program uses, so that the exit waits for it. */
export function useDevice(gpu: GPUDevice): void {
  device = gpu;
}

/** Prints the GPU in use (and fails early, saying what to install, when there is none). */
export async function announceGpu(): Promise<string> {
  const info = await checkNodeAdapter();
  const name = `${info.vendor} ${info.architecture} ${info.description}`.replace(/\s+/g, ' ').trim();
  console.log(`GPU: ${name}`);
  return name;
}

async function drainGpu(): Promise<void> {
  if (!device) return;
  await gpuIdle(device);
  device.destroy();
}

export function runCli(main: () => Promise<void>): void {
  installNodeImageDecoder();
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
}
