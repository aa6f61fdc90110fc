/**
 * "Download merged": a model package with an AdaLink adapter folded into it (docs/FORMATS.md, "The merged
 * model"), so that the frozen model's own graphs give what the live adapter gives, with no adapter at inference.
 *
 * - **text**: the package's embedding table (files.text_embeddings) becomes E' = E + (E·Wdown)·Wup, row by row.
 *   Exact, because in a package that table feeds the encoder's prompt embeddings and nothing else: the encoder
 *   and vjp graphs take embeddings as inputs (`text_embeds`, docs/ENGINE.md §1, §7), and the decoder graphs
 *   (decoder_init, decoder_step) embed their ids with a table of their own, inside their graph (a Gather from
 *   their tied `lm_head` weight in tiny-pali-test, tiny-florence-test and pali-scenes-default). The prompt's
 *   padding is the embedding of pad_id, adapted (§1): the adapted row of pad_id, as E' gives it.
 * - **image**: the vision graph gives Ẽ_image itself (visionFold.ts): folded into its last linear layer where
 *   it ends with one with constant weights, else appended after it.
 *
 * The other files are copied as they are. The manifest gets a new id (`<base>+merged-<adapter>-<hash>`: an
 * adapter trained on the base is refused on the merged model, and the other way round) and `merged_from`: the
 * base model's id, the adapter file's SHA-256, and what was folded where. The package reads as any other
 * (src/engine/modelPackage.ts), from its folder once unzipped, or from the zip's files.
 *
 * The package's files are read from its FileSource when asked, not kept for this: the worker's source already
 * holds them (src/worker/sources.ts), a folder reads them from disk.
 */
import { zipSync, type Zippable } from 'fflate';
import { MissingFileError, type FileSource } from '../data/source.ts';
import { asPackageError, PackageError, shorten } from '../errors.ts';
import { sha256Hex } from './digest.ts';
import { readAdapterFile, type AdapterWeights } from './adapterFile.ts';
import { packagePaths, parseManifest, type ModelManifest } from './manifest.ts';
import { encodeOnnxModel, readOnnxModel } from './onnx.ts';
import { readSafetensors, tensorAsFloat32, writeSafetensors } from './safetensors.ts';
import { adaptRows, mergeImageAdapter, type VisionMerge } from './visionFold.ts';

/** The manifest's record of a merge. */
export interface MergedFrom {
  /** The id of the model the adapter was folded into. */
  base_model: string;
  adapter_name: string;
  /** SHA-256 of the adapter file (.safetensors) as the studio downloads it, hex. */
  adapter_sha256: string;
  /** Per modality the adapter has: what was folded where. */
  text?: string;
  image?: string;
  /** How the image adapter went into the vision graph. */
  image_merge?: VisionMerge['kind'];
  /** The base model's own merged_from, when it was a merged model already. */
  earlier?: MergedFrom;
}

export interface MergedPackage {
  /** The merged package's files by path inside its folder (manifest.json included), as the base names them. */
  files: Map<string, Uint8Array>;
  manifest: ModelManifest & { merged_from: MergedFrom };
  /** The folder name inside the zip, and the zip's name (with .zip). */
  folder: string;
  /** For a person: what was merged, where, and how to use the package. */
  note: string;
}

