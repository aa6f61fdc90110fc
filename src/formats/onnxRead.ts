/**
 * The ONNX reader: the bytes of a serialized ModelProto → OnnxModel (onnxModel.ts), field numbers as in
 * onnx.proto3. Message by message, top to bottom (the protobuf cursor is protobufCursor.ts): TensorProto, ValueInfoProto,
 * AttributeProto, NodeProto, GraphProto, ModelProto.
 *
 * Tensor elements are copied once out of the file (one `slice` per tensor, so each typed array has its own
 * aligned buffer and the file's bytes can be dropped). External data (TensorProto.data_location = EXTERNAL) is
 * read through `externalData` when given, else left as a reference. What OnnxModel cannot hold and a writer
 * would therefore lose (sparse initializers, model-local functions, non-tensor types, attributes of lists of
 * tensors or graphs) is refused with a FormatError; doc strings and annotations are skipped.
 */
import { shorten } from '../errors.ts';
import type { OnnxAttribute, OnnxDataType, OnnxDim, OnnxGraph, OnnxModel, OnnxNode, OnnxTensor, OnnxTensorValues, OnnxValueInfo } from './onnxModel.ts';
import { Cursor, DAMAGED, type Run } from './protobufCursor.ts';

/** TensorProto.DataType: the numbers of the types OnnxModel holds. */
export const DATA_TYPE_NUMBER: Readonly<Record<OnnxDataType, number>> = {
  float32: 1, uint8: 2, int8: 3, uint16: 4, int16: 5, int32: 6, int64: 7, string: 8, bool: 9,
  float16: 10, float64: 11, uint32: 12, uint64: 13, bfloat16: 16,
};
const DATA_TYPE_NAME = new Map(Object.entries(DATA_TYPE_NUMBER).map(([name, n]) => [n, name as OnnxDataType]));

export type NumericDataType = Exclude<OnnxDataType, 'string'>;
export type NumericValues = Exclude<OnnxTensorValues, string[]>;
type ValuesClass = { new (length: number): NumericValues; new (buffer: ArrayBuffer): NumericValues; BYTES_PER_ELEMENT: number };

/** The typed array that holds each type's elements (float16 and bfloat16 as their bits, bool as 0/1 bytes). */
export const VALUES_CLASS: Readonly<Record<NumericDataType, ValuesClass>> = {
  float32: Float32Array, float16: Uint16Array, bfloat16: Uint16Array, float64: Float64Array,
  int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array,
  int64: BigInt64Array, uint64: BigUint64Array, bool: Uint8Array,
};

/** Typed arrays are read and written as the file's bytes: little-endian, as every browser's platform is. */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Sub-graphs (`If` branches) nest this deep at most: deeper is a hostile file, not a model. */
const MAX_GRAPH_DEPTH = 64;

export interface ReadOnnxOptions {
  /** The bytes of an external data file (`location` is as the model names it, relative to the model's folder). */
  externalData?: (location: string) => Uint8Array | undefined;
  /** The model's name in error messages. */
  where?: string;
}


/** Sets `record[key]` even for keys such as `__proto__`, refusing a key written twice. */
function define<T>(c: Cursor, record: Record<string, T>, key: string, value: T, what: string): void {
  if (Object.hasOwn(record, key)) c.fail(`${what} "${shorten(key)}" is given twice`);
  if (key !== '__proto__') record[key] = value;
  else Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
}

/** StringStringEntryProto { key = 1, value = 2 } */
function readEntry(c: Cursor): [string, string] {
  let [key, value] = ['', ''];
  while (c.more()) {
    switch (c.tag()) {
      case 1: key = c.string(); break;
      case 2: value = c.string(); break;
      default: c.skip();
    }
  }
  return [key, value];
}

