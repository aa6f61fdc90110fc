/**
 * The engine harness's own worker (not the studio's): the engine's modules driven without the studio — a
 * model package by URL or a repository from a Hub (hubSource.ts), an imagefolder by URL with every example for training, runs from
 * scratch, and one run of a model's vjp graph — so the browser tests can compare the engine in Chromium with
 * PyTorch's references and with the engine in Node.
 */
import * as Comlink from 'comlink';
import { withDefaults, type TrainConfig } from '../../src/config.ts';
import { browserImageDecoder } from '../../src/data/browserImageDecoder.ts';
import { readDataset } from '../../src/data/dataset.ts';
import { useImageDecoder } from '../../src/data/images.ts';
import { urlSource } from '../../src/data/source.ts';
import { ConfigError } from '../../src/errors.ts';
import { loadHubPackage } from '../../src/engine/hubPackage.ts';
import { loadModelPackage, type ModelPackage } from '../../src/engine/modelPackage.ts';
import { createSession, hostTensor } from '../../src/engine/onnxRuntime.ts';
import { prepareSplit, releaseSplit, type PreparedSplit } from '../../src/engine/preparedSplit.ts';
import { encodeExamples, Trainer } from '../../src/engine/trainer.ts';
import type { StepReport } from '../../src/shared/engineApi.ts';
import { readableError, sendReadableErrors, type ReadableError } from '../../src/shared/errors.ts';
import { openHubModel } from '../../src/worker/hubSource.ts';
import { downloadPackage } from '../../src/worker/sources.ts';

sendReadableErrors();
useImageDecoder(browserImageDecoder);

/** One batch of the vjp contract (docs/ENGINE.md §1), flattened; mask, ids and labels as numbers. */
export interface VjpBatch {
  shape: { B: number; Ni: number; Nt: number; Nd: number; d: number };
  inputs: Record<'image_embeds' | 'text_embeds' | 'text_mask' | 'decoder_input_ids' | 'labels', number[]>;
}

export interface HarnessOutcome {
  step: number;
  losses: number[];
  error?: ReadableError;
  /** How the frozen model's gradient graph ran, in steps: the check that the recorded fast path runs. */
  vjpSteps: Record<'plain' | 'capture' | 'ortReplay' | 'recorded', number>;
}

let pkg: ModelPackage | undefined;
let split: PreparedSplit | undefined;

const api = {
  async loadModel(url: string): Promise<void> {
    const { source } = await downloadPackage(url, () => undefined);
    pkg = await loadModelPackage(source);
  },

  /** A repository in the layout transformers.js publishes, downloaded from a Hub (the studio's hubSource.ts). */
  async loadHubModel(endpoint: string, repo: string): Promise<{ id: string; sha: string; files: string[]; vjpInputs: Record<string, string> | undefined }> {
    const hub = await openHubModel({ endpoint, repo, variant: 'fp32' });
    pkg = await loadHubPackage(hub.source, { repo, revision: hub.sha, variant: 'fp32' });
    return { id: pkg.manifest.id, sha: hub.sha, files: hub.files, vjpInputs: pkg.manifest.files.vjp.input_types };
  },

  /** The loaded model's vjp graph for this batch's shape, run once: loss and the gradients, flattened. */
  async vjp({ shape: { B, Ni, Nt, Nd, d }, inputs }: VjpBatch): Promise<Record<'loss' | 'grad_image_embeds' | 'grad_text_embeds', number[]>> {
    if (!pkg) throw new ConfigError('no model is loaded', 'the harness', 'Call loadModel or loadHubModel first.');
    const files = pkg.manifest.files.vjp;
    const gpuForm = files.input_types !== undefined;
    const ints = (values: number[], dims: number[]) => (gpuForm ? hostTensor('int32', Int32Array.from(values), dims) : hostTensor('int64', BigInt64Array.from(values, BigInt), dims));
    const session = await createSession(await pkg.vjpGraph({ batch: B, promptTokens: Nt, targetTokens: Nd }), 'the harness\'s vjp', { inputs: [], outputs: [] });
    try {
      const outputs = await session.run({
        [files.inputs.image_embeds]: hostTensor('float32', Float32Array.from(inputs.image_embeds), [B, Ni, d]),
        [files.inputs.text_embeds]: hostTensor('float32', Float32Array.from(inputs.text_embeds), [B, Nt, d]),
        [files.inputs.text_mask]: gpuForm ? hostTensor('float32', Float32Array.from(inputs.text_mask), [B, Nt]) : ints(inputs.text_mask, [B, Nt]),
        [files.inputs.decoder_input_ids]: ints(inputs.decoder_input_ids, [B, Nd]),
        [files.inputs.labels]: ints(inputs.labels, [B, Nd]),
      });
      const read = (role: keyof typeof files.outputs) => Array.from(outputs[files.outputs[role]].data as Float32Array);
      return { loss: read('loss'), grad_image_embeds: read('grad_image_embeds'), grad_text_embeds: read('grad_text_embeds') };
    } finally {
      await session.release();
    }
  },

  /** An imagefolder by URL, every example for training, its features cached now. */
  async loadDataset(url: string): Promise<{ images: number; skipped: Array<{ where: string; reason: string }> }> {
    if (!pkg) throw new ConfigError('no model is loaded', 'the harness', 'Call loadModel first.');
    const dataset = await readDataset(urlSource(url));
    releaseSplit(split);
    split = await prepareSplit(pkg, dataset, { train: dataset.examples, validation: [] });
    return { images: split.features.ok.filter(Boolean).length, skipped: [...dataset.skipped, ...split.features.skipped] };
  },

  /** A run from scratch on the loaded dataset. */
  async train(partial: Partial<TrainConfig>, onStep: (r: StepReport) => void): Promise<HarnessOutcome> {
    if (!pkg || !split) throw new ConfigError('no model or dataset is loaded', 'the harness', 'Call loadModel and loadDataset first.');
    const config = withDefaults(partial);
    const trainer = new Trainer(pkg, split.features, encodeExamples(pkg, split.train, split.features), config);
    let error: ReadableError | undefined;
    try {
      await trainer.run(config.steps, { onStep });
    } catch (e) {
      error = readableError(e);
    }
    const state = await trainer.exportState();
    const vjpSteps = { ...trainer.vjp.counts };
    await trainer.destroy();
    return { step: state.step, losses: state.losses, error, vjpSteps };
  },
};

export type HarnessApi = typeof api;

Comlink.expose(api);
