// Node module hooks that load `*.wgsl?raw` imports as `export default "<file text>"`, the way Vite does,
// so that the kernels also run under plain Node / tsx (command-line trainer, benchmarks).
// Register with `node --import ./src/kernels/node/registerWgslRaw.mjs …` (or tsx --import …).
import { readFile } from 'node:fs/promises';

export async function resolve(specifier, context, nextResolve) {
  if (specifier.endsWith('.wgsl?raw')) {
    const url = new URL(specifier, context.parentURL);
    return { url: url.href, format: 'module', shortCircuit: true };
  }
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  if (url.endsWith('.wgsl?raw')) {
    const text = await readFile(new URL(url.slice(0, -'?raw'.length)), 'utf8');
    return { format: 'module', source: `export default ${JSON.stringify(text)};`, shortCircuit: true };
  }
  return nextLoad(url, context);
}