/** TensorProto: dims = 1, data_type = 2, the data fields, name = 8, raw_data = 9, external_data = 13, data_location = 14. */
function readTensor(c: Cursor): OnnxTensor {
  const dims: number[] = [];
  let [dataTypeNumber, name, location] = [0, '', 0];
  let raw: Run | undefined;
  const runs: Run[] = [];
  const strings: string[] = [];
  const external: Record<string, string> = {};
  while (c.more()) {
    switch (c.tag()) {
      case 1: c.repeated(0, () => dims.push(c.varintValue())); break;
      case 2: dataTypeNumber = c.int(); break;
      case 3: c.unsupported('a segmented tensor (TensorProto.segment)'); break;
      case 4: runs.push(c.run(5)); break; // float_data
      case 5: case 7: case 11: runs.push(c.run(0)); break; // int32_data, int64_data, uint64_data
      case 6: strings.push(c.string()); break; // string_data
      case 8: name = c.string(); break;
      case 9: raw = c.span(); break; // raw_data
      case 10: runs.push(c.run(1)); break; // double_data
      case 13: define(c, external, ...c.message('external_data', () => readEntry(c)), 'external_data key'); break;
      case 14: location = c.int(); break;
      default: c.skip();
    }
  }
  if (name) c.at += ` "${shorten(name)}"`;
  const dataType = DATA_TYPE_NAME.get(dataTypeNumber) ?? c.unsupported(`data type ${dataTypeNumber}`);
  if (dims.some((d) => d < 0)) c.fail(`dims [${dims.join(', ')}] are negative`);
  const count = dims.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(count)) c.fail(`dims [${dims.join(', ')}] hold too many elements`);
  if (raw && raw.end - raw.start === 0 && count > 0) raw = undefined; // written but empty: the data is elsewhere

  if (location === 1) {
    if (!external.location) c.fail('an external tensor names no location');
    if (dataType === 'string') c.unsupported('an external string tensor');
    const size = VALUES_CLASS[dataType].BYTES_PER_ELEMENT;
    const offset = external.offset === undefined ? 0 : Number(external.offset);
    const length = external.length === undefined ? count * size : Number(external.length);
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
      c.fail(`external_data offset "${shorten(external.offset ?? '')}" or length "${shorten(external.length ?? '')}" is not a byte count`);
    }
    if (length !== count * size) c.fail(`its external data is ${length} bytes, ${count} ${dataType} elements need ${count * size}`);
    const ref = { location: external.location, offset, length };
    if (!c.externalData) return { name, dataType, dims, external: ref };
    const file = c.externalData(ref.location);
    if (!file) c.fail(`its external data file "${shorten(ref.location)}" is missing`, `Put "${shorten(ref.location)}" next to the model: it is downloaded with it.`);
    if (offset + length > file.length) c.fail(`its bytes ${offset}…${offset + length} are past the end of the ${file.length}-byte "${shorten(ref.location)}"`);
    return { name, dataType, dims, values: valuesFromBytes(c, dataType, count, file, offset, offset + length) };
  }
  if (dataType === 'string') {
    if (raw || runs.length > 0) c.fail('a string tensor holds numeric data');
    if (strings.length !== count) c.fail(`it holds ${strings.length} strings, its dims [${dims.join(', ')}] say ${count}`);
    return { name, dataType, dims, values: strings };
  }
  if (strings.length > 0 || (raw && runs.length > 0)) c.fail(`a ${dataType} tensor holds data in more than one field`);
  const values = raw ? valuesFromBytes(c, dataType, count, c.bytes, raw.start, raw.end) : valuesFromRuns(c, dataType, count, runs);
  return { name, dataType, dims, values };
}

/** raw_data, or a range of an external file: the elements' little-endian bytes, copied once. */
function valuesFromBytes(c: Cursor, dataType: NumericDataType, count: number, bytes: Uint8Array, start: number, end: number): NumericValues {
  const Values = VALUES_CLASS[dataType];
  if (end - start !== count * Values.BYTES_PER_ELEMENT) {
    c.fail(`it has ${end - start} bytes of data, ${count} ${dataType} elements need ${count * Values.BYTES_PER_ELEMENT}`);
  }
  // One copy into a buffer of its own (`slice` of a Node Buffer would be a view).
  const buffer = new ArrayBuffer(end - start);
  new Uint8Array(buffer).set(bytes.subarray(start, end));
  return new Values(buffer);
}

