/**
 * The worker's side of "Download merged" (EngineApi.mergedModelFile): the loaded package with a saved adapter
 * folded into it, as a .zip of a package folder (src/formats/mergedModel.ts). The package's files are read
 * again from its FileSource — the worker's sources hold them already (sources.ts) — and not kept after.
 *
 * A model from the Hub is refused for now: its embedding table, onnx/embed_tokens.onnx, embeds the decoder's
 * ids as well as the prompt (transformers.js runs it for both, and decoder_model's lm_head is the same table),
 * so folding the text adapter there would change the decoder too; an exact merge has to go into
 * encoder_model.onnx's prompt positions instead, which is not written yet.
 */
import { PackageError } from '../errors.ts';
import { mergeAdapterIntoPackage, zipMergedPackage } from '../formats/mergedModel.ts';
import type { ModelPackage } from '../engine/modelPackage.ts';
import type { HubModelInfo } from '../shared/engineApi.ts';

export async function mergedModelFile(
  pkg: ModelPackage, hub: HubModelInfo | undefined, adapter: { name: string; file: Uint8Array },
): Promise<{ fileName: string; bytes: Uint8Array; note: string }> {
  if (hub) {
    throw new PackageError(`a model from the Hugging Face Hub (${hub.repo}) cannot be downloaded merged yet: its embedding table (onnx/embed_tokens.onnx) also feeds the decoder, so folding the adapter into it would not give the adapted model`,
      `adapter "${adapter.name}"`,
      'Download the adapter (.safetensors) and use it with the base model; or export the model as a package with tools/ (tools/README.md), load that folder, and download the merged model from it.');
  }
  const merged = await mergeAdapterIntoPackage(pkg.source, adapter.file, adapter.name);
  const zip = zipMergedPackage(merged);
  return { ...zip, note: merged.note };
}
