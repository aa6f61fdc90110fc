/**
 * The graphs composed from the Hub's transformers.js files (e2e/fixtures/hub/tiny-florence-test: plain torch
 * export, tools/make_tiny_hub_florence.py) against the package exported from Transformers on the GPU machine
 * (public/models/tiny-florence-test, same weights) and against PyTorch autograd in float64
 * (testing/florence-vjp-reference.json): the generation graphs and the derived vjp in onnxruntime-web
 * (WebGPU, float32), the vjp in the float64 evaluator, the tied embedding kept once, the retyping to the
 * GPU-input form and its refusal, and the float16 boundary.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { installNodeWebGpu } from '../cli/nodeGpu.ts';
import { createSession, gpuTensor, hostTensor, ortDevice, type OrtTensor } from '../engine/onnxRuntime.ts';
import { encodeOnnxModel, readOnnxModel } from '../formats/onnx.ts';
import type { OnnxModel } from '../formats/onnxModel.ts';
import { evaluate } from './evaluate.ts';
import { halfFromNumber, numberFromHalf } from './ops/convert.ts';
import { decoderInitGraph, embeddingTableGraph, encoderGraph, float32Boundary, LAST_LOGITS, trainingVjp, type HubSeq2SeqGraphs } from './seq2seqTraining.ts';
import { randomSource, relativeError, tensor } from './testing/finiteDifferences.ts';
import type { Tensor64 } from './values.ts';

const HUB = 'e2e/fixtures/hub/tiny-florence-test/onnx';
const PACKAGE = 'public/models/tiny-florence-test';
const read = (path: string) => readOnnxModel(new Uint8Array(readFileSync(path)));
const hubGraphs = (): HubSeq2SeqGraphs => ({
  embedTokens: read(`${HUB}/embed_tokens.onnx`), encoder: read(`${HUB}/encoder_model.onnx`), decoder: read(`${HUB}/decoder_model.onnx`),
});
const reference: {
  shape: { B: number; Ni: number; Nt: number; Nd: number; d: number };
  inputs: Record<'image_embeds' | 'text_embeds' | 'text_mask' | 'decoder_input_ids' | 'labels', number[]>;
  float64: Record<'loss' | 'grad_image_embeds' | 'grad_text_embeds', number | number[]>;
} = JSON.parse(readFileSync('src/autodiff/testing/florence-vjp-reference.json', 'utf8'));
const { B, Ni, Nt, Nd, d } = reference.shape;
const V = 340;
const GRADS = ['loss', 'grad_image_embeds', 'grad_text_embeds'] as const;

/** max |a − b| / max |b|. */
const relative = (a: ArrayLike<number>, b: ArrayLike<number>) => relativeError(a, b, 1e-30);
const expected = (name: (typeof GRADS)[number]) => [reference.float64[name]].flat() as number[];

describe('the derived vjp in float64 (the reference evaluator)', () => {
  it('equals PyTorch autograd (float64) in the GPU-input form and the int64 form', () => {
    for (const form of ['gpu', 'int64'] as const) {
      const vjp = trainingVjp(hubGraphs(), { batch: B, imageTokens: Ni, promptTokens: Nt, targetTokens: Nd }, form);
      expect(vjp.form).toBe(form);
      const [mask, ids] = form === 'gpu' ? ['float32', 'int32'] as const : ['int64', 'int64'] as const;
      expect(vjp.model.graph.inputs.map((i) => `${i.name}:${i.dataType}`)).toEqual(
        ['image_embeds:float32', 'text_embeds:float32', `text_mask:${mask}`, `decoder_input_ids:${ids}`, `labels:${ids}`]);
      expect(vjp.model.graph.outputs.map((o) => o.name)).toEqual([...GRADS]);
      const feeds: Record<string, Tensor64> = {
        image_embeds: tensor('float32', [B, Ni, d], reference.inputs.image_embeds),
        text_embeds: tensor('float32', [B, Nt, d], reference.inputs.text_embeds),
        text_mask: tensor(mask, [B, Nt], reference.inputs.text_mask),
        decoder_input_ids: tensor(ids, [B, Nd], reference.inputs.decoder_input_ids),
        labels: tensor(ids, [B, Nd], reference.inputs.labels),
      };
      const out = evaluate(vjp.model.graph, feeds, { opset: 14 });
      const errors = Object.fromEntries(GRADS.map((n) => [n, relative(out[n].data, expected(n))]));
      console.log(`derived vjp (${form}) in float64 vs PyTorch float64: ${JSON.stringify(errors)}`);
      for (const n of GRADS) expect(errors[n]).toBeLessThan(1e-7);
    }
  });

  it('keeps the tied embedding once: the lookup reads the lm_head matrix', () => {
    const vjp = trainingVjp(hubGraphs(), { batch: 1, imageTokens: Ni, promptTokens: 2, targetTokens: 2 });
    const tables = vjp.model.graph.initializers.filter((t) => t.dims.reduce((a, b) => a * b, 1) === V * d);
    expect(tables.map((t) => t.dims)).toEqual([[d, V]]);
    const lookup = vjp.model.graph.nodes.find((n) => n.opType === 'Gather' && n.inputs[1] === 'decoder_input_ids');
    expect(lookup?.inputs[0]).toBe(tables[0].name);
    for (const graph of [decoderInitGraph(hubGraphs())]) {
      expect(graph.graph.initializers.filter((t) => t.dims.reduce((a, b) => a * b, 1) === V * d)).toHaveLength(1);
    }
  });

  it('gives the int64 form, saying why, when a mask meets an op that only takes int64', () => {
    const graphs = hubGraphs();
    // decoder_model with its encoder mask divided by an int64 1 first: Div takes no float mask.
    const g = graphs.decoder.graph;
    const divided = 'encoder_attention_mask/divided';
    const nodes = g.nodes.map((n) => ({ ...n, inputs: n.inputs.map((i) => (i === 'encoder_attention_mask' ? divided : i)) }));
    nodes.unshift({ opType: 'Div', domain: '', name: 'test/Div', inputs: ['encoder_attention_mask', 'test/one'], outputs: [divided], attributes: {} });
    const decoder: OnnxModel = { ...graphs.decoder, graph: { ...g, nodes, initializers: [...g.initializers, { name: 'test/one', dataType: 'int64', dims: [], values: new BigInt64Array([1n]) }] } };
    const vjp = trainingVjp({ ...graphs, decoder }, { batch: 1, imageTokens: Ni, promptTokens: 2, targetTokens: 2 });
    expect(vjp.form).toBe('int64');
    expect(vjp.reason).toMatch(/^Div \(node "decoder\/test\/Div"\) reads .* as int64/);
    expect(vjp.model.graph.inputs.map((i) => i.dataType)).toEqual(['float32', 'float32', 'int64', 'int64', 'int64']);
  });
});