/**
 * The typed data fields: float_data (float32), double_data (float64), int64_data (int64), uint64_data
 * (uint32, uint64), and int32_data for every smaller type (float16 and bfloat16 as their bits).
 */
function valuesFromRuns(c: Cursor, dataType: NumericDataType, count: number, runs: Run[]): NumericValues {
  const field = dataType === 'float32' ? 4 : dataType === 'float64' ? 10 : dataType === 'int64' ? 7
    : dataType === 'uint32' || dataType === 'uint64' ? 11 : 5;
  const stray = runs.find((run) => run.field !== field);
  if (stray) c.fail(`a ${dataType} tensor holds data in field ${stray.field}, not field ${field}`);
  // Each element takes at least a byte (a varint) or 4 or 8 (float_data, double_data): check before allocating.
  const bytes = runs.reduce((sum, run) => sum + run.end - run.start, 0);
  if (count > bytes / (field === 4 ? 4 : field === 10 ? 8 : 1)) c.fail(`it holds ${bytes} bytes of data, too few for its ${count} elements`);
  const values = new VALUES_CLASS[dataType](count);
  // int64 and uint64 elements as two little-endian 32-bit words each, so that no BigInt is made per element.
  const words = dataType === 'int64' || dataType === 'uint64' ? new Uint32Array(values.buffer) : undefined;
  const numbers = values as Exclude<NumericValues, BigInt64Array | BigUint64Array>;
  let i = 0;
  for (const run of runs) {
    c.replay(run, () => {
      if (i === count) c.fail(`it holds more elements than its ${count}`);
      if (field === 4) numbers[i] = c.view.getFloat32(c.advance(4), true);
      else if (field === 10) numbers[i] = c.view.getFloat64(c.advance(8), true);
      else if (words) { c.varint(); words[2 * i] = c.lo; words[2 * i + 1] = c.hi; }
      else { c.varint(); numbers[i] = c.lo | 0; } // stored modulo the type's range, as the spec's int32 holds it
      i++;
    });
  }
  if (i !== count) c.fail(`it holds ${i} elements, its dims say ${count}`);
  return values;
}

/** ValueInfoProto { name = 1, type = 2 { tensor_type = 1 { elem_type = 1, shape = 2 { dim = 1 } } } }; no type: undefined. */
function readValueInfo(c: Cursor): { name: string; type?: Omit<OnnxValueInfo, 'name'> } {
  let name = '';
  let type: Omit<OnnxValueInfo, 'name'> | undefined;
  while (c.more()) {
    switch (c.tag()) {
      case 1: name = c.string(); break;
      case 2: type = c.message('type', () => readType(c)); break;
      default: c.skip();
    }
  }
  return { name, type };
}

function readType(c: Cursor): Omit<OnnxValueInfo, 'name'> {
  let type: Omit<OnnxValueInfo, 'name'> | undefined;
  while (c.more()) {
    switch (c.tag()) {
      case 1: type = c.message('tensor_type', () => readTensorType(c)); break;
      default: c.skip(); // sequence_type, map_type, optional_type, sparse_tensor_type: refused below
    }
  }
  return type ?? c.unsupported('a type other than a tensor');
}

function readTensorType(c: Cursor): Omit<OnnxValueInfo, 'name'> {
  let elemType = 0;
  let shape: OnnxDim[] | undefined;
  while (c.more()) {
    switch (c.tag()) {
      case 1: elemType = c.int(); break;
      case 2: shape = c.message('shape', () => readShape(c)); break;
      default: c.skip();
    }
  }
  const dataType = DATA_TYPE_NAME.get(elemType) ?? c.unsupported(`elem_type ${elemType}`);
  return shape ? { dataType, shape } : { dataType };
}

