/**
 * The graphs of a model package (docs/ENGINE.md §1 vjp, §7 encoder and decoder_init) composed from the forward
 * graphs transformers.js publishes on the Hub (onnx-community/Florence-2-base-ft):
 *
 *   embed_tokens   input_ids → inputs_embeds
 *   encoder_model  inputs_embeds, attention_mask → last_hidden_state
 *   decoder_model  inputs_embeds, encoder_hidden_states, encoder_attention_mask → logits, present.{i}.{decoder,encoder}.{key,value}
 *
 * composed as the exporters' training forward (tools/adalink/model.py, seq2seq_loss):
 *
 *   encoder_mask = concat(ones [B, Ni], text_mask)
 *   encoder_hidden = encoder_model(concat(Ẽ_image, Ẽ_text), encoder_mask)
 *   logits = decoder_model(embed_tokens(decoder_input_ids), encoder_hidden, encoder_mask)
 *
 * - `trainingVjp`: that forward for one batch shape (specialise.ts), the loss of loss.ts appended, and buildVjp
 *   with respect to Ẽ_image and Ẽ_text: outputs loss, grad_image_embeds, grad_text_embeds. Preferably in the
 *   vjp's GPU-input form (float32 text_mask, int32 decoder_input_ids and labels; frozenVjp.ts), made by
 *   retyping what those inputs feed (`retype`); a graph that mixes them with int64 values in a way that cannot
 *   be retyped gives the int64 form and the reason.
 * - `encoderGraph`, `decoderInitGraph`: the generation graphs, shapes left dynamic, int64 ids and masks as §7
 *   says; decoder_init's caches are the present.* outputs stacked [L, B, H, T, dh], plus `last_logits` (the
 *   newest position's logits [B, 1, V]) for a decoder without a step graph.
 * - `embeddingTableGraph`: embed_tokens with float32 output, run on every id for the frozen table.
 * - `float32Boundary`: a graph whose float16 inputs and outputs (the fp16 variant) are float32 outside.
 *
 * A weight two parts carry (embed_tokens' table and the decoder's tied lm_head, stored transposed) is kept once
 * in a composed graph: the embedding lookup then reads the lm_head's matrix (Gather on axis 1, Transpose).
 */
import { PackageError, shorten } from '../errors.ts';
import type { OnnxDataType, OnnxDim, OnnxGraph, OnnxModel, OnnxNode, OnnxTensor, OnnxValueInfo } from '../formats/onnxModel.ts';
import { appendCrossEntropy } from './loss.ts';
import { isFloat, onnxTypeName, onnxTypeNumber } from './rules/emitter.ts';
import { specialise } from './specialise.ts';
import type { ValueTable } from './values.ts';
import { buildVjp } from './vjp.ts';
import { retype, RetypeRefused } from './retype.ts';
import { weightsOnce } from './weightsOnce.ts';

/** The three language-model graphs of a transformers.js seq2seq repository (onnx/*.onnx), read. */
export interface HubSeq2SeqGraphs {
  embedTokens: OnnxModel;
  encoder: OnnxModel;
  decoder: OnnxModel;
}

/** One vjp batch shape: B, Ni, Nt, Nd (d comes from the graphs). */
export interface TrainingShape {
  batch: number;
  imageTokens: number;
  promptTokens: number;
  targetTokens: number;
}

export type VjpInputForm = 'gpu' | 'int64';

export interface DerivedVjp {
  model: OnnxModel;
  /** 'gpu': text_mask float32, decoder_input_ids and labels int32 (manifest files.vjp.input_types); else int64. */
  form: VjpInputForm;
  /** Why the GPU-input form could not be made, when it was asked for and form is 'int64'. */
  reason?: string;
}

/** decoder_init's extra output: the newest position's logits [B, 1, V]. */
export const LAST_LOGITS = 'last_logits';

/** The GPU-input form's types (docs/ENGINE.md §9, manifest files.vjp.input_types). */
const GPU_TYPES = { text_mask: 'float32', decoder_input_ids: 'int32' } as const;

// ---- the composed graphs -----------------------------------------------------------------------------

