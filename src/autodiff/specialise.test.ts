/**
 * specialise on a BART-like attention block written as torch.onnx exports it, and on every ONNX graph the
 * repo commits (public/models/*, exported by torch.onnx): after it no shape arithmetic is left (no Shape,
 * Range, ConstantOfShape, If, Constant), every value has a static shape, and the specialised graph gives the
 * original's outputs — under the reference evaluator and under onnxruntime-web, for the same feeds.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PackageError } from '../errors.ts';
import { readOnnxModel } from '../formats/onnx.ts';
import { SHARED_WEIGHTS_FILE } from '../formats/sharedWeights.ts';
import type { OnnxGraph, OnnxModel, OnnxNode, OnnxTensor } from '../formats/onnxModel.ts';
import { evaluate, isKnownOp } from './evaluate.ts';
import { specialise } from './specialise.ts';
import { bartBlockModel, D } from './testing/bartBlock.ts';
import { expectClose, floats, ints, runOrt, seeded, t64, type Tolerance } from './testing/ortReference.ts';
import type { Tensor64, ValueTable } from './values.ts';

/** Ops that only compute shapes or pick branches: none may be left once the shapes are fixed. */
const SHAPE_OPS = ['Shape', 'Size', 'Range', 'ConstantOfShape', 'If', 'Constant'];

const TRUE: OnnxTensor = { name: 'use_residual', dataType: 'bool', dims: [], values: Uint8Array.of(1) };
const FALSE: OnnxTensor = { ...TRUE, values: Uint8Array.of(0) };

/** A padding mask: row r has its last r positions padded (0). */
function paddingMask(batch: number, seq: number, dataType: Tensor64['dataType'] = 'int64'): Tensor64 {
  return t64(dataType, [batch, seq], Array.from({ length: batch * seq }, (_, i) => (i % seq < seq - Math.floor(i / seq) ? 1 : 0)));
}

/** Every value of a graph (and of its branches) is in the table with a static shape, and value_info says the same. */
function expectAllStatic(graph: OnnxGraph, values: ValueTable): void {
  const isStatic = (name: string) => {
    const v = values.get(name);
    expect(v, `value "${name}" in the table`).toBeDefined();
    expect(v!.shape.every((d) => Number.isInteger(d) && d >= 0), `value "${name}" static`).toBe(true);
  };
  for (const info of [...graph.inputs, ...graph.outputs, ...graph.valueInfo]) {
    isStatic(info.name);
    expect(info.shape, `declared shape of "${info.name}"`).toEqual(values.get(info.name)!.shape);
  }
  const declared = new Set([...graph.outputs, ...graph.valueInfo].map((i) => i.name));
  for (const node of graph.nodes) {
    for (const name of [...node.inputs, ...node.outputs]) if (name !== '') isStatic(name);
    for (const o of node.outputs) if (o !== '') expect(declared.has(o), `value_info for "${o}"`).toBe(true);
    for (const a of Object.values(node.attributes)) if (a.type === 'graph') expectAllStatic(a.value, values);
  }
}

function opsOf(graph: OnnxGraph): string[] {
  return graph.nodes.flatMap((n) => [n.opType, ...Object.values(n.attributes).flatMap((a) => (a.type === 'graph' ? opsOf(a.value) : []))]);
}

function expectSameOutputs(got: Record<string, Tensor64>, expected: Record<string, Tensor64>, tolerance: Tolerance, what: string): void {
  expect(Object.keys(got).sort()).toEqual(Object.keys(expected).sort());
  for (const name of Object.keys(expected)) expectClose(got[name], expected[name], tolerance, `${what} "${name}": `);
}

/** Feeds without the inputs specialise removed (constants, unused). */
function feedsFor(model: OnnxModel, feeds: Record<string, Tensor64>): Record<string, Tensor64> {
  return Object.fromEntries(model.graph.inputs.map((i) => [i.name, feeds[i.name]]));
}

// float64 both sides; the specialised graph's folded float constants were stored as float32.
const EVALUATOR: Tolerance = { absolute: 1e-6, relative: 1e-6 };
// ORT on the original and the specialised graph: float32, different fusions once shapes are static.
const ORT: Tolerance = { absolute: 1e-4, relative: 1e-4 };