/** Reads the package of `source` and folds the adapter file into it. */
export async function mergeAdapterIntoPackage(source: FileSource, adapterFile: Uint8Array, adapterName: string): Promise<MergedPackage> {
  const manifestBytes = await readFile(source, 'manifest.json');
  const manifest = parseManifest(manifestBytes, source.label);
  const raw = JSON.parse(new TextDecoder().decode(manifestBytes)) as Record<string, unknown>;
  const adapter = readAdapterFile(adapterFile, manifest, `adapter "${adapterName}"`);
  const sha256 = await sha256Hex(adapterFile);
  const d = manifest.d_model;
  const where = (path: string) => `${source.label}/${path}`;

  const files = new Map<string, Uint8Array>();
  const merged: MergedFrom = { base_model: manifest.id, adapter_name: adapterName, adapter_sha256: sha256 };
  const text = adapter.weights.find((w) => w.modality === 'text');
  const image = adapter.weights.find((w) => w.modality === 'image');
  const { path: tablePath, tensor } = manifest.files.text_embeddings;
  if (text) {
    files.set(tablePath, mergeTextTable(await readFile(source, tablePath), tensor, manifest, text, where(tablePath)));
    merged.text = `${tablePath}: every row E of "${tensor}" replaced by E + (E·Wdown)·Wup (rank ${text.rank}); exact, as that table feeds only the encoder's prompt embeddings`;
  }
  if (image) {
    const { path, outputs } = manifest.files.vision;
    const at = where(path);
    const visionBytes = await readFile(source, path);
    // A package whose weights are shared (manifest.weights): the merged vision graph holds its own, inline.
    const weights = manifest.weights ? await readFile(source, manifest.weights) : undefined;
    const graph = asPackageError(() => readOnnxModel(visionBytes, { where: at, externalData: (location) => (location === manifest.weights ? weights : undefined) }), at);
    if (graph.graph.initializers.some((t) => !t.values)) {
      throw new PackageError('the vision graph keeps its weights in a file the manifest does not name (external data)', at,
        'Re-export the package with its weights inside vision.onnx, or in the file manifest.json names as "weights" (npm run package:share-weights).');
    }
    const how = asPackageError(() => mergeImageAdapter(graph, outputs.image_embeds, d, image, at), at);
    files.set(path, encodeOnnxModel(graph));
    merged.image = `${path}: ${how.description}`;
    merged.image_merge = how.kind;
  }
  if (raw.merged_from && typeof raw.merged_from === 'object') merged.earlier = raw.merged_from as MergedFrom;

  const suffix = `${slug(adapterName)}${slug(adapterName) ? '-' : ''}${sha256.slice(0, 8)}`;
  const id = `${manifest.id}+merged-${suffix}`;
  const out = { ...raw, id, name: `${manifest.name} + adapter "${adapterName}" (merged)`, merged_from: merged } as unknown as MergedPackage['manifest'];
  files.set('manifest.json', new TextEncoder().encode(`${JSON.stringify(out, null, 2)}\n`));
  for (const path of packagePaths(manifest)) if (!files.has(path)) files.set(path, await readFile(source, path));
  const folder = id.replace(/[^\w.+-]+/g, '_').slice(0, 120);
  const note = [
    `Model "${id}": adapter "${adapterName}" merged into "${manifest.id}".`,
    merged.text ? `Text: ${merged.text}.` : 'Text: the adapter has no text side; the embedding table is unchanged.',
    merged.image ? `Image: ${merged.image}.` : 'Image: the adapter has no image side; the vision graph is unchanged.',
    'Drop the .zip (or its unzipped folder) on step 1 to load it as a model: its captions are the adapted model\'s, without the adapter.',
  ].join('\n');
  return { files, manifest: out, folder, note };
}

/** The merged package as a .zip of its folder (`<folder>/manifest.json`, …): graphs stored, text deflated. */
export function zipMergedPackage(merged: MergedPackage): { fileName: string; bytes: Uint8Array } {
  const entries: Zippable = {};
  for (const [path, bytes] of merged.files) {
    // Float weights barely compress: storing them saves the time, not the bytes.
    entries[`${merged.folder}/${path}`] = [bytes, { level: /\.(json|txt)$/i.test(path) ? 6 : 0 }];
  }
  return { fileName: `${merged.folder}.zip`, bytes: zipSync(entries) };
}

/** The table with every row adapted: the file's metadata kept, the table the only tensor (as packages have it). */
function mergeTextTable(bytes: Uint8Array, tensor: string, manifest: ModelManifest, text: AdapterWeights, where: string): Uint8Array {
  return asPackageError(() => {
    const file = readSafetensors(bytes, where);
    const table = tensorAsFloat32(file, tensor, where);
    const [vocab, d] = table.shape;
    if (table.shape.length !== 2 || vocab !== manifest.text.vocab_size || d !== manifest.d_model) {
      throw new PackageError(`the embedding table has shape [${table.shape.join(', ')}], manifest.json says [${manifest.text.vocab_size}, ${manifest.d_model}]`,
        where, 'The table and manifest.json disagree: re-export the package.');
    }
    const others = [...file.tensors.keys()].filter((name) => name !== tensor);
    const kept = others.map((name) => ({ name, ...tensorAsFloat32(file, name, where) }));
    return writeSafetensors([{ name: tensor, shape: table.shape, values: adaptRows(table.values, d, text) }, ...kept], file.metadata);
  }, where);
}

async function readFile(source: FileSource, path: string): Promise<Uint8Array> {
  try {
    return await source.read(path);
  } catch (e) {
    if (e instanceof MissingFileError) {
      throw new PackageError(`the package's file "${path}" cannot be read again to make the merged model`, source.label,
        'Load the model again (step 1), then download the merged model.');
    }
    throw new PackageError(`cannot read "${path}" again: ${shorten((e as Error).message)}`, source.label, 'Load the model again (step 1), then retry.');
  }
}

/** Lower-case letters, digits and '-' of a name, at most 32. */
function slug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 32).replace(/-+$/, '');
}