/** TensorShapeProto { dim = 1 { dim_value = 1 | dim_param = 2 } }: neither is an unknown dimension. */
function readShape(c: Cursor): OnnxDim[] {
  const shape: OnnxDim[] = [];
  while (c.more()) {
    if (c.tag() !== 1) { c.skip(); continue; }
    shape.push(c.message(`dim[${shape.length}]`, () => {
      let dim: OnnxDim;
      while (c.more()) {
        switch (c.tag()) {
          case 1: dim = c.int(); break;
          case 2: dim = c.string(); break;
          default: c.skip();
        }
      }
      return dim;
    }));
  }
  return shape;
}

/** AttributeType numbers, by the OnnxAttribute type they make. */
const ATTRIBUTE_TYPE: Record<number, OnnxAttribute['type']> = { 1: 'float', 2: 'int', 3: 'string', 4: 'tensor', 5: 'graph', 6: 'floats', 7: 'ints', 8: 'strings' };

/** AttributeProto: name = 1, f = 2, i = 3, s = 4, t = 5, g = 6, floats = 7, ints = 8, strings = 9, type = 20. */
function readAttribute(c: Cursor, depth: number): [string, OnnxAttribute] {
  let [name, type] = ['', 0];
  let f: number | undefined, i: number | undefined, s: string | undefined, t: OnnxTensor | undefined, g: OnnxGraph | undefined;
  const [floats, ints, strings]: [number[], number[], string[]] = [[], [], []];
  while (c.more()) {
    switch (c.tag()) {
      case 1: name = c.string(); break;
      case 2: f = c.float(); break;
      case 3: i = c.int(); break;
      case 4: s = c.string(); break;
      case 5: t = c.message('t', () => readTensor(c)); break;
      case 6: g = c.message('g', () => readGraph(c, depth + 1)); break;
      case 7: c.repeated(5, () => floats.push(c.view.getFloat32(c.advance(4), true))); break;
      case 8: c.repeated(0, () => ints.push(c.varintValue())); break;
      case 9: strings.push(c.string()); break;
      case 20: type = c.int(); break;
      case 21: c.unsupported('an attribute reference (ref_attr_name, for function bodies)'); break;
      default: c.skip();
    }
  }
  if (name) c.at += ` "${shorten(name)}"`;
  // IR version 1 and 2 files have no `type`: the field that is set says it.
  const kind = type !== 0 ? ATTRIBUTE_TYPE[type] ?? c.unsupported(`attribute type ${type}`)
    : t ? 'tensor' : g ? 'graph' : floats.length ? 'floats' : ints.length ? 'ints' : strings.length ? 'strings'
      : s !== undefined ? 'string' : i !== undefined ? 'int' : f !== undefined ? 'float' : c.fail('the attribute has no type and no value');
  switch (kind) {
    case 'float': return [name, { type: kind, value: f ?? 0 }];
    case 'int': return [name, { type: kind, value: i ?? 0 }];
    case 'string': return [name, { type: kind, value: s ?? '' }];
    case 'tensor': return [name, { type: kind, value: t ?? c.fail('a tensor attribute has no tensor') }];
    case 'graph': return [name, { type: kind, value: g ?? c.fail('a graph attribute has no graph') }];
    case 'floats': return [name, { type: kind, value: floats }];
    case 'ints': return [name, { type: kind, value: ints }];
    case 'strings': return [name, { type: kind, value: strings }];
  }
}

/** NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5, domain = 7. */
function readNode(c: Cursor, depth: number): OnnxNode {
  const node: OnnxNode = { opType: '', domain: '', name: '', inputs: [], outputs: [], attributes: {} };
  let attributes = 0;
  while (c.more()) {
    switch (c.tag()) {
      case 1: node.inputs.push(c.string()); break;
      case 2: node.outputs.push(c.string()); break;
      case 3: node.name = c.string(); break;
      case 4: node.opType = c.string(); break;
      case 5: define(c, node.attributes, ...c.message(`attribute[${attributes++}]`, () => readAttribute(c, depth)), 'attribute'); break;
      case 7: node.domain = c.string(); break;
      default: c.skip();
    }
  }
  return node;
}

