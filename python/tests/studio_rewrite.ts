// Run by tests/test_adapter_file.py through tsx: the studio's own reader (src/formats/adapterFile.ts) reads an
// adapter file written by the Python package, and its own writer writes it again from what it read.
// Usage: tsx python/tests/studio_rewrite.ts <in.safetensors> <out.safetensors> <model id> <d_model>
import { readFileSync, writeFileSync } from 'node:fs';
import { readAdapterFile, writeAdapterFile } from '../../src/formats/adapterFile.ts';
import type { ModelManifest } from '../../src/formats/manifest.ts';
import type { TrainingState } from '../../src/formats/trainingState.ts';

const [input, output, id, d] = process.argv.slice(2);
const manifest = { id, d_model: Number(d) } as ModelManifest; // the two fields the adapter file reads
const adapter = readAdapterFile(new Uint8Array(readFileSync(input)), manifest, input);
const tensors = Object.fromEntries(adapter.weights.flatMap((w) => [[`${w.modality}.wdown`, w.wdown], [`${w.modality}.wup`, w.wup]]));
const state = {
  config: JSON.parse(adapter.metadata.training_config),
  step: Number(adapter.metadata.steps),
  losses: [Number(adapter.metadata.final_loss)],
  tensors,
} as unknown as TrainingState;
writeFileSync(output, writeAdapterFile(state, manifest, { name: adapter.metadata.name }));
