/**
 * An ONNX model in memory: the subset of onnx.proto3 that the graphs published for the browser use
 * (transformers.js / Optimum exports: one default-domain graph, initializers inline or as external data,
 * `If` sub-graphs in merged decoders). src/formats/onnx.ts reads and writes it; src/autodiff/ transforms it.
 *
 * Names follow onnx.proto3 so that a reader of the spec finds each field: ModelProto, GraphProto, NodeProto,
 * AttributeProto, TensorProto, ValueInfoProto.
 */

/** TensorProto.DataType, by name (the numbers are onnx.proto3's, in onnxRead.ts). */
export type OnnxDataType =
  | 'float32' | 'float16' | 'bfloat16' | 'float64'
  | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64'
  | 'bool' | 'string';

/** Element storage of a tensor in memory: int64/uint64 as BigInt arrays, float16/bfloat16 as their raw bits. */
export type OnnxTensorValues =
  | Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array
  | BigInt64Array | BigUint64Array | string[];

/** TensorProto: an initializer, a Constant's value or a tensor attribute. */
export interface OnnxTensor {
  name: string;
  dataType: OnnxDataType;
  dims: number[];
  /**
   * The elements, row-major. Absent only while `external` names where they still are (TensorProto.data_location
   * = EXTERNAL, not yet resolved by the reader).
   */
  values?: OnnxTensorValues;
  /** TensorProto.external_data: the file next to the model, and the byte range in it. */
  external?: { location: string; offset: number; length: number };
}

/** One dimension of a ValueInfo's shape: a number, a symbolic name (dim_param), or unknown. */
export type OnnxDim = number | string | undefined;

/** ValueInfoProto of a tensor-typed value (graph inputs, outputs, value_info). */
export interface OnnxValueInfo {
  name: string;
  dataType: OnnxDataType;
  /** Undefined when the shape is not given at all (rank unknown). */
  shape?: OnnxDim[];
}

/** AttributeProto, by its type. */
export type OnnxAttribute =
  | { type: 'float'; value: number }
  | { type: 'int'; value: number }
  | { type: 'string'; value: string }
  | { type: 'tensor'; value: OnnxTensor }
  | { type: 'graph'; value: OnnxGraph }
  | { type: 'floats'; value: number[] }
  | { type: 'ints'; value: number[] }
  | { type: 'strings'; value: string[] };

/** NodeProto. `''` in `inputs` is an omitted optional input, as in the proto. */
export interface OnnxNode {
  opType: string;
  /** '' (or 'ai.onnx') is the default domain; 'com.microsoft' holds ORT's contrib ops. */
  domain: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attributes: Record<string, OnnxAttribute>;
}

/** GraphProto: nodes in a topological order, as the spec requires. */
export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  valueInfo: OnnxValueInfo[];
}

/** ModelProto. */
export interface OnnxModel {
  irVersion: number;
  /** opset_import: the default domain is ''. */
  opsets: Array<{ domain: string; version: number }>;
  producerName: string;
  producerVersion: string;
  graph: OnnxGraph;
  /** metadata_props. */
  metadata: Record<string, string>;
}