/** GraphProto: node = 1, name = 2, initializer = 5, input = 11, output = 12, value_info = 13. */
function readGraph(c: Cursor, depth: number): OnnxGraph {
  if (depth > MAX_GRAPH_DEPTH) c.fail(`sub-graphs nest deeper than ${MAX_GRAPH_DEPTH}`);
  const graph: OnnxGraph = { name: '', nodes: [], initializers: [], inputs: [], outputs: [], valueInfo: [] };
  const typed = (list: 'inputs' | 'outputs', name: string) => {
    const { name: valueName, type } = c.message(`${name}[${graph[list].length}]`, () => readValueInfo(c));
    graph[list].push({ name: valueName, ...(type ?? c.unsupported(`${name.slice(0, -1)} "${shorten(valueName)}" without a type`)) });
  };
  while (c.more()) {
    switch (c.tag()) {
      case 1: graph.nodes.push(c.message(`node[${graph.nodes.length}]`, () => readNode(c, depth))); break;
      case 2: graph.name = c.string(); break;
      case 5: graph.initializers.push(c.message(`initializer[${graph.initializers.length}]`, () => readTensor(c))); break;
      case 11: typed('inputs', 'inputs'); break;
      case 12: typed('outputs', 'outputs'); break;
      case 13: {
        // value_info without a type says nothing but a name: dropped.
        const { name, type } = c.message(`value_info[${graph.valueInfo.length}]`, () => readValueInfo(c));
        if (type) graph.valueInfo.push({ name, ...type });
        break;
      }
      case 15: c.unsupported('a sparse initializer'); break;
      default: c.skip();
    }
  }
  return graph;
}

/** OperatorSetIdProto { domain = 1, version = 2 } */
function readOpset(c: Cursor): { domain: string; version: number } {
  const opset = { domain: '', version: 0 };
  while (c.more()) {
    switch (c.tag()) {
      case 1: opset.domain = c.string(); break;
      case 2: opset.version = c.int(); break;
      default: c.skip();
    }
  }
  return opset;
}

/**
 * ModelProto: ir_version = 1, producer_name = 2, producer_version = 3, graph = 7, opset_import = 8,
 * metadata_props = 14. int64 fields other than tensor elements are numbers: exact within ±2^53, and
 * INT64_MAX/MIN (Slice's "to the end") come back as ±2^63, which the writer turns into them again.
 */
export function readOnnxModel(bytes: Uint8Array, options: ReadOnnxOptions = {}): OnnxModel {
  const c = new Cursor(bytes, options.where ?? 'model.onnx', options.externalData);
  if (!LITTLE_ENDIAN) c.unsupported('reading ONNX on a big-endian machine');
  const model: Omit<OnnxModel, 'graph'> & { graph?: OnnxGraph } = { irVersion: 0, opsets: [], producerName: '', producerVersion: '', metadata: {} };
  while (c.more()) {
    switch (c.tag()) {
      case 1: model.irVersion = c.int(); break;
      case 2: model.producerName = c.string(); break;
      case 3: model.producerVersion = c.string(); break;
      case 7: model.graph = c.message('graph', () => readGraph(c, 0)); break;
      case 8: model.opsets.push(c.message(`opset_import[${model.opsets.length}]`, () => readOpset(c))); break;
      case 14: define(c, model.metadata, ...c.message('metadata_props', () => readEntry(c)), 'metadata key'); break;
      case 25: c.unsupported('a model-local function (ModelProto.functions)'); break;
      default: c.skip();
    }
  }
  if (!model.graph) c.fail('the model has no graph');
  return model as OnnxModel;
}