describe('specialise a BART-like attention block', () => {
  it.each([[2, 5], [1, 70]])('batch %i, sequence %i: shape arithmetic folded, every value static, same outputs', async (batch, seq) => {
    const model = bartBlockModel();
    const { model: specialised, values } = specialise(model, { shapes: { hidden: [batch, seq, D], attention_mask: [batch, seq] }, constants: { use_residual: TRUE } });
    const ops = opsOf(specialised.graph);
    for (const op of [...SHAPE_OPS, 'Gather', 'Concat', 'Slice']) expect(ops, `no ${op} left`).not.toContain(op);
    // 70 × 70 float causal mask is too big to fold: its ConstantOfShape becomes an Expand of the one value.
    if (seq === 70) expect(ops.filter((op) => op === 'Expand').length).toBe(3);
    expect(specialised.graph.inputs.map((i) => i.name)).toEqual(['hidden', 'attention_mask']);
    expectAllStatic(specialised.graph, values);
    expect(values.get('probs')).toEqual({ dataType: 'float32', shape: [batch, 2, seq, seq] });

    const random = seeded(batch * 100 + seq);
    const feeds = { hidden: floats(random, [batch, seq, D]), attention_mask: paddingMask(batch, seq), use_residual: t64('bool', [], [1]) };
    const before = evaluate(model.graph, feeds);
    expectSameOutputs(evaluate(specialised.graph, feedsFor(specialised, feeds)), before, EVALUATOR, 'evaluator');
    const ortBefore = await runOrt(model, feeds);
    expectSameOutputs(ortBefore, before, ORT, 'ORT against the evaluator');
    expectSameOutputs(await runOrt(specialised, feedsFor(specialised, feeds)), ortBefore, ORT, 'ORT');
  });

  it('inlines the else branch when the condition is false, also when its output is an outer value', async () => {
    const model = bartBlockModel();
    // ONNX allows a branch to return an outer value directly (ORT does not: it wants an Identity, as `model` has).
    const direct = bartBlockModel();
    const ifNode = direct.graph.nodes.find((n) => n.opType === 'If')!;
    ifNode.attributes.else_branch = { type: 'graph', value: { name: 'else', nodes: [], initializers: [], inputs: [], outputs: [{ name: 'attended', dataType: 'float32' }], valueInfo: [] } };
    const feeds = { hidden: floats(seeded(5), [2, 4, D]), attention_mask: paddingMask(2, 4), use_residual: t64('bool', [], [0]) };
    const ortBefore = await runOrt(model, feeds);
    for (const original of [model, direct]) {
      const { model: specialised, values } = specialise(original, { shapes: { hidden: [2, 4, D], attention_mask: [2, 4] }, constants: { use_residual: FALSE } });
      expect(opsOf(specialised.graph)).not.toContain('If');
      expectAllStatic(specialised.graph, values);
      expectSameOutputs(evaluate(specialised.graph, feedsFor(specialised, feeds)), evaluate(original.graph, feeds), EVALUATOR, 'evaluator');
      expectSameOutputs(await runOrt(specialised, feedsFor(specialised, feeds)), ortBefore, ORT, 'ORT');
    }
  });

  it('keeps a graph output that folds to a constant, also when nodes read it', async () => {
    const model = bartBlockModel();
    // The [batch, 1, t, t] mask shape, read by the two Expands, is an output too.
    model.graph.outputs.push({ name: 'mask_shape', dataType: 'int64', shape: [4] });
    const { model: specialised, values } = specialise(model, { shapes: { hidden: [2, 3, D], attention_mask: [2, 3] }, constants: { use_residual: TRUE } });
    expectAllStatic(specialised.graph, values);
    const feeds = { hidden: floats(seeded(9), [2, 3, D]), attention_mask: paddingMask(2, 3), use_residual: t64('bool', [], [1]) };
    const after = evaluate(specialised.graph, feedsFor(specialised, feeds));
    expect(Array.from(after.mask_shape.data)).toEqual([2, 1, 3, 3]);
    expectSameOutputs(after, evaluate(model.graph, feeds), EVALUATOR, 'evaluator');
    expectSameOutputs(await runOrt(specialised, feedsFor(specialised, feeds)), await runOrt(model, feeds), ORT, 'ORT');
  });

  it('keeps an If on data, both branches specialised with static shapes', async () => {
    const model = bartBlockModel();
    // The condition from data: more than 6 unpadded positions in the batch.
    model.graph.nodes.splice(model.graph.nodes.length - 2, 0,
      node('ReduceSum', ['attention_mask'], ['mask_count'], { keepdims: { type: 'int', value: 0 } }),
      node('Greater', ['mask_count', 'six'], ['data_condition']));
    model.graph.initializers.push({ name: 'six', dataType: 'int64', dims: [], values: BigInt64Array.of(6n) });
    const ifNode = model.graph.nodes.find((n) => n.opType === 'If')!;
    ifNode.inputs = ['data_condition'];
    model.graph.inputs = model.graph.inputs.filter((i) => i.name !== 'use_residual');
    const { model: specialised, values } = specialise(model, { shapes: { hidden: [2, 4, D], attention_mask: [2, 4] } });
    expect(opsOf(specialised.graph).filter((op) => op === 'If')).toHaveLength(1);
    expectAllStatic(specialised.graph, values);
    for (const mask of [paddingMask(2, 4), t64('int64', [2, 4], [1, 1, 1, 1, 1, 1, 0, 0])]) {
      const feeds = { hidden: floats(seeded(7), [2, 4, D]), attention_mask: mask };
      expectSameOutputs(evaluate(specialised.graph, feeds), evaluate(model.graph, feeds), EVALUATOR, 'evaluator');
      expectSameOutputs(await runOrt(specialised, feeds), await runOrt(model, feeds), ORT, 'ORT');
    }
  });

  describe('refuses', () => {
    const shapes = { hidden: [2, 5, D], attention_mask: [2, 5] };
    const constants = { use_residual: TRUE };
    const refusal = (options: Parameters<typeof specialise>[1], model = bartBlockModel()): PackageError => {
      try {
        specialise(model, options);
      } catch (e) {
        expect(e).toBeInstanceOf(PackageError);
        return e as PackageError;
      }
      throw new Error('specialise did not refuse');
    };

    it('a shape that contradicts a fixed dim', () => {
      expect(refusal({ shapes: { ...shapes, hidden: [2, 5, D + 1] }, constants }).problem).toMatch(/fixed dim 2 \(8\)/);
    });
    it('a dim name given two values by two inputs', () => {
      expect(refusal({ shapes: { ...shapes, attention_mask: [3, 5] }, constants }).problem).toMatch(/"batch_size" is 3 here but 2/);
    });
    it('a shape of the wrong rank', () => {
      expect(refusal({ shapes: { ...shapes, attention_mask: [2, 5, 1] }, constants }).problem).toMatch(/rank 3/);
    });
    it('an input without a shape', () => {
      const error = refusal({ shapes: { hidden: shapes.hidden }, constants });
      expect(error.problem).toMatch(/"attention_mask".*no shape given/);
    });
    it('a name that is not an input', () => {
      expect(refusal({ shapes: { ...shapes, hiden: [1] }, constants }).problem).toMatch(/"hiden" is given a shape/);
    });
    it('a shape that depends on data, naming the node', () => {
      const model = bartBlockModel();
      // The heads reshape now takes its batch dim from the mask's values.
      const at = model.graph.nodes.findIndex((n) => n.outputs[0] === 'heads_shape');
      model.graph.nodes.splice(at, 0, node('ReduceMax', ['attention_mask'], ['mask_max'], { keepdims: { type: 'int', value: 0 } }),
        node('Unsqueeze', ['mask_max', 'axes0'], ['mask_max_1']));
      model.graph.nodes[at + 2].inputs[0] = 'mask_max_1';
      const error = refusal({ shapes, constants }, model);
      expect(error.problem).toMatch(/input 1 \("heads_shape"\) decides the output shape but is not a constant/);
      expect(error.where).toContain('Reshape');
    });
    it('an op without a shape rule, naming the op and the node', () => {
      const model = bartBlockModel();
      const softmax = model.graph.nodes.find((n) => n.opType === 'Softmax')!;
      Object.assign(softmax, { opType: 'BiasSoftmax', domain: 'com.microsoft' });
      const error = refusal({ shapes, constants }, model);
      expect(error.problem).toContain('com.microsoft.BiasSoftmax');
      expect(error.where).toContain(softmax.name);
    });
  });
});

