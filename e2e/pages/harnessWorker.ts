/**
 * The engine harness's own worker (not the studio's): the engine's modules driven without the studio — a
 * model by URL, an imagefolder by URL with every example for training, and runs from scratch — so the browser
 * tests can compare the engine in Chromium with PyTorch's reference and with the engine in Node.
 */
import * as Comlink from 'comlink';
import { withDefaults, type TrainConfig } from '../../src/config.ts';
import { browserImageDecoder } from '../../src/data/browserImageDecoder.ts';
import { readDataset } from '../../src/data/dataset.ts';
import { useImageDecoder } from '../../src/data/images.ts';
import { urlSource } from '../../src/data/source.ts';
import { ConfigError } from '../../src/errors.ts';
import { loadModelPackage, type ModelPackage } from '../../src/engine/modelPackage.ts';
import { prepareSplit, releaseSplit, type PreparedSplit } from '../../src/engine/preparedSplit.ts';
import { encodeExamples, Trainer } from '../../src/engine/trainer.ts';
import type { StepReport } from '../../src/shared/engineApi.ts';
import { readableError, sendReadableErrors, type ReadableError } from '../../src/shared/errors.ts';
import { downloadPackage } from '../../src/worker/sources.ts';

sendReadableErrors();
useImageDecoder(browserImageDecoder);

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
