/**
 * A small ONNX ModelProto writer: float32 graphs of a few nodes with static shapes, built in memory.
 *
 * The engine needs such graphs where a package has none to offer (a one-node graph whose output tells
 * onnxruntime-web's buffer bookkeeping apart, src/engine/graphCapture.ts) and tests need them to check ORT's
 * behaviour on a graph small enough to reason about. Field numbers are onnx.proto3's; every tensor is
 * FLOAT (elem_type 1).
 */

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

const FLOAT = 1;
const text = new TextEncoder();

function varint(value: number): number[] {
  const bytes: number[] = [];
  let v = value;
  while (v >= 0x80) {
    bytes.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  bytes.push(v);
  return bytes;
}

/** Field `number` as a varint (wire type 0). */
const intField = (number: number, value: number): number[] => [...varint(number << 3), ...varint(value)];
/** Field `number` as length-delimited bytes (wire type 2): a string or an embedded message. */
const bytesField = (number: number, payload: number[]): number[] => [...varint((number << 3) | 2), ...varint(payload.length), ...payload];
const stringField = (number: number, value: string): number[] => bytesField(number, [...text.encode(value)]);

/** ValueInfoProto { name = 1, type = 2 { tensor_type = 1 { elem_type = 1, shape = 2 { dim = 1 { dim_value = 1 } } } } } */
function valueInfo(name: string, dims: number[]): number[] {
  const shape = dims.flatMap((d) => bytesField(1, intField(1, d)));
  return [...stringField(1, name), ...bytesField(2, bytesField(1, [...intField(1, FLOAT), ...bytesField(2, shape)]))];
}

/** NodeProto { input = 1, output = 2, name = 3, op_type = 4 } */
function node(n: OnnxNode, index: number): number[] {
  return [...n.inputs.flatMap((i) => stringField(1, i)), ...n.outputs.flatMap((o) => stringField(2, o)),
    ...stringField(3, `${n.op}_${index}`), ...stringField(4, n.op)];
}

/** The serialized ModelProto { ir_version = 1, graph = 7, opset_import = 8 }. */
export function writeOnnxModel(graph: OnnxGraph): Uint8Array {
  const body = [
    ...graph.nodes.flatMap((n, i) => bytesField(1, node(n, i))),
    ...stringField(2, 'graph'),
    ...graph.inputs.flatMap((v) => bytesField(11, valueInfo(v.name, v.dims))),
    ...graph.outputs.flatMap((v) => bytesField(12, valueInfo(v.name, v.dims))),
  ];
  return new Uint8Array([
    ...intField(1, 8),
    ...bytesField(7, body),
    ...bytesField(8, [...stringField(1, ''), ...intField(2, graph.opset ?? 17)]),
  ]);
}
