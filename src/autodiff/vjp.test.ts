/**
 * buildVjp on composite graphs: a BART-like attention block (masks, softmax, torch's decomposed LayerNorm, a
 * value read by three nodes, an integer path, an input that reaches nothing) against finite differences in
 * float64; the same block's vjp graph run by onnxruntime-web (WebGPU provider, float32) against the float64
 * gradients; the cross-entropy loss of loss.ts; and the committed tiny Florence-2 package: the vjp derived from
 * its forward encoder and decoder graphs against the vjp graph PyTorch autograd exported, both run by ORT.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { installNodeWebGpu } from '../cli/nodeGpu.ts';
import { createSession, hostTensor } from '../engine/onnxRuntime.ts';
import { encodeOnnxModel, readOnnxModel } from '../formats/onnx.ts';
import type { OnnxModel } from '../formats/onnxModel.ts';
import type { Tensor64 } from './values.ts';
import { evaluate } from './evaluate.ts';
import { appendCrossEntropy } from './loss.ts';
import { attentionBlock } from './testing/composites.ts';
import { checkGradients, finiteDifferences, modelOf, node, randomSource, relativeError, staticValues, tensor, uniform, withLinearLoss } from './testing/finiteDifferences.ts';
import { seq2seqLoss } from './testing/seq2seq.ts';
import { buildVjp, gradientName } from './vjp.ts';

describe('composite graphs against finite differences (float64)', () => {
  it('a BART-like attention block: masks, softmax, decomposed LayerNorm, an integer path, an unreachable input', () => {
    const block = attentionBlock(randomSource(7));
    const model = modelOf(block);
    const check = checkGradients(model, block.inputs, ['x', 'memory', 'picked', 'stray'], 3);
    console.log(`attention block: relative errors ${JSON.stringify(check.errors)}`);
    expect(check.errors.x).toBeLessThan(1e-6);
    expect(check.errors.memory).toBeLessThan(1e-6);
    // The integer path (ArgMax → Gather) and the input that reaches nothing: zeros, as finite differences say.
    expect(Array.from(check.analytic[gradientName('picked')].data).every((v) => v === 0)).toBe(true);
    expect(Array.from(check.analytic[gradientName('stray')].data).every((v) => v === 0)).toBe(true);
    // Only what the gradients need: no gradient node for the weights, the mask path left alone.
    const backward = check.vjp.graph.nodes.filter((n) => n.name.startsWith('vjp/'));
    expect(backward.some((n) => n.inputs.includes('mask') || n.inputs.includes('mask_f'))).toBe(false);
    expect(check.vjp.graph.outputs.map((o) => o.name)).toEqual(['test_loss', 'grad_x', 'grad_memory', 'grad_picked', 'grad_stray']);
  });

  it('a value read by three nodes gets the sum of their contributions', () => {
    const random = randomSource(11);
    const inputs = { a: uniform(random, [2, 3], 0.5, 1.5) };
    const model = modelOf({
      nodes: [node('Exp', ['a'], ['e']), node('Mul', ['a', 'e'], ['m']), node('Log', ['a'], ['l']), node('Sum', ['e', 'm', 'l'], ['y'])],
      inputs, outputs: ['y'],
    });
    const check = checkGradients(model, inputs, ['a']);
    expect(check.worst).toBeLessThan(1e-6);
    const sums = check.vjp.graph.nodes.filter((n) => n.name.startsWith('vjp/') && n.opType === 'Add');
    expect(sums.length).toBeGreaterThanOrEqual(2); // a's three contributions (and e's two)
  });

  it('the keep outputs follow the gradients, and the loss may be a wrt input itself', () => {
    const random = randomSource(5);
    const inputs = { a: uniform(random, [3]), s: uniform(random, []) };
    const model = modelOf({ nodes: [node('Mul', ['a', 's'], ['m']), node('ReduceSum', ['m'], ['y'], { keepdims: 0 })], inputs, outputs: ['y'] });
    const values = staticValues(model, inputs);
    const vjp = buildVjp(model, values, { loss: 'y', wrt: ['a'], keep: ['m'] });
    expect(vjp.graph.outputs.map((o) => o.name)).toEqual(['y', 'grad_a', 'm']);
    const out = evaluate(vjp.graph, inputs, { opset: 18 });
    expect(Array.from(out.grad_a.data)).toEqual([0, 1, 2].map(() => inputs.s.data[0]));
    const self = evaluate(buildVjp(model, values, { loss: 's', wrt: ['s'] }).graph, inputs, { opset: 18 });
    expect(Array.from(self.grad_s.data)).toEqual([1]);
  });
});

describe('the cross-entropy loss (loss.ts)', () => {
  const random = randomSource(19);
  const [B, N, V] = [2, 4, 7];
  const logits = uniform(random, [B, N, V], -3, 3);
  const labelValues = [3, 0, -100, 6, 5, -100, -100, 1];
  /** logits → linear → loss, so that the logits are a computed value (as the decoder's). */
  function withLoss(labelType: 'int64' | 'int32') {
    const inputs = { z: logits, labels: tensor(labelType, [B, N], labelValues) };
    const model = modelOf({ nodes: [node('Mul', ['z', 'c'], ['logits'])], inputs, constants: { c: tensor('float64', [], [1.5]) }, outputs: ['logits'] });
    const appended = appendCrossEntropy(model, staticValues(model, inputs), { logits: 'logits', labels: 'labels' });
    return { inputs, ...appended };
  }

  it.each(['int64', 'int32'] as const)('%s labels: the mean token cross-entropy over labels ≠ −100 and its gradient', (labelType) => {
    const { inputs, model, values, loss, detach } = withLoss(labelType);
    // The loss by hand.
    let total = 0;
    let count = 0;
    for (let t = 0; t < B * N; t++) {
      if (labelValues[t] === -100) continue;
      const row = Array.from(logits.data.slice(t * V, (t + 1) * V), (v) => 1.5 * v);
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
      total += lse - row[labelValues[t]];
      count++;
    }
    const forward = evaluate(model.graph, inputs, { outputs: [loss], opset: 18 })[loss].data[0];
    expect(Math.abs(forward - total / count)).toBeLessThan(1e-12);
    const vjp = buildVjp(model, values, { loss, wrt: ['z'], detach });
    const analytic = evaluate(vjp.graph, inputs, { opset: 18 })[gradientName('z')];
    const numeric = finiteDifferences(model, inputs, loss, ['z']).z;
    expect(relativeError(analytic.data, numeric)).toBeLessThan(1e-6);
    // The detached max: no gradient node reads it.
    expect(vjp.graph.nodes.filter((n) => n.name.startsWith('vjp/')).some((n) => n.inputs.some((i) => detach.includes(i)))).toBe(false);
  });
});