describe('float32 at the boundary of a float16 graph', () => {
  it('embed_tokens with its table in float16: the float32 table it gives is the float16 values', () => {
    const embed = hubGraphs().embedTokens;
    const half = (x: number) => halfFromNumber(x);
    const nodes = embed.graph.nodes.map((n) => {
      const value = n.attributes.value;
      if (n.opType !== 'Constant' || value?.type !== 'tensor') return n;
      const t = value.value;
      return { ...n, attributes: { value: { type: 'tensor' as const, value: { ...t, dataType: 'float16' as const, values: Uint16Array.from(t.values as Float32Array, half) } } } };
    });
    const fp16: OnnxModel = { ...embed, graph: { ...embed.graph, nodes, outputs: embed.graph.outputs.map((o) => ({ ...o, dataType: 'float16' as const })) } };
    for (const model of [float32Boundary(fp16), embeddingTableGraph({ embedTokens: fp16 })]) {
      expect(model.graph.outputs.map((o) => `${o.name}:${o.dataType}`)).toEqual(['inputs_embeds:float32']);
      const ids = tensor('int64', [1, 3], [0, 7, V - 1]);
      const got = evaluate(model.graph, { input_ids: ids }, { opset: 14 }).inputs_embeds;
      const table = embed.graph.nodes.find((n) => n.opType === 'Constant' && n.attributes.value?.type === 'tensor' && n.attributes.value.value.dims.length === 2)!;
      const values = (table.attributes.value as { value: { values: Float32Array } }).value.values;
      expect(got.dataType).toBe('float32');
      expect(Array.from(got.data)).toEqual([0, 7, V - 1].flatMap((id) => Array.from(values.subarray(id * d, (id + 1) * d), (v) => numberFromHalf(half(v)))));
    }
  });
});

// ---- onnxruntime-web (WebGPU, float32) --------------------------------------------------------------

/** Runs a model in ORT; returns every named output as float64 numbers. */
async function runInOrt(model: OnnxModel | Uint8Array, feeds: () => Promise<Record<string, OrtTensor>>, outputs: string[]): Promise<Record<string, Float64Array>> {
  const session = await createSession(model instanceof Uint8Array ? model : encodeOnnxModel(model), 'test graph', { inputs: [], outputs });
  try {
    const result = await session.run(await feeds(), outputs);
    return Object.fromEntries(await Promise.all(outputs.map(async (n) => [n, Float64Array.from(await result[n].getData() as Float32Array)])));
  } finally {
    await session.release();
  }
}

/**
 * An int32 tensor on ORT's device (hostTensor makes float32 and int64 ones only), its buffer padded to 16 bytes:
 * ORT's kernels read vec4s, and a last vec4 past the buffer's end reads other elements (WebGPU's robust access).
 */
