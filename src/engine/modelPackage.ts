/**
 * Loads a model package (docs/ENGINE.md §1): reads and checks the manifest, every file it names, the
 * tokenizer and the embedding table, and opens the ONNX graphs on WebGPU. Anything wrong is reported
 * here, before training starts, as a PackageError naming the file.
 */
import { MissingFileError, readText, type FileSource } from '../data/source.ts';
import { createTextCodec, type TextCodec } from '../data/text.ts';
import { parseManifest, VISION_INPUT_ROLES, VISION_OUTPUT_ROLES, VJP_INPUT_ROLES, VJP_OUTPUT_ROLES, type ModelManifest } from '../formats/manifest.ts';
import { readSafetensors, tensorAsFloat32 } from '../formats/safetensors.ts';
import { AdaLinkError, PackageError } from './errors.ts';
import { createSession, ortDevice, type ort } from './onnxRuntime.ts';

export interface ModelPackage {
  manifest: ModelManifest;
  source: FileSource;
  text: TextCodec;
  /** The frozen token embedding table, vocab_size × d_model. */
  textEmbeddings: Float32Array;
  vision: ort.InferenceSession;
  vjp: ort.InferenceSession;
  /** ORT's device, shared with the engine's kernels. */
  device: GPUDevice;
}

async function readPackageFile(source: FileSource, path: string, what: string): Promise<Uint8Array> {
  try {
    return await source.read(path);
  } catch (e) {
    if (e instanceof MissingFileError && path === 'manifest.json') {
      throw new PackageError('there is no manifest.json here: this is not a model package', source.label,
        'Choose the package folder (the one holding manifest.json), or export one with tools/.');
    }
    if (e instanceof MissingFileError) {
      throw new PackageError(`the ${what} file "${path}" named in manifest.json is missing`, source.label,
        'Copy the whole package folder, or fix the path in manifest.json.');
    }
    throw new PackageError(`cannot read "${path}": ${(e as Error).message}`, source.label, 'Check the package location.');
  }
}

export async function loadModelPackage(source: FileSource, onProgress?: (done: number, total: number, what: string) => void): Promise<ModelPackage> {
  const manifest = parseManifest(new TextDecoder().decode(await readPackageFile(source, 'manifest.json', 'manifest')), source.label);
  const where = (path: string) => `${source.label}/${path}`;
  const steps = 5;
  onProgress?.(0, steps, 'tokenizer');

  const text = createTextCodec(await readText({ ...source, read: (p) => readPackageFile(source, p, 'tokenizer') }, manifest.tokenizer), manifest, source.label);
  onProgress?.(1, steps, 'text embeddings');

  const { path: embeddingsPath, tensor } = manifest.files.text_embeddings;
  let textEmbeddings: Float32Array;
  try {
    const table = tensorAsFloat32(readSafetensors(await readPackageFile(source, embeddingsPath, 'text embeddings'), where(embeddingsPath)), tensor, where(embeddingsPath));
    const [vocab, d] = table.shape;
    if (table.shape.length !== 2 || vocab !== manifest.text.vocab_size || d !== manifest.d_model) {
      throw new PackageError(`embedding table has shape [${table.shape.join(', ')}], manifest says [${manifest.text.vocab_size}, ${manifest.d_model}]`,
        where(embeddingsPath), 'The table and manifest.json disagree: re-export the package.');
    }
    textEmbeddings = table.values;
  } catch (e) {
    if (e instanceof AdaLinkError && !(e instanceof PackageError)) throw new PackageError(e.problem, e.where, e.fix);
    throw e;
  }
  onProgress?.(2, steps, 'vision graph');

  const { vision: visionFile, vjp: vjpFile } = manifest.files;
  const vision = await createSession(await readPackageFile(source, visionFile.path, 'vision graph'), where(visionFile.path), {
    inputs: VISION_INPUT_ROLES.map((r) => visionFile.inputs[r]),
    outputs: VISION_OUTPUT_ROLES.map((r) => visionFile.outputs[r]),
  }, { gpuOutputs: true });
  onProgress?.(3, steps, 'vjp graph');
  let vjp: ort.InferenceSession;
  try {
    vjp = await createSession(await readPackageFile(source, vjpFile.path, 'vjp graph'), where(vjpFile.path), {
      inputs: VJP_INPUT_ROLES.map((r) => vjpFile.inputs[r]),
      outputs: VJP_OUTPUT_ROLES.map((r) => vjpFile.outputs[r]),
    }, { gpuOutputs: true });
  } catch (e) {
    await vision.release();
    throw e;
  }
  onProgress?.(steps, steps, 'ready');
  return { manifest, source, text, textEmbeddings, vision, vjp, device: await ortDevice() };
}

export async function releaseModelPackage(pkg: ModelPackage): Promise<void> {
  await pkg.vision.release();
  await pkg.vjp.release();
}
