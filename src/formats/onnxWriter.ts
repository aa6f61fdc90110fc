/**
 * Small float32 ONNX graphs built in memory: a few nodes with static shapes, written by encodeOnnxModel
 * (onnxWrite.ts), the repo's one ONNX writer.
 *
 * The engine needs such graphs where a package has none to offer (a one-node graph whose output tells
 * onnxruntime-web's buffer bookkeeping apart, src/engine/graphCapture.ts) and tests need them to check ORT's
 * behaviour on a graph small enough to reason about. Every input and output is float32; node `i` of op `op` is
 * named `${op}_${i}`; the default domain's opset is 17 unless `opset` says otherwise.
 */
import type * as onnx from './onnxModel.ts';
import { encodeOnnxModel } from './onnxWrite.ts';

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
}

export interface OnnxGraph {
  nodes: OnnxNode[];
  inputs: Array<{ name: string; dims: number[] }>;
  outputs: Array<{ name: string; dims: number[] }>;
  /** ONNX opset of the default domain. */
  opset?: number;
}

const float32 = ({ name, dims }: { name: string; dims: number[] }): onnx.OnnxValueInfo => ({ name, dataType: 'float32', shape: [...dims] });

/** The serialized ModelProto (IR version 8). */
export function writeOnnxModel(graph: OnnxGraph): Uint8Array {
  return encodeOnnxModel({
    irVersion: 8,
    opsets: [{ domain: '', version: graph.opset ?? 17 }],
    producerName: '',
    producerVersion: '',
    metadata: {},
    graph: {
      name: 'graph',
      nodes: graph.nodes.map((n, i): onnx.OnnxNode => ({ opType: n.op, domain: '', name: `${n.op}_${i}`, inputs: [...n.inputs], outputs: [...n.outputs], attributes: {} })),
      initializers: [],
      inputs: graph.inputs.map(float32),
      outputs: graph.outputs.map(float32),
      valueInfo: [],
    },
  });
}