export function trainingVjp(graphs: HubSeq2SeqGraphs, shape: TrainingShape, form: VjpInputForm = 'gpu'): DerivedVjp {
  const c = new Composer(graphs, 'seq2seq training forward');
  const d = c.width();
  const { mask, hidden } = encoderPart(c, graphs);
  const out = decoderPart(c, graphs, { ids: c.input('decoder_input_ids', 'int64', ['batch_size', 'decoder_tokens']), hidden, mask }, { logits: 'logits' });
  c.output(c.asFloat32(out.logits, 'logits'));
  const { batch: B, imageTokens: Ni, promptTokens: Nt, targetTokens: Nd } = shape;
  const forward = specialise(c.model(), {
    shapes: { image_embeds: [B, Ni, d], text_embeds: [B, Nt, d], text_mask: [B, Nt], decoder_input_ids: [B, Nd] },
  });
  let typed = forward;
  let reason: string | undefined;
  if (form === 'gpu') {
    try {
      typed = retype(forward.model, forward.values, GPU_TYPES);
    } catch (e) {
      if (!(e instanceof RetypeRefused)) throw e;
      reason = e.message;
    }
  }
  const gpu = form === 'gpu' && reason === undefined;
  const labelType = gpu ? 'int32' : 'int64';
  const values: ValueTable = new Map(typed.values);
  values.set('labels', { dataType: labelType, shape: [B, Nd] });
  const withLabels: OnnxModel = {
    ...typed.model,
    graph: { ...typed.model.graph, inputs: [...typed.model.graph.inputs, { name: 'labels', dataType: labelType, shape: [B, Nd] }] },
  };
  const withLoss = appendCrossEntropy(withLabels, values, { logits: 'logits', labels: 'labels' });
  // Each weight multiplied by in one orientation, so that the session holds one float32 copy (weightsOnce.ts).
  const { model } = weightsOnce(buildVjp(withLoss.model, withLoss.values, { loss: withLoss.loss, wrt: ['image_embeds', 'text_embeds'], detach: withLoss.detach }));
  return { model: { ...model, graph: { ...model.graph, name: 'adalink vjp (derived)' } }, form: gpu ? 'gpu' : 'int64', reason };
}

/** image_embeds, text_embeds, text_mask (int64) → encoder_hidden [B, Ni + Nt, d]. */
export function encoderGraph(graphs: HubSeq2SeqGraphs): OnnxModel {
  const c = new Composer(graphs, 'encoder (composed)');
  const { hidden } = encoderPart(c, graphs, 'encoder_hidden');
  c.output(c.asFloat32(hidden, 'encoder_hidden'));
  return c.model();
}

/**
 * decoder_input_ids, encoder_hidden, encoder_mask (int64) → logits, self_keys, self_values, cross_keys,
 * cross_values (the present.* outputs stacked [L, B, H, ·, dh]) and last_logits.
 */
export function decoderInitGraph(graphs: HubSeq2SeqGraphs): OnnxModel {
  const c = new Composer(graphs, 'decoder_init (composed)');
  const d = c.width();
  const ids = c.input('decoder_input_ids', 'int64', ['batch_size', 'decoder_tokens']);
  const hidden = c.input('encoder_hidden', 'float32', ['batch_size', 'encoder_tokens', d]);
  const mask = c.input('encoder_mask', 'int64', ['batch_size', 'encoder_tokens']);
  const out = decoderPart(c, graphs, { ids, hidden, mask }, { logits: 'logits' });
  const logits = c.asFloat32(out.logits, 'logits');
  c.output(logits);
  const layers = presentLayers(graphs.decoder);
  for (const [role, kind, part] of [['self_keys', 'decoder', 'key'], ['self_values', 'decoder', 'value'], ['cross_keys', 'encoder', 'key'], ['cross_values', 'encoder', 'value']] as const) {
    const stacked = layers.map((l) => c.unsqueeze0(c.asFloat32(out[`present.${l}.${kind}.${part}`])));
    c.output(c.node('Concat', stacked, { axis: { type: 'int', value: 0 } }, role));
  }
  c.output(c.node('Slice', [logits, c.ints([-1]), c.ints([Number.MAX_SAFE_INTEGER]), c.ints([1])], {}, LAST_LOGITS));
  return c.model();
}