function node(opType: string, inputs: string[], outputs: string[], attributes: OnnxNode['attributes'] = {}): OnnxNode {
  return { opType, domain: '', name: `test/${opType}_${outputs[0]}`, inputs, outputs, attributes };
}

// ---------------------------------------------------------------------------------------------------------
// The repo's real graphs

const MODELS = 'public/models';
const FILES = readdirSync(MODELS).flatMap((folder) => readdirSync(`${MODELS}/${folder}`).filter((f) => f.endsWith('.onnx')).map((f) => `${MODELS}/${folder}/${f}`)).sort();

/** The number each symbolic dim of the real graphs is fixed to. */
const DIMS: Record<string, number> = { batch: 2, prompt_len: 5, decoder_len: 4, target_len: 4, encoder_len: 7, past_len: 3 };

/** Feeds for a real graph's inputs, by what their names say they are. */
function realFeeds(model: OnnxModel, vocab: number, seed: number): { shapes: Record<string, number[]>; feeds: Record<string, Tensor64> } {
  const random = seeded(seed);
  const shapes: Record<string, number[]> = {};
  const feeds: Record<string, Tensor64> = {};
  for (const input of model.graph.inputs) {
    const dims = (input.shape ?? []).map((d) => (typeof d === 'number' ? d : DIMS[d as string]));
    if (dims.some((d) => d === undefined)) throw new Error(`no size for a dim of ${input.name}: [${input.shape?.join(', ')}]`);
    shapes[input.name] = dims;
    if (input.name.endsWith('_mask')) feeds[input.name] = paddingMask(dims[0], dims[1], input.dataType);
    else if (input.name.endsWith('_ids') || input.name === 'labels') feeds[input.name] = ints(random, dims, 3, vocab - 1, input.dataType);
    else feeds[input.name] = floats(random, dims, -1, 1, input.dataType);
  }
  return { shapes, feeds };
}

