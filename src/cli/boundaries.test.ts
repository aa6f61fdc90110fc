/**
 * The walls the compiler keeps (tsconfig/, docs/ARCHITECTURE.md): a page file that imports the engine, and a
 * bottom-layer file that imports the engine, fail to compile (TS6307: the file is not in that project); the
 * same files without the import compile. Scratch files, removed afterwards. And no module of src/ imports,
 * through any chain of imports (types too), itself.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const scratch: string[] = [];

async function build(project: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['node_modules/typescript/bin/tsc', '-b', project], { timeout: 240_000 });
    return { code: 0, output: stdout + stderr };
  } catch (e) {
    const failed = e as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: failed.stdout + failed.stderr };
  }
}

function probe(path: string, body: string): void {
  scratch.push(path);
  writeFileSync(path, `// A scratch file of src/cli/boundaries.test.ts; delete it if a test run left it.\n${body}\n`);
}

afterAll(() => {
  for (const path of scratch) rmSync(path, { force: true });
});

describe('the layers are walls the compiler keeps', () => {
  it.each([
    ['the page', 'tsconfig/page.json', 'src/ui/boundaryProbe.ts', "import { Trainer } from '../engine/trainer.ts';", "import type { TrainConfig } from '../config.ts';"],
    ['the bottom layers', 'tsconfig/core.json', 'src/data/boundaryProbe.ts', "import { cacheImageFeatures } from '../engine/featureCache.ts';", "import { decodeImage } from './images.ts';"],
  ])('%s: importing the engine fails to compile; the same file without it compiles', async (_, project, path, bad, good) => {
    probe(path, `${bad}\nexport const probe = [${bad.match(/\{ (?:type )?(\w+)/)![1]}];`);
    const refused = await build(project);
    expect(refused.code, refused.output).not.toBe(0);
    expect(refused.output).toMatch(/TS6307/);
    expect(refused.output).toContain('boundaryProbe.ts');

    probe(path, `${good}\nexport type Probe = ${good.includes('type ') ? 'TrainConfig' : 'typeof decodeImage'};`);
    const accepted = await build(project);
    expect(accepted.code, accepted.output).toBe(0);
  }, 600_000);
});

/** Every module of src/ (tests aside) → the modules of src/ it imports (relative specifiers, `import type` too). */
function importGraph(): Map<string, string[]> {
  const files = (readdirSync('src', { recursive: true }) as string[])
    .map((f) => join('src', f))
    .filter((f) => /\.tsx?$/.test(f) && !f.endsWith('.test.ts') && !f.includes('/testing/'));
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const targets = [...text.matchAll(/(?:import|export)\s[^'";]*?from\s+'(\.[^']+)'/g)]
      .map((m) => normalize(join(dirname(file), m[1])))
      .filter((target) => existsSync(target));
    graph.set(file, targets);
  }
  return graph;
}

describe('the modules of src/ form no import cycle', () => {
  it('no chain of imports leads from a module back to itself', () => {
    const graph = importGraph();
    const state = new Map<string, 'open' | 'done'>();
    const path: string[] = [];
    const cycles: string[] = [];
    const visit = (file: string) => {
      state.set(file, 'open');
      path.push(file);
      for (const next of graph.get(file) ?? []) {
        if (state.get(next) === 'open') cycles.push([...path.slice(path.indexOf(next)), next].map((f) => relative('src', f)).join(' → '));
        else if (!state.has(next)) visit(next);
      }
      path.pop();
      state.set(file, 'done');
    };
    for (const file of graph.keys()) if (!state.has(file)) visit(file);
    expect(graph.size).toBeGreaterThan(50);
    expect(cycles).toEqual([]);
  });
});