// ---- onnxruntime-web (WebGPU provider, float32) ---------------------------------------------------

/** Runs a model in ORT on float32/int64 feeds; returns the named outputs as float64 arrays. */
async function runInOrt(model: OnnxModel | Uint8Array, feeds: Record<string, Tensor64>, outputs: string[]): Promise<Record<string, Float64Array>> {
  const bytes = model instanceof Uint8Array ? model : encodeOnnxModel(model);
  const session = await createSession(bytes, 'vjp test graph', { inputs: Object.keys(feeds), outputs });
  try {
    const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, t.dataType === 'int64'
      ? hostTensor('int64', BigInt64Array.from(t.data, (v) => BigInt(v)), t.dims)
      : hostTensor('float32', Float32Array.from(t.data), t.dims)]));
    const result = await session.run(ortFeeds);
    return Object.fromEntries(outputs.map((name) => [name, Float64Array.from(result[name].data as Float32Array)]));
  } finally {
    await session.release();
  }
}

/** max |a − b| / max |b|. */
function relativeTo(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return relativeError(a, b, 1e-30);
}

describe('vjp graphs in onnxruntime-web (WebGPU, float32)', () => {
  beforeAll(() => installNodeWebGpu());

  it('the attention block: ORT float32 gradients equal the float64 ones to 1e-5', async () => {
    const block = attentionBlock(randomSource(7), undefined, 'float32');
    const model = modelOf(block);
    const withLoss = withLinearLoss(model, staticValues(model, block.inputs), randomSource(3));
    const vjp = buildVjp(withLoss, staticValues(withLoss, block.inputs), { loss: 'test_loss', wrt: ['x', 'memory'] });
    const feeds = Object.fromEntries(Object.entries(block.inputs).filter(([name]) => vjp.graph.inputs.some((i) => i.name === name)));
    const names = ['test_loss', 'grad_x', 'grad_memory'];
    const reference = evaluate(vjp.graph, feeds, { opset: 18 });
    const got = await runInOrt(vjp, feeds, names);
    const errors = Object.fromEntries(names.map((n) => [n, relativeTo(got[n], reference[n].data)]));
    console.log(`attention block in ORT: relative errors ${JSON.stringify(errors)}`);
    for (const n of names) expect(errors[n]).toBeLessThan(1e-5);
  });

  describe('tiny-florence-test: the vjp derived from the forward graphs against the one PyTorch exported', () => {
    const dir = 'public/models/tiny-florence-test';
    const read = (file: string) => readOnnxModel(new Uint8Array(readFileSync(`${dir}/${file}`)));
    const shape = { batch: 2, imageTokens: 17, promptTokens: 5, targetTokens: 8, width: 32 };
    const vocabulary = 340;

    function florenceFeeds(): Record<string, Tensor64> {
      const random = randomSource(23);
      const { batch: B, imageTokens: Ni, promptTokens: Nt, targetTokens: Nd, width: d } = shape;
      const f32 = (dims: number[]) => {
        const t = uniform(random, dims, -1, 1, 'float32');
        t.data.forEach((v, i) => { t.data[i] = Math.fround(v); });
        return t;
      };
      const promptLength = [Nt, 3];
      const targetLength = [Nd, 5];
      const token = () => 4 + Math.floor(random() * (vocabulary - 4));
      const ids = (n: number) => Array.from({ length: B * n }, token);
      const targets = ids(Nd);
      return {
        image_embeds: f32([B, Ni, d]),
        text_embeds: f32([B, Nt, d]),
        text_mask: tensor('int64', [B, Nt], Array.from({ length: B * Nt }, (_, i) => (i % Nt < promptLength[Math.floor(i / Nt)] ? 1 : 0))),
        decoder_input_ids: tensor('int64', [B, Nd], Array.from({ length: B * Nd }, (_, i) => (i % Nd === 0 ? 2 : i % Nd < targetLength[Math.floor(i / Nd)] ? targets[i - 1] : 1))),
        labels: tensor('int64', [B, Nd], targets.map((t, i) => (i % Nd < targetLength[Math.floor(i / Nd)] ? t : -100))),
      };
    }

    it('loss and gradients agree (ORT against ORT, and against the float64 evaluator)', async () => {
      const { model, values, loss, detach } = seq2seqLoss(read('encoder.onnx'), read('decoder_init.onnx'), shape);
      const vjp = buildVjp(model, values, { loss, wrt: ['image_embeds', 'text_embeds'], detach });
      const backwardOps = new Set(vjp.graph.nodes.filter((n) => n.name.startsWith('vjp/')).map((n) => n.opType));
      console.log(`derived vjp: ${vjp.graph.nodes.length} nodes (${vjp.graph.nodes.filter((n) => n.name.startsWith('vjp/')).length} backward: ${[...backwardOps].sort().join(' ')})`);
      const feeds = florenceFeeds();
      const names = ['loss', 'grad_image_embeds', 'grad_text_embeds'];
      const derived = await runInOrt(vjp, feeds, names);
      const exported = await runInOrt(new Uint8Array(readFileSync(`${dir}/vjp.onnx`)), feeds, names);
      const reference = evaluate(vjp.graph, feeds, { opset: 18 });
      const vsExported = Object.fromEntries(names.map((n) => [n, relativeTo(derived[n], exported[n])]));
      const vsFloat64 = Object.fromEntries(names.map((n) => [n, relativeTo(derived[n], reference[n].data)]));
      const exportedVsFloat64 = Object.fromEntries(names.map((n) => [n, relativeTo(exported[n], reference[n].data)]));
      console.log(`tiny-florence vjp, relative errors: derived vs PyTorch's export ${JSON.stringify(vsExported)}; derived vs float64 ${JSON.stringify(vsFloat64)}; PyTorch's export vs float64 ${JSON.stringify(exportedVsFloat64)}`);
      for (const n of names) {
        expect(vsFloat64[n]).toBeLessThan(1e-5);
        expect(vsExported[n]).toBeLessThan(1e-5);
      }
      // Padded prompt tokens are masked out of attention: their gradient is zero, as in PyTorch's.
      const { promptTokens: Nt, width: d } = shape;
      for (let t = 3; t < Nt; t++) for (let k = 0; k < d; k++) expect(derived.grad_text_embeds[(Nt + t) * d + k]).toBe(0);
    });
  });
});