/**
 * The default model's graphs (d_model 256) take SwiftShader 30–70 s per ORT run (its vjp graph about 3 minutes
 * for the pair): their ORT comparison runs when AUTODIFF_ORT_DEFAULT_MODEL=1. specialise itself and the static
 * checks run on every graph.
 */
const ORT_SLOW = (file: string) => file.includes('/pali-scenes-default/') && process.env.AUTODIFF_ORT_DEFAULT_MODEL !== '1';

function readReal(file: string): { model: OnnxModel; shapes: Record<string, number[]>; feeds: Record<string, Tensor64> } {
  const manifest = JSON.parse(readFileSync(`${file.slice(0, file.lastIndexOf('/'))}/manifest.json`, 'utf8')) as { text: { vocab_size: number } };
  // The default package keeps its weights once, in weights.bin beside its graphs (src/formats/sharedWeights.ts).
  const weights = `${file.slice(0, file.lastIndexOf('/'))}/${SHARED_WEIGHTS_FILE}`;
  const shared = existsSync(weights) ? new Uint8Array(readFileSync(weights)) : undefined;
  const model = readOnnxModel(readFileSync(file), { where: file, externalData: (location) => (location === SHARED_WEIGHTS_FILE ? shared : undefined) });
  return { model, ...realFeeds(model, manifest.text.vocab_size, file.length) };
}

describe('specialise the repo\'s torch.onnx graphs', () => {
  const seen = new Set<string>();

  it.each(FILES)('%s: no shape arithmetic left, every value static', (file) => {
    const { model, shapes } = readReal(file);
    for (const op of opsOf(model.graph)) seen.add(op);
    const { model: specialised, values } = specialise(model, { shapes });
    for (const op of SHAPE_OPS) expect(opsOf(specialised.graph), `no ${op} left`).not.toContain(op);
    expectAllStatic(specialised.graph, values);
  });

  it('every op the real graphs use is one the evaluator and the shape rules know', () => {
    const ops = [...seen].sort();
    console.info(`ops in the repo's ONNX graphs: ${ops.join(', ')}`);
    expect(ops.filter((opType) => !isKnownOp({ opType, domain: '', name: '', inputs: [], outputs: [], attributes: {} }))).toEqual([]);
  });

  // The tiny graphs: the specialised graph against the original under the evaluator (float64, both sides), and
  // in ORT against the original's float64 outputs — one ORT session per graph (SwiftShader compiles each
  // session's shaders, 5–15 s). The default model's graphs (float64 loops on them are slow): ORT on both.
  it.for(FILES)('%s: ORT gives the original\'s outputs', async (file, context) => {
    if (ORT_SLOW(file)) context.skip('the default model is slow on SwiftShader: set AUTODIFF_ORT_DEFAULT_MODEL=1');
    const { model, shapes, feeds } = readReal(file);
    const { model: specialised } = specialise(model, { shapes });
    const after = await runOrt(specialised, feedsFor(specialised, feeds));
    if (file.includes('/tiny-')) {
      const before = evaluate(model.graph, feeds);
      expectSameOutputs(evaluate(specialised.graph, feedsFor(specialised, feeds)), before, EVALUATOR, 'evaluator');
      expectSameOutputs(after, before, { absolute: 2e-4, relative: 2e-4 }, 'ORT against the evaluator');
    } else {
      expectSameOutputs(after, await runOrt(model, feeds), ORT, 'ORT');
    }
  });
});