/** embed_tokens with a float32 output `inputs_embeds` (the fp16 variant's is float16). */
export function embeddingTableGraph(graphs: Pick<HubSeq2SeqGraphs, 'embedTokens'>): OnnxModel {
  return float32Boundary(graphs.embedTokens);
}

/** The model with float32 in place of each float16 graph input and output (Casts at the boundary). */
export function float32Boundary(model: OnnxModel): OnnxModel {
  const c = new Composer({ embedTokens: model, encoder: model, decoder: model }, model.graph.name);
  const wires = Object.fromEntries(model.graph.inputs.map((i) => [i.name, c.input(i.name, i.dataType === 'float16' ? 'float32' : i.dataType, i.shape)]));
  const out = c.part(model, 'graph', wires, Object.fromEntries(model.graph.outputs.map((o) => [o.name, o.name])));
  for (const o of model.graph.outputs) c.output(c.asFloat32(out[o.name], o.name));
  return c.model();
}

/** Inputs image_embeds, text_embeds, text_mask; the encoder run on their concatenation. */
function encoderPart(c: Composer, graphs: HubSeq2SeqGraphs, hiddenName?: string): { mask: string; hidden: string } {
  const d = c.width();
  const image = c.input('image_embeds', 'float32', ['batch_size', 'image_tokens', d]);
  const text = c.input('text_embeds', 'float32', ['batch_size', 'prompt_tokens', d]);
  const textMask = c.input('text_mask', 'int64', ['batch_size', 'prompt_tokens']);
  const embeds = c.node('Concat', [image, text], { axis: { type: 'int', value: 1 } }, 'join/inputs_embeds');
  // ones [B, Ni] from image_embeds' shape (specialise folds this into a constant).
  const batchAndTokens = c.node('Slice', [c.node('Shape', [image], {}, 'join/image_shape'), c.ints([0]), c.ints([2]), c.ints([0])], {}, 'join/image_dims');
  const ones = c.node('ConstantOfShape', [batchAndTokens], { value: { type: 'tensor', value: { name: 'value', dataType: 'int64', dims: [1], values: new BigInt64Array([1n]) } } }, 'join/image_mask');
  const mask = c.node('Concat', [ones, textMask], { axis: { type: 'int', value: 1 } }, 'encoder_mask');
  const encoder = requireNames(graphs.encoder, 'encoder_model', ['inputs_embeds', 'attention_mask'], ['last_hidden_state']);
  const out = c.part(encoder, 'encoder', { inputs_embeds: embeds, attention_mask: mask }, hiddenName ? { last_hidden_state: hiddenName } : {});
  return { mask, hidden: out.last_hidden_state };
}

/** embed_tokens(ids) → decoder_model with the encoder's states and mask; returns the decoder's outputs here. */
function decoderPart(c: Composer, graphs: HubSeq2SeqGraphs, wired: { ids: string; hidden: string; mask: string }, names: Record<string, string>): Record<string, string> {
  const decoder = requireNames(graphs.decoder, 'decoder_model', ['encoder_hidden_states', 'encoder_attention_mask'], ['logits']);
  const wires: Record<string, string> = { encoder_hidden_states: wired.hidden, encoder_attention_mask: wired.mask };
  if (decoder.graph.inputs.some((i) => i.name === 'input_ids')) {
    wires.input_ids = wired.ids;
  } else {
    const embed = requireNames(graphs.embedTokens, 'embed_tokens', ['input_ids'], ['inputs_embeds']);
    requireNames(decoder, 'decoder_model', ['inputs_embeds'], []);
    wires.inputs_embeds = c.part(embed, 'embed', { input_ids: wired.ids }).inputs_embeds;
  }
  const extra = decoder.graph.inputs.find((i) => !(i.name in wires) && !decoder.graph.initializers.some((t) => t.name === i.name));
  if (extra) {
    throw new PackageError(`decoder_model takes "${extra.name}", which a decoder without past keys and values does not`, 'onnx/decoder_model.onnx',
      'Use the repository\'s decoder_model.onnx, or its decoder_model_merged.onnx (read at its no-cache branch); not decoder_with_past_model.onnx.');
  }
  return c.part(decoder, 'decoder', wires, names);
}

