/**
 * A model package rewritten so that it holds each weight once (src/formats/sharedWeights.ts):
 *
 *   npm run package:share-weights -- public/models/pali-scenes-default
 *
 * Every graph the manifest names is read (with the package's weights file, when it has one already), its large
 * initializers moved into weights.bin — identical tensors once — and written back; manifest.json gains
 * `"weights": "weights.bin"`. Before anything is replaced, each new graph is read back with the new file and
 * every initializer compared with the old one, byte for byte. Prints the package's size before and after.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../errors.ts';
import { packagePaths, parseManifest } from '../formats/manifest.ts';
import { encodeOnnxModel, readOnnxModel } from '../formats/onnx.ts';
import { rawBytes, shareWeights, SHARED_WEIGHTS_FILE } from '../formats/sharedWeights.ts';

async function main(): Promise<void> {
  const folder = process.argv[2];
  if (!folder) throw new ConfigError('no package folder given', 'npm run package:share-weights', 'Run: npm run package:share-weights -- <package folder>');
  const manifestText = await readFile(join(folder, 'manifest.json'), 'utf8');
  const manifest = parseManifest(manifestText, folder);
  const oldWeights = manifest.weights ? new Uint8Array(await readFile(join(folder, manifest.weights))) : undefined;
  const externalData = (location: string) => (location === manifest.weights ? oldWeights : undefined);
  const graphPaths = packagePaths(manifest).filter((p) => p.endsWith('.onnx'));
  const sizeOf = async (paths: string[]) => (await Promise.all(paths.map(async (p) => (await readFile(join(folder, p))).byteLength))).reduce((a, b) => a + b, 0);
  const before = await sizeOf([...graphPaths, ...(manifest.weights ? [manifest.weights] : [])]);

  const models = await Promise.all(graphPaths.map(async (path) =>
    readOnnxModel(new Uint8Array(await readFile(join(folder, path))), { where: join(folder, path), externalData })));
  const reference = models.map((m) => new Map(m.graph.initializers.map((t) => [t.name, rawBytes(t)?.slice()])));
  const shared = shareWeights(models, SHARED_WEIGHTS_FILE);
  const encoded = models.map((m) => encodeOnnxModel(m));

  // Read back as the studio will, and compare every initializer with the original's.
  encoded.forEach((bytes, g) => {
    const back = readOnnxModel(bytes, { where: graphPaths[g], externalData: (location) => (location === SHARED_WEIGHTS_FILE ? shared.bytes : undefined) });
    for (const t of back.graph.initializers) {
      const want = reference[g].get(t.name);
      const got = rawBytes(t);
      if (!want || !got || want.byteLength !== got.byteLength || want.some((b, i) => b !== got[i])) {
        throw new Error(`${graphPaths[g]}: initializer "${t.name}" differs after the rewrite; nothing was written`);
      }
    }
  });

  await writeFile(join(folder, `${SHARED_WEIGHTS_FILE}.partial`), shared.bytes);
  for (const [g, path] of graphPaths.entries()) await writeFile(join(folder, `${path}.partial`), encoded[g]);
  for (const path of [SHARED_WEIGHTS_FILE, ...graphPaths]) await rename(join(folder, `${path}.partial`), join(folder, path));
  // One line added after "tokenizer" (the file's own layout kept), unless it names the weights already.
  if (manifest.weights !== SHARED_WEIGHTS_FILE) {
    const edited = manifestText.replace(/^(\s*)"tokenizer": .*,$/m, (line, indent: string) => `${line}\n${indent}"weights": "${SHARED_WEIGHTS_FILE}",`);
    if (parseManifest(edited, folder).weights !== SHARED_WEIGHTS_FILE) throw new Error(`${folder}/manifest.json: could not add "weights"; add "weights": "${SHARED_WEIGHTS_FILE}" by hand`);
    await writeFile(join(folder, 'manifest.json'), edited);
  }
  const after = await sizeOf([...graphPaths, SHARED_WEIGHTS_FILE]);
  console.log(`${folder}: ${shared.moved} initializers in ${SHARED_WEIGHTS_FILE} (${shared.reused} held by more than one graph, stored once)`);
  console.log(`graphs and weights: ${(before / 1e6).toFixed(2)} MB → ${(after / 1e6).toFixed(2)} MB (${SHARED_WEIGHTS_FILE} ${(shared.bytes.byteLength / 1e6).toFixed(2)} MB)`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
