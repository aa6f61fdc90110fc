/**
 * The training forward of a model package from its inference graphs, for testing the autodiff on real exports:
 * the encoder (image_embeds, text_embeds, text_mask → encoder_hidden) and the decoder without past
 * (decoder_input_ids, encoder_hidden, encoder_mask → logits), each specialised to one batch shape, joined into
 * one graph, with the loss of loss.ts on the logits. Its vjp is then what the package's vjp.onnx computes
 * (docs/ENGINE.md §1): the encoder mask is concat(ones for the image tokens, text_mask), as
 * tools/adalink/model.py's seq2seq_loss builds it.
 */
import type { OnnxModel, OnnxNode } from '../../formats/onnxModel.ts';
import { appendCrossEntropy, type WithLoss } from '../loss.ts';
import { specialise } from '../specialise.ts';
import type { ValueTable } from '../values.ts';

export interface Seq2SeqShape {
  batch: number;
  imageTokens: number;
  promptTokens: number;
  targetTokens: number;
  width: number;
}

/** Names the decoder keeps: its inputs, which the join wires to the encoder's values. */
const WIRED = new Set(['decoder_input_ids', 'encoder_hidden', 'encoder_mask']);

export function seq2seqLoss(encoder: OnnxModel, decoder: OnnxModel, shape: Seq2SeqShape, labelType: 'int64' | 'int32' = 'int64'): WithLoss {
  const { batch: B, imageTokens: Ni, promptTokens: Nt, targetTokens: Nd, width: d } = shape;
  const enc = specialise(encoder, { shapes: { image_embeds: [B, Ni, d], text_embeds: [B, Nt, d], text_mask: [B, Nt] } });
  const dec = specialise(decoder, { shapes: { decoder_input_ids: [B, Nd], encoder_hidden: [B, Ni + Nt, d], encoder_mask: [B, Ni + Nt] } });

  const renamed = (name: string) => (name === '' || WIRED.has(name) ? name : `decoder/${name}`);
  const decoderNodes: OnnxNode[] = dec.model.graph.nodes.map((n) => ({
    ...n, name: `decoder/${n.name}`, inputs: n.inputs.map(renamed), outputs: n.outputs.map(renamed),
  }));
  const imageMask = { name: 'join/image_mask', dataType: 'int64' as const, dims: [B, Ni], values: new BigInt64Array(B * Ni).fill(1n) };
  const joinMask: OnnxNode = { opType: 'Concat', domain: '', name: 'join/encoder_mask', inputs: [imageMask.name, 'text_mask'], outputs: ['encoder_mask'], attributes: { axis: { type: 'int', value: 1 } } };

  const values: ValueTable = new Map(enc.values);
  for (const [name, type] of dec.values) if (!WIRED.has(name)) values.set(renamed(name), type);
  values.set('encoder_mask', { dataType: 'int64', shape: [B, Ni + Nt] });
  values.set(imageMask.name, { dataType: 'int64', shape: [B, Ni] });
  values.set('decoder_input_ids', { dataType: 'int64', shape: [B, Nd] });
  values.set('labels', { dataType: labelType, shape: [B, Nd] });

  const joined: OnnxModel = {
    ...enc.model,
    graph: {
      name: 'seq2seq training forward',
      nodes: [...enc.model.graph.nodes, joinMask, ...decoderNodes],
      initializers: [...enc.model.graph.initializers, imageMask, ...dec.model.graph.initializers.map((t) => ({ ...t, name: renamed(t.name) }))],
      inputs: [
        ...enc.model.graph.inputs,
        { name: 'decoder_input_ids', dataType: 'int64', shape: [B, Nd] },
        { name: 'labels', dataType: labelType, shape: [B, Nd] },
      ],
      outputs: [],
      valueInfo: [],
    },
  };
  return appendCrossEntropy(joined, values, { logits: renamed('logits'), labels: 'labels' });
}