/** The layer numbers i of present.{i}.decoder.key, in order. */
function presentLayers(decoder: OnnxModel): number[] {
  const layers = decoder.graph.outputs.map((o) => /^present\.(\d+)\.decoder\.key$/.exec(o.name)).filter((m) => m !== null).map((m) => Number(m![1]));
  const names = new Set(decoder.graph.outputs.map((o) => o.name));
  const complete = layers.every((l) => ['decoder.value', 'encoder.key', 'encoder.value'].every((k) => names.has(`present.${l}.${k}`)));
  if (layers.length === 0 || !complete) {
    throw new PackageError('decoder_model has no complete present.{i}.{decoder,encoder}.{key,value} outputs', 'onnx/decoder_model.onnx',
      'Use a decoder exported with its key/value cache outputs (transformers.js / Optimum, use_cache).');
  }
  return layers.sort((a, b) => a - b);
}

function requireNames(model: OnnxModel, file: string, inputs: string[], outputs: string[]): OnnxModel {
  const has = (list: OnnxValueInfo[], n: string) => list.some((v) => v.name === n);
  const missing = [...inputs.filter((n) => !has(model.graph.inputs, n)).map((n) => `input "${n}"`), ...outputs.filter((n) => !has(model.graph.outputs, n)).map((n) => `output "${n}"`)];
  if (missing.length > 0) {
    throw new PackageError(`the graph has no ${missing.join(', ')} (it has inputs ${shorten(model.graph.inputs.map((i) => i.name).join(', '))})`, `onnx/${file}.onnx`,
      'Use a repository in the transformers.js layout (onnx-community, Optimum\'s names).');
  }
  return model;
}

// ---- composing graphs ------------------------------------------------------------------------------

/** Op types whose semantics no opset from 13 on changed: embed_tokens may come at another opset. */
const OPSET_STABLE = new Set(['Constant', 'Gather', 'Mul', 'Cast', 'Identity']);

/**
 * Builds one graph out of parts: each part's names go under `<prefix>/`, its inputs read the values given,
 * its Constant tensors become initializers. Tracks each value's type for the float16/float32 boundary.
 */
class Composer {
  private readonly nodes: OnnxNode[] = [];
  private readonly initializers: OnnxTensor[] = [];
  private readonly inputs: OnnxValueInfo[] = [];
  private readonly outputs: OnnxValueInfo[] = [];
  private readonly types = new Map<string, OnnxDataType>();
  private readonly ranks = new Map<string, number>();
  private count = 0;
  readonly opset: number;

  constructor(private readonly graphs: HubSeq2SeqGraphs, private readonly name: string) {
    const opsetOf = (m: OnnxModel) => m.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0;
    this.opset = opsetOf(graphs.decoder);
    if (opsetOf(graphs.encoder) !== this.opset || (opsetOf(graphs.embedTokens) !== this.opset && !graphs.embedTokens.graph.nodes.every((n) => OPSET_STABLE.has(n.opType)))) {
      throw new PackageError(`the graphs have opsets ${[graphs.embedTokens, graphs.encoder, graphs.decoder].map(opsetOf).join(', ')} (embed_tokens, encoder_model, decoder_model)`,
        'onnx/', 'Use graphs exported together, at one opset.');
    }
  }

  /** The model width d: the encoder's inputs_embeds' last dim. */
  width(): number {
    const d = this.graphs.encoder.graph.inputs.find((i) => i.name === 'inputs_embeds')?.shape?.[2];
    if (typeof d !== 'number') throw new PackageError('encoder_model\'s inputs_embeds has no fixed width (its last dim)', 'onnx/encoder_model.onnx', 'Use the repository\'s encoder_model.onnx.');
    return d;
  }

  input(name: string, dataType: OnnxDataType, shape?: OnnxDim[]): string {
    this.inputs.push({ name, dataType, shape });
    this.types.set(name, dataType);
    if (shape) this.ranks.set(name, shape.length);
    return name;
  }

  output(name: string): void {
    this.outputs.push({ name, dataType: this.types.get(name) ?? 'float32' });
  }

  fresh(label: string): string {
    return `compose/${this.count++}_${label}`;
  }

