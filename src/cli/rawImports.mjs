// Lets Node import `*.wgsl?raw` as a string, as Vite does, so the engine's code runs unchanged in Node.
// Used as: node --import tsx --import ./src/cli/rawImports.mjs <script.ts>
import { register } from 'node:module';

register(
  'data:text/javascript,' +
    encodeURIComponent(`
      import { readFile } from 'node:fs/promises';
      export async function resolve(specifier, context, next) {
        if (!specifier.endsWith('?raw')) return next(specifier, context);
        const url = new URL(specifier, context.parentURL);
        return { url: url.href, shortCircuit: true };
      }
      export async function load(url, context, next) {
        if (!url.endsWith('?raw')) return next(url, context);
        const text = await readFile(new URL(url.slice(0, -4)), 'utf8');
        return { format: 'module', source: 'export default ' + JSON.stringify(text), shortCircuit: true };
      }
    `),
);
