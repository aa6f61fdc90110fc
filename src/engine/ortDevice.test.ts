/**
 * ORT's GPUDevice outlives its sessions (src/engine/onnxRuntime.ts, holdOrtDevice): onnxruntime-web destroys its
 * device when its last WebGPU session is released, and training releases the vision session once the features
 * are cached (src/cli/train.ts), when it is the only session open — the vjp's open at the first step, generation's
 * at the first caption. The cached features and the adapter live on that device, so the step after must still
 * run on it. Real ORT on WebGPU (Dawn over SwiftShader).
 */
import { expect, it } from 'vitest';
import { fixtureConfig, loadTiny, readFixture } from './testing/tinySetup.ts';
import { Trainer } from './trainer.ts';

it('releasing the only open session keeps the device: a train step runs after on the cached features', async () => {
  const tiny = await loadTiny();
  let lost: string | undefined;
  void tiny.pkg.device.lost.then((info) => { lost = `${info.reason}: ${info.message}`; });
  await tiny.pkg.vision.release();
  await new Promise((resolve) => setTimeout(resolve, 50)); // the lost promise settles on a later turn
  expect(lost).toBeUndefined();

  const trainer = new Trainer(tiny.pkg, tiny.features, tiny.examples, { ...fixtureConfig(readFixture('adamw')), steps: 2 });
  const losses: number[] = [];
  await trainer.run(2, { onStep: (r) => losses.push(r.loss) });
  expect(losses).toHaveLength(2);
  expect(losses.every(Number.isFinite)).toBe(true);
  expect(lost).toBeUndefined();
}, 300_000);