  node(opType: string, inputs: string[], attributes: OnnxNode['attributes'] = {}, output?: string): string {
    const out = output ?? this.fresh(opType);
    this.nodes.push({ opType, domain: '', name: `compose/${opType}_${this.nodes.length}`, inputs, outputs: [out], attributes });
    const typed = inputs.map((i) => this.types.get(i)).find((t) => t !== undefined);
    const to = attributes.to?.type === 'int' ? attributes.to.value : undefined;
    if (opType === 'Shape') this.types.set(out, 'int64');
    else if (opType === 'ConstantOfShape' && attributes.value?.type === 'tensor') this.types.set(out, attributes.value.value.dataType);
    else if (to !== undefined) this.types.set(out, onnxTypeName(to));
    else if (typed) this.types.set(out, typed);
    return out;
  }

  ints(values: number[]): string {
    const name = this.fresh('ints');
    this.initializers.push({ name, dataType: 'int64', dims: [values.length], values: BigInt64Array.from(values, (v) => BigInt(v)) });
    this.types.set(name, 'int64');
    return name;
  }

  /** x with a new leading axis of 1. */
  unsqueeze0(x: string): string {
    return this.opset >= 13 ? this.node('Unsqueeze', [x, this.ints([0])]) : this.node('Unsqueeze', [x], { axes: { type: 'ints', value: [0] } });
  }

  /** x as float32 (a Cast when it is another float type), optionally under a given name. */
  asFloat32(x: string, name?: string): string {
    const type = this.types.get(x);
    if (type === 'float32' || type === undefined || !isFloat(type)) return name && name !== x ? this.node('Identity', [x], {}, name) : x;
    return this.node('Cast', [x], { to: { type: 'int', value: onnxTypeNumber('float32') } }, name);
  }

  /**
   * Adds a part: its nodes and initializers under `<prefix>/`, graph input i reading `wires[i]` (cast when the
   * part wants another float type), output o named `names[o]` if given. Returns the outputs' names here.
   */
  part(model: OnnxModel, prefix: string, wires: Record<string, string>, names: Record<string, string> = {}): Record<string, string> {
    const map = new Map<string, string>();
    for (const input of model.graph.inputs) {
      const wire = wires[input.name];
      if (wire === undefined) continue;
      const type = this.types.get(wire);
      map.set(input.name, type && type !== input.dataType && isFloat(type) && isFloat(input.dataType)
        ? this.node('Cast', [wire], { to: { type: 'int', value: onnxTypeNumber(input.dataType) } }) : wire);
    }
    // A wanted name goes to a float32 output as it is; another type's output is named apart, for asFloat32(…, name).
    for (const o of model.graph.outputs) if (names[o.name]) map.set(o.name, o.dataType === 'float32' || !isFloat(o.dataType) ? names[o.name] : `${names[o.name]}/${o.dataType}`);
    const rename = (n: string) => (n === '' ? n : map.get(n) ?? `${prefix}/${n}`);
    const graph = renameGraph(model.graph, rename, (n) => `${prefix}/${n}`);
    for (const t of graph.initializers) this.initializers.push(t);
    for (const n of graph.nodes) {
      const value = n.attributes.value;
      if (n.opType === 'Constant' && value?.type === 'tensor' && Object.keys(n.attributes).length === 1) {
        this.initializers.push({ ...value.value, name: n.outputs[0] });
      } else {
        this.nodes.push(n);
      }
    }
    for (const o of model.graph.outputs) this.types.set(rename(o.name), o.dataType);
    return Object.fromEntries(model.graph.outputs.map((o) => [o.name, rename(o.name)]));
  }