async function int32Tensor(values: readonly number[], dims: number[]): Promise<OrtTensor> {
  const device = await ortDevice();
  const buffer = device.createBuffer({ size: Math.ceil(Math.max(1, values.length) / 4) * 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(buffer, 0, Int32Array.from(values));
  return gpuTensor(buffer, dims, 'int32', () => buffer.destroy());
}

const f32 = (values: readonly number[], dims: number[]) => hostTensor('float32', Float32Array.from(values), dims);
const i64 = (values: readonly number[], dims: number[]) => hostTensor('int64', BigInt64Array.from(values, (v) => BigInt(v)), dims);

describe('in onnxruntime-web (WebGPU, float32)', () => {
  beforeAll(() => installNodeWebGpu());

  it('the composed encoder and decoder_init equal the package\'s encoder.onnx and decoder_init.onnx', async () => {
    const random = randomSource(31);
    const uniform = (n: number) => Array.from({ length: n }, () => random() * 2 - 1);
    const [Bg, Ntg, T] = [2, 5, 4];
    const S = Ni + Ntg;
    const image = uniform(Bg * Ni * d);
    const text = uniform(Bg * Ntg * d);
    const textMask = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0];
    const encoderFeeds = async () => ({ image_embeds: f32(image, [Bg, Ni, d]), text_embeds: f32(text, [Bg, Ntg, d]), text_mask: i64(textMask, [Bg, Ntg]) });
    const composedEncoder = await runInOrt(encoderGraph(hubGraphs()), encoderFeeds, ['encoder_hidden']);
    const packageEncoder = await runInOrt(new Uint8Array(readFileSync(`${PACKAGE}/encoder.onnx`)), encoderFeeds, ['encoder_hidden']);
    const encoderError = relative(composedEncoder.encoder_hidden, packageEncoder.encoder_hidden);

    const hidden = Array.from(packageEncoder.encoder_hidden);
    const encoderMask = [...Array(Ni).fill(1), ...textMask.slice(0, Ntg), ...Array(Ni).fill(1), ...textMask.slice(Ntg)];
    const ids = [2, 0, 57, 123, 2, 0, 9, 1];
    const decoderFeeds = async () => ({ decoder_input_ids: i64(ids, [Bg, T]), encoder_hidden: f32(hidden, [Bg, S, d]), encoder_mask: i64(encoderMask, [Bg, S]) });
    const outputs = ['logits', 'self_keys', 'self_values', 'cross_keys', 'cross_values'];
    const composed = await runInOrt(decoderInitGraph(hubGraphs()), decoderFeeds, [...outputs, LAST_LOGITS]);
    const exported = await runInOrt(new Uint8Array(readFileSync(`${PACKAGE}/decoder_init.onnx`)), decoderFeeds, outputs);
    const errors = { encoder_hidden: encoderError, ...Object.fromEntries(outputs.map((n) => [n, relative(composed[n], exported[n])])) };
    console.log(`composed vs package graphs, relative errors: ${JSON.stringify(errors)}`);
    for (const e of Object.values(errors)) expect(e).toBeLessThan(1e-5);
    expect(composed.self_keys.length).toBe(exported.self_keys.length);
    // last_logits: the newest position's logits of each row.
    const last = Array.from({ length: Bg * V }, (_, i) => composed.logits[(Math.floor(i / V) * T + T - 1) * V + (i % V)]);
    expect(Array.from(composed[LAST_LOGITS])).toEqual(last);
  });

  it('the derived vjp (GPU-input form) equals PyTorch autograd (float64) and the package\'s vjp.onnx', async () => {
    const vjp = trainingVjp(hubGraphs(), { batch: B, imageTokens: Ni, promptTokens: Nt, targetTokens: Nd });
    expect(vjp.form).toBe('gpu');
    const { inputs } = reference;
    const derived = await runInOrt(vjp.model, async () => ({
      image_embeds: f32(inputs.image_embeds, [B, Ni, d]), text_embeds: f32(inputs.text_embeds, [B, Nt, d]), text_mask: f32(inputs.text_mask, [B, Nt]),
      decoder_input_ids: await int32Tensor(inputs.decoder_input_ids, [B, Nd]), labels: await int32Tensor(inputs.labels, [B, Nd]),
    }), [...GRADS]);
    const exported = await runInOrt(new Uint8Array(readFileSync(`${PACKAGE}/vjp.onnx`)), async () => ({
      image_embeds: f32(inputs.image_embeds, [B, Ni, d]), text_embeds: f32(inputs.text_embeds, [B, Nt, d]), text_mask: i64(inputs.text_mask, [B, Nt]),
      decoder_input_ids: i64(inputs.decoder_input_ids, [B, Nd]), labels: i64(inputs.labels, [B, Nd]),
    }), [...GRADS]);
    const vsPyTorch = Object.fromEntries(GRADS.map((n) => [n, relative(derived[n], expected(n))]));
    const vsPackage = Object.fromEntries(GRADS.map((n) => [n, relative(derived[n], exported[n])]));
    console.log(`derived vjp in ORT, relative errors: vs PyTorch float64 ${JSON.stringify(vsPyTorch)}; vs the package's vjp.onnx ${JSON.stringify(vsPackage)}`);
    for (const n of GRADS) {
      expect(vsPyTorch[n]).toBeLessThan(1e-5);
      expect(vsPackage[n]).toBeLessThan(1e-5);
    }
    // The padded prompt positions (example 1, tokens 4 and 5) are masked out: their gradient is exactly zero.
    for (let t = 4; t < Nt; t++) for (let k = 0; k < d; k++) expect(derived.grad_text_embeds[(Nt + t) * d + k]).toBe(0);
  });
});