  model(): OnnxModel {
    shareTiedEmbedding(this.nodes, this.initializers, this.ranks);
    const read = new Set<string>();
    const collect = (g: Pick<OnnxGraph, 'nodes'>) => {
      for (const n of g.nodes) {
        n.inputs.forEach((i) => read.add(i));
        for (const a of Object.values(n.attributes)) if (a.type === 'graph') collect(a.value);
      }
    };
    collect({ nodes: this.nodes });
    for (const o of this.outputs) read.add(o.name);
    const { embedTokens, encoder, decoder } = this.graphs;
    const opsets = new Map<string, number>();
    for (const m of [embedTokens, encoder, decoder]) for (const o of m.opsets) opsets.set(o.domain === 'ai.onnx' ? '' : o.domain, Math.max(opsets.get(o.domain) ?? 0, o.version));
    opsets.set('', this.opset);
    return {
      irVersion: Math.max(embedTokens.irVersion, encoder.irVersion, decoder.irVersion),
      opsets: [...opsets].map(([domain, version]) => ({ domain, version })),
      producerName: 'adalink-studio (composed from transformers.js graphs)',
      producerVersion: '1',
      graph: {
        name: this.name, nodes: this.nodes, initializers: this.initializers.filter((t) => read.has(t.name)),
        inputs: this.inputs.filter((i) => read.has(i.name)), outputs: this.outputs, valueInfo: [],
      },
      metadata: {},
    };
  }
}

/** A graph with every value name (nested graphs' too) passed through `rename`, every node name through `nodeName`. */
function renameGraph(graph: OnnxGraph, rename: (n: string) => string, nodeName: (n: string) => string): OnnxGraph {
  const info = (v: OnnxValueInfo) => ({ ...v, name: rename(v.name) });
  return {
    ...graph,
    nodes: graph.nodes.map((n) => ({
      ...n, name: nodeName(n.name || `${n.opType}_${n.outputs[0]}`), inputs: n.inputs.map(rename), outputs: n.outputs.map(rename),
      attributes: Object.fromEntries(Object.entries(n.attributes).map(([k, a]) => [k, a.type === 'graph' ? { type: 'graph' as const, value: renameGraph(a.value, rename, nodeName) } : a])),
    })),
    initializers: graph.initializers.map((t) => ({ ...t, name: rename(t.name) })),
    inputs: graph.inputs.map(info), outputs: graph.outputs.map(info), valueInfo: graph.valueInfo.map(info),
  };
}

/**
 * The tied embedding kept once: a Gather (axis 0) from a [V, d] table T whose transpose is another initializer
 * W [d, V] (the lm_head as torch exports it) becomes Transpose(Gather(W, ids, axis 1)), and T goes. Exact: the
 * same numbers, picked from the other layout. Indices of unknown rank are left alone.
 */
function shareTiedEmbedding(nodes: OnnxNode[], initializers: OnnxTensor[], ranks: ReadonlyMap<string, number>): void {
  const byName = new Map(initializers.map((t) => [t.name, t]));
  for (const [k, node] of nodes.entries()) {
    const table = byName.get(node.inputs[0]);
    const rank = ranks.get(node.inputs[1]);
    const axis = node.attributes.axis?.type === 'int' ? node.attributes.axis.value : 0;
    if (node.opType !== 'Gather' || axis !== 0 || !table || rank === undefined || table.dims.length !== 2 || !isFloat(table.dataType)) continue;
    const [V, d] = table.dims;
    const lmHead = initializers.find((t) => t !== table && t.dataType === table.dataType && t.dims.length === 2 && t.dims[0] === d && t.dims[1] === V && isTranspose(table, t));
    if (!lmHead) continue;
    const picked = `${node.outputs[0]}/from_tied_matrix`;
    const perm = [...Array.from({ length: rank }, (_, i) => i + 1), 0];
    nodes.splice(k, 1,
      { ...node, inputs: [lmHead.name, node.inputs[1]], outputs: [picked], attributes: { axis: { type: 'int', value: 1 } } },
      { opType: 'Transpose', domain: '', name: `${node.name}/transpose`, inputs: [picked], outputs: node.outputs, attributes: { perm: { type: 'ints', value: perm } } });
  }
}

/** Whether b [d, V] holds a [V, d] transposed, element for element (the stored bits). */
function isTranspose(a: OnnxTensor, b: OnnxTensor): boolean {
  const [V, d] = a.dims;
  const x = a.values as ArrayLike<number> | undefined;
  const y = b.values as ArrayLike<number> | undefined;
  if (!x || !y || Array.isArray(x) || x.length !== V * d || y.length !== V * d) return false;
  for (let v = 0; v < V; v++) for (let k = 0; k < d; k++) if (!Object.is(x[v * d + k], y[k * V + v])) return false;
  return true;
}

// ---- retyping the int64 inputs for the GPU ----------------------------------------------------------
